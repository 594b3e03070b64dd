import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { type Resource, TypeUrl } from "@nebucloud/xds-core";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import type { SotwRequest, SubscriptionState } from "./cache.js";
import { Snapshot } from "./snapshot.js";
import { answerSotw, immutableNameSet } from "./subscription.js";

const names = ["a", "b", "c"];
const endpoints = (version: string) =>
  Snapshot.fromResources({
    [TypeUrl.Endpoint]: names.map((n) =>
      create(ClusterLoadAssignmentSchema, { clusterName: n, endpoints: [{ locality: { zone: version } }] }),
    ),
  }).resources(TypeUrl.Endpoint);

const request = (resourceNames: string[]): SotwRequest => ({
  typeUrl: TypeUrl.Endpoint,
  node: { id: "n" } as SotwRequest["node"],
  resourceNames,
  versionInfo: "",
});

const fresh = (subscribed: ReadonlySet<string>): SubscriptionState => ({
  wildcard: false,
  subscribed,
  returned: new Map(),
});

const nameList = (resources: readonly Resource[] | undefined) => resources?.map((r) => r.name);

describe("answerSotw over an immutable snapshot", () => {
  it("gives every client that holds nothing of the set one shared list of all its resources", () => {
    const all = endpoints("v1");
    const first = answerSotw(request(names), fresh(immutableNameSet(names)), all, false);
    const second = answerSotw(request(names), fresh(new Set(names)), all, false);
    assert.deepEqual(nameList(first?.resources), names);
    assert.equal(second?.resources, first?.resources);
  });

  it("sends a client holding part of the set only what it lacks", () => {
    const all = endpoints("v1");
    const held = new Map([["a", all.get("a")?.version ?? ""]]);
    const answer = answerSotw(request(names), { ...fresh(immutableNameSet(names)), returned: held }, all, false);
    assert.deepEqual(nameList(answer?.resources), ["b", "c"]);
  });

  it("answers an immutable name set that misses a resource with the resources it names", () => {
    const all = endpoints("v1");
    const subset = immutableNameSet(["a", "b", "zz"]);
    // Asked twice: the second answer comes from what was worked out for the first.
    for (let i = 0; i < 2; i++) {
      const answer = answerSotw(request(["a", "b", "zz"]), fresh(subset), all, false);
      assert.deepEqual(nameList(answer?.resources), ["a", "b"]);
    }
  });

  it("works out coverage again for a new snapshot of the same names", () => {
    const subscribed = immutableNameSet(names);
    const before = answerSotw(request(names), fresh(subscribed), endpoints("v1"), false);
    const after = answerSotw(request(names), fresh(subscribed), endpoints("v2"), false);
    assert.notEqual(after?.version, before?.version);
    assert.deepEqual(nameList(after?.resources), names);
  });
});
