import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay, defaultBackoff } from "./backoff.js";

describe("backoffDelay", () => {
  const exact = { ...defaultBackoff, jitter: 0 };

  it("starts at initialMs and grows by the multiplier", () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((n) => backoffDelay(n, exact)),
      [1000, 1600, 2560, 4096],
    );
  });

  it("never exceeds maxMs before jitter", () => {
    assert.equal(backoffDelay(50, exact), 30_000);
  });

  it("spreads each delay by at most ± jitter", () => {
    assert.equal(
      backoffDelay(0, defaultBackoff, () => 0),
      800,
    );
    assert.equal(
      backoffDelay(0, defaultBackoff, () => 0.999999),
      1200,
    );
    assert.equal(
      backoffDelay(0, defaultBackoff, () => 0.5),
      1000,
    );
  });

  it("stays within maxMs × (1 + jitter) however many attempts failed", () => {
    for (let attempt = 0; attempt < 200; attempt++) {
      assert.ok(backoffDelay(attempt, defaultBackoff) <= 36_000);
    }
  });
});
