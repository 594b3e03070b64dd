import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { covers, sameInterest, TypeSubscription, type Watcher } from "./type-subscription.js";

const watcher = (names: string[] | "*"): Watcher => ({
  handler: { onChange() {} },
  wildcard: names === "*",
  names: new Set(names === "*" ? [] : names),
  initialized: false,
});

describe("TypeSubscription", () => {
  it("asks for the union of its watchers' names", () => {
    const sub = new TypeSubscription();
    assert.equal(sub.add(watcher(["a", "b"])), true);
    assert.equal(sub.add(watcher(["b", "c"])), true);
    assert.deepEqual([...sub.interest.names].sort(), ["a", "b", "c"]);
    assert.equal(sub.interest.wildcard, false);
  });

  it("says nothing changed when a watcher adds only names already asked for", () => {
    const sub = new TypeSubscription();
    sub.add(watcher(["a", "b"]));
    assert.equal(sub.add(watcher(["a"])), false);
  });

  it("keeps a name while any watcher still names it", () => {
    const sub = new TypeSubscription();
    const one = watcher(["a"]);
    const two = watcher(["a", "b"]);
    sub.add(one);
    sub.add(two);
    assert.equal(sub.remove(one), false);
    assert.equal(sub.remove(two), true);
    assert.deepEqual([...sub.interest.names], []);
    assert.equal(sub.empty, true);
  });

  it("stays a wildcard until the last wildcard watcher leaves", () => {
    const sub = new TypeSubscription();
    const one = watcher("*");
    const two = watcher("*");
    assert.equal(sub.add(one), true);
    assert.equal(sub.add(two), false);
    assert.equal(sub.remove(one), false);
    assert.equal(sub.interest.wildcard, true);
    assert.equal(sub.remove(two), true);
    assert.equal(sub.interest.wildcard, false);
  });

  it("ignores removing a watcher twice", () => {
    const sub = new TypeSubscription();
    const one = watcher(["a"]);
    sub.add(one);
    sub.add(watcher(["a"]));
    sub.remove(one);
    assert.equal(sub.remove(one), false);
    assert.deepEqual([...sub.interest.names], ["a"]);
  });
});

describe("interests", () => {
  it("covers every name when a wildcard, else only its names", () => {
    assert.equal(covers({ wildcard: true, names: new Set() }, "x"), true);
    assert.equal(covers({ wildcard: false, names: new Set(["a"]) }, "a"), true);
    assert.equal(covers({ wildcard: false, names: new Set(["a"]) }, "b"), false);
  });

  it("are the same when they ask for the same resources", () => {
    assert.equal(
      sameInterest({ wildcard: false, names: new Set(["a", "b"]) }, { wildcard: false, names: new Set(["b", "a"]) }),
      true,
    );
    assert.equal(sameInterest({ wildcard: true, names: new Set() }, { wildcard: false, names: new Set() }), false);
    assert.equal(
      sameInterest({ wildcard: false, names: new Set(["a"]) }, { wildcard: false, names: new Set(["b"]) }),
      false,
    );
  });
});
