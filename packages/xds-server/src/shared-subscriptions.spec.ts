import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sharedNames } from "./shared-subscriptions.js";

describe("sharedNames", () => {
  it("gives every stream that asks for the same names one shared set and list", () => {
    const a = sharedNames(["x", "y"]);
    const b = sharedNames(["x", "y"].map((n) => `${n}`));
    assert.equal(a, b);
    assert.deepEqual([...a.set], ["x", "y"]);
  });

  it("keeps different subscriptions apart", () => {
    assert.notEqual(sharedNames(["x"]), sharedNames(["x", "y"]));
  });

  it("drops duplicate names from the list", () => {
    assert.deepEqual(sharedNames(["x", "x", "z"]).list, ["x", "z"]);
  });
});
