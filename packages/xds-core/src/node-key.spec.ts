import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ClusterHash, IdHash, nodeHash } from "@nebucloud/xds-core";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";

const node = create(NodeSchema, { id: "sidecar~10.0.0.1~pod-a", cluster: "checkout", locality: { zone: "z1" } });

describe("IdHash", () => {
  it("keys a node by its id", () => {
    assert.equal(IdHash.key(node), "sidecar~10.0.0.1~pod-a");
  });

  it("keys a missing node by the empty string", () => {
    assert.equal(IdHash.key(undefined), "");
  });

  it("gives nodes of the same id but different clusters the same key", () => {
    assert.equal(IdHash.key(node), IdHash.key(create(NodeSchema, { id: node.id, cluster: "other" })));
  });
});

describe("ClusterHash", () => {
  it("keys a node by its cluster", () => {
    assert.equal(ClusterHash.key(node), "checkout");
  });

  it("keys a missing node by the empty string", () => {
    assert.equal(ClusterHash.key(undefined), "");
  });

  it("gives different nodes of the same cluster the same key", () => {
    assert.equal(ClusterHash.key(node), ClusterHash.key(create(NodeSchema, { id: "other", cluster: "checkout" })));
  });
});

describe("nodeHash", () => {
  it("keys a node by the function it is given", () => {
    const byZone = nodeHash((n) => n?.locality?.zone ?? "none");
    assert.equal(byZone.key(node), "z1");
  });

  it("passes a missing node to the function as undefined", () => {
    const seen: unknown[] = [];
    nodeHash((n) => {
      seen.push(n);
      return "";
    }).key(undefined);
    assert.deepEqual(seen, [undefined]);
  });
});
