import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { versionOf } from "@nebucloud/xds-core";

const resources = [
  { name: "a", version: "1111" },
  { name: "b", version: "2222" },
  { name: "c", version: "3333" },
];

describe("versionOf", () => {
  it("is 16 hex digits", () => {
    assert.match(versionOf(resources), /^[0-9a-f]{16}$/);
  });

  it("is the same for the same resources given in a different order", () => {
    assert.equal(versionOf(resources), versionOf([...resources].reverse()));
  });

  it("is the same for the same resources given by any iterable", () => {
    assert.equal(versionOf(resources), versionOf(new Map(resources.map((r) => [r.name, r])).values()));
  });

  it("changes when the version of any one resource changes", () => {
    const before = versionOf(resources);
    for (let i = 0; i < resources.length; i++) {
      const changed = resources.map((r, j) => (j === i ? { ...r, version: "ffff" } : r));
      assert.notEqual(versionOf(changed), before, `changing ${resources[i]?.name} kept the version`);
    }
  });

  it("changes when a resource is added", () => {
    assert.notEqual(versionOf([...resources, { name: "d", version: "4444" }]), versionOf(resources));
  });

  it("changes when a resource is removed", () => {
    assert.notEqual(versionOf(resources.slice(1)), versionOf(resources));
  });

  it("changes when a resource is renamed", () => {
    const renamed = resources.map((r) => (r.name === "a" ? { ...r, name: "z" } : r));
    assert.notEqual(versionOf(renamed), versionOf(resources));
  });

  it("does not confuse a name and version split at a different place", () => {
    assert.notEqual(versionOf([{ name: "ab", version: "c" }]), versionOf([{ name: "a", version: "bc" }]));
  });

  it("gives the empty set a fixed version", () => {
    assert.equal(versionOf([]), versionOf([]));
    assert.match(versionOf([]), /^[0-9a-f]{16}$/);
  });
});
