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

describe("sharedNames of a frozen list", () => {
  it("uses the frozen list itself as the subscription's list", () => {
    const names = Object.freeze(["frozen-a", "frozen-b"]);
    const shared = sharedNames(names);
    assert.equal(shared.list, names);
    assert.equal(sharedNames(names), shared);
  });

  it("is the same subscription as an equal list that is not frozen", () => {
    const loose = sharedNames(["same-a", "same-b"]);
    assert.equal(sharedNames(Object.freeze(["same-a", "same-b"])), loose);
  });

  it("still drops duplicates from a frozen list", () => {
    assert.deepEqual(sharedNames(Object.freeze(["dup", "dup", "other"])).list, ["dup", "other"]);
  });
});
