import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl, XdsError } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { StatusSchema } from "@nebucloud/xds-proto/google/rpc/status_pb";
import { DeltaStream } from "./delta-stream.js";

const node = create(NodeSchema, { id: "node-1" });
const cluster = (name: string, timeoutSeconds = 1) =>
  create(ClusterSchema, { name, connectTimeout: { seconds: BigInt(timeoutSeconds) } });
const snapshot = (clusters: Record<string, number>) =>
  Snapshot.fromResources({ [TypeUrl.Cluster]: Object.entries(clusters).map(([n, t]) => cluster(n, t)) });
const request = (init: Partial<DeltaDiscoveryRequest>) => create(DeltaDiscoveryRequestSchema, init as never);
const tick = () => new Promise((resolve) => setImmediate(resolve));

function harness() {
  const cache = new SnapshotCache();
  const sent: DeltaDiscoveryResponse[] = [];
  const nacks: string[] = [];
  const stream: DeltaStream = new DeltaStream({
    cache,
    onPending: () =>
      queueMicrotask(() => {
        for (let r = stream.takeNext(); r; r = stream.takeNext()) sent.push(r);
      }),
    hooks: { onNack: (_t, _n, message) => nacks.push(message) },
  });
  return { cache, sent, nacks, stream };
}

const names = (r: DeltaDiscoveryResponse | undefined) => (r?.resources ?? []).map((x) => x.name).sort();

describe("a delta stream", () => {
  it("treats a first CDS request that names nothing as a legacy wildcard", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot({ a: 1, b: 1 }));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster }));
    await tick();
    assert.deepEqual(names(sent[0]), ["a", "b"]);
  });

  it("sends only the subscribed names", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot({ a: 1, b: 1 }));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["b"] }));
    await tick();
    assert.deepEqual(names(sent[0]), ["b"]);
  });

  it("does not resend what initial_resource_versions says the client holds", async () => {
    const { cache, sent, stream } = harness();
    const snap = snapshot({ a: 1, b: 1 });
    cache.setSnapshot("node-1", snap);
    const versionOfA = snap.resources(TypeUrl.Cluster).get("a")?.version ?? "";
    stream.handle(
      request({
        node,
        typeUrl: TypeUrl.Cluster,
        resourceNamesSubscribe: ["*"],
        initialResourceVersions: { a: versionOfA },
      }),
    );
    await tick();
    assert.deepEqual(names(sent[0]), ["b"]);
  });

  it("removes a name the client holds that no longer exists, with removed_resources", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot({ a: 1, b: 1 }));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["*"] }));
    await tick();
    cache.setSnapshot("node-1", snapshot({ a: 1 }));
    await tick();
    assert.deepEqual(sent[1]?.removedResources, ["b"]);
    assert.equal(sent[1]?.resources.length, 0);
  });

  it("sends only what changed after the first response", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot({ a: 1, b: 1 }));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["*"] }));
    await tick();
    cache.setSnapshot("node-1", snapshot({ a: 1, b: 2 }));
    await tick();
    assert.deepEqual(names(sent[1]), ["b"]);
  });

  it("resends a resource when the client subscribes again after unsubscribing", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot({ a: 1 }));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["a"] }));
    await tick();
    stream.handle(
      request({ typeUrl: TypeUrl.Cluster, responseNonce: sent[0]?.nonce ?? "", resourceNamesUnsubscribe: ["a"] }),
    );
    await tick();
    stream.handle(request({ typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["a"] }));
    await tick();
    assert.deepEqual(names(sent.at(-1)), ["a"]);
    assert.equal(sent.length, 2);
  });

  it("records a NACK with the client's error text", async () => {
    const { cache, sent, nacks, stream } = harness();
    cache.setSnapshot("node-1", snapshot({ a: 1 }));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["*"] }));
    await tick();
    stream.handle(
      request({
        typeUrl: TypeUrl.Cluster,
        responseNonce: sent[0]?.nonce ?? "",
        errorDetail: create(StatusSchema, { code: 3, message: "bad cluster a" }),
      }),
    );
    assert.deepEqual(nacks, ["bad cluster a"]);
    assert.equal(stream.status()[0]?.nack?.message, "bad cluster a");
  });

  it("gives every response a fresh nonce", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot({ a: 1 }));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["*"] }));
    await tick();
    cache.setSnapshot("node-1", snapshot({ a: 2 }));
    await tick();
    assert.equal(sent.length, 2);
    assert.notEqual(sent[0]?.nonce, sent[1]?.nonce);
  });

  it("delivers both of two changes made before the client read the first", async () => {
    const { cache, sent: taken, stream } = harness();
    cache.setSnapshot("node-1", snapshot({ a: 1 }));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["*"] }));
    cache.setSnapshot("node-1", snapshot({ b: 1 }));
    cache.setSnapshot("node-1", snapshot({ b: 1, c: 1 }));
    await tick();
    // The last change alone carries only c: b must survive from the unsent one.
    const held = new Set<string>();
    for (const r of taken) {
      for (const n of r.removedResources) held.delete(n);
      for (const x of r.resources) held.add(x.name);
    }
    assert.deepEqual([...held].sort(), ["b", "c"]);
  });

  it("rejects a first request without node.id", () => {
    const { stream } = harness();
    assert.throws(
      () => stream.handle(request({ typeUrl: TypeUrl.Cluster })),
      (e: unknown) => e instanceof XdsError && e.code === "invalid_request",
    );
  });

  it("leaves no cache watch behind after close", async () => {
    const { cache, stream } = harness();
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["*"] }));
    assert.equal(cache.numWatches(), 1);
    stream.close();
    assert.equal(cache.numWatches(), 0);
  });

  it("leaves no cache watch behind after close when its first request was answered at once", async () => {
    const { cache, stream } = harness();
    cache.setSnapshot("node-1", snapshot({ a: 1 }));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["*"] }));
    // The answer re-armed one watch for the next change; close must cancel that one.
    assert.equal(cache.numWatches(), 1);
    stream.close();
    assert.equal(cache.numWatches(), 0);
  });

  it("keeps its open watch on an ACK that changes no subscription, and still sends the next change", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot({ a: 1, b: 1 }));
    let created = 0;
    const createDeltaWatch = cache.createDeltaWatch.bind(cache);
    cache.createDeltaWatch = (...args) => {
      created++;
      return createDeltaWatch(...args);
    };
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["*"] }));
    await tick();
    const afterFirst = created;
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster, responseNonce: sent[0]?.nonce ?? "" }));
    assert.equal(created, afterFirst);
    assert.equal(cache.numWatches(), 1);
    cache.setSnapshot("node-1", snapshot({ a: 2, b: 1 }));
    await tick();
    assert.deepEqual(names(sent[1]), ["a"]);
  });
});
