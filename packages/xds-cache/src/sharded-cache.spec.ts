import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ClusterHash, TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import type { Cache, SotwRequest, SotwResponse, SubscriptionState, Watch } from "./cache.js";
import { ShardedCache, type ShardedCacheOptions } from "./sharded-cache.js";
import { Snapshot } from "./snapshot.js";
import { SnapshotCache } from "./snapshot-cache.js";

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.Endpoint;

const cluster = (name: string, seconds = 1) =>
  create(ClusterSchema, { name, connectTimeout: { seconds: BigInt(seconds) } });
const snapshotOf = (...names: string[]) =>
  Snapshot.fromResources({
    [CDS]: names.map((n) => cluster(n)),
    [EDS]: names.map((n) => create(ClusterLoadAssignmentSchema, { clusterName: n })),
  });

function newSharded(t: { after(fn: () => void): void }, options: ShardedCacheOptions = {}): ShardedCache {
  const cache = new ShardedCache(options);
  t.after(() => cache.close());
  return cache;
}

const request = (
  nodeId: string,
  typeUrl: string = CDS,
  names: readonly string[] = [],
  versionInfo = "",
): SotwRequest => ({
  typeUrl,
  node: create(NodeSchema, { id: nodeId, cluster: `cluster-of-${nodeId}` }),
  resourceNames: names,
  versionInfo,
});
const stateOf = (
  names: readonly string[] = [],
  returned: ReadonlyMap<string, string> = new Map(),
): SubscriptionState => ({
  wildcard: names.length === 0,
  subscribed: new Set(names),
  returned,
});

/** Opens a SotW watch and collects what it gets. */
function open(cache: Cache, req: SotwRequest, state = stateOf(req.resourceNames)) {
  const responses: SotwResponse[] = [];
  const watch: Watch = cache.createWatch(req, state, (response) => responses.push(response));
  return { responses, watch };
}

/** `count` node keys that together span more than one shard of `cache`. */
function keysOverShards(cache: ShardedCache, count: number): string[] {
  const keys = Array.from({ length: count }, (_, i) => `node-${i}`);
  assert.ok(new Set(keys.map((k) => cache.shardOf(k))).size > 1, "the keys span more than one shard");
  return keys;
}

describe("ShardedCache", () => {
  test("routes a node key to the same shard every time and in every instance", (t) => {
    const a = newSharded(t, { shards: 8 });
    const b = newSharded(t, { shards: 8 });
    for (let i = 0; i < 50; i++) {
      const key = `node-${i}`;
      const shard = a.shardOf(key);
      assert.ok(Number.isInteger(shard) && shard >= 0 && shard < 8);
      assert.equal(a.shardOf(key), shard);
      assert.equal(b.shardOf(key), shard);
    }
  });

  test("rejects a shard count that is not a positive integer as invalid_config", () => {
    for (const shards of [0, -1, 1.5]) {
      assert.throws(() => new ShardedCache({ shards }), { code: "invalid_config" }, `shards: ${shards}`);
    }
  });

  test("spreads node keys over several shards", (t) => {
    const cache = newSharded(t, { shards: 8 });
    const used = new Set(Array.from({ length: 100 }, (_, i) => cache.shardOf(`node-${i}`)));
    assert.ok(used.size >= 4, `100 keys used only ${used.size} of 8 shards`);
  });

  test("answers a watch with what a SnapshotCache answers", (t) => {
    const sharded = newSharded(t, { shards: 4 });
    const plain = new SnapshotCache();
    t.after(() => plain.close());
    const snapshot = snapshotOf("a", "b", "c");
    sharded.setSnapshot("n1", snapshot);
    plain.setSnapshot("n1", snapshot);
    for (const req of [request("n1"), request("n1", EDS, ["a", "c"])]) {
      const [fromSharded] = open(sharded, req).responses;
      const [fromPlain] = open(plain, req).responses;
      assert.ok(fromSharded && fromPlain);
      assert.equal(fromSharded.version, fromPlain.version);
      assert.deepEqual(fromSharded.resources, fromPlain.resources);
      assert.deepEqual(fromSharded.returned, fromPlain.returned);
    }
  });

  test("keeps a node key's open watch and snapshot together in its shard", (t) => {
    const cache = newSharded(t, { shards: 4 });
    const w = open(cache, request("n1"));
    assert.equal(cache.numWatches("n1"), 1);
    assert.equal(cache.numWatches(), 1);
    cache.setSnapshot("n1", snapshotOf("a"));
    assert.equal(w.responses.length, 1);
    assert.equal(cache.getSnapshot("n1")?.version(CDS), w.responses[0]?.version);
    assert.equal(cache.numWatches(), 0);
  });

  test("answers only the watches of the node key whose snapshot is set", (t) => {
    const cache = newSharded(t, { shards: 4 });
    const mine = open(cache, request("n1"));
    const other = open(cache, request("n2"));
    cache.setSnapshot("n1", snapshotOf("a"));
    assert.equal(mine.responses.length, 1);
    assert.equal(other.responses.length, 0);
  });

  test("keys nodes with the nodeHash it is given", (t) => {
    const cache = newSharded(t, { shards: 4, nodeHash: ClusterHash });
    const w = open(cache, request("n1"));
    cache.setSnapshot("cluster-of-n1", snapshotOf("a"));
    assert.equal(w.responses.length, 1);
  });

  test("setSnapshots answers the watches of every node key on every shard", async (t) => {
    const cache = newSharded(t, { shards: 8 });
    const keys = keysOverShards(cache, 40);
    const watches = keys.map((key) => open(cache, request(key)));
    await cache.setSnapshots(keys, snapshotOf("a"));
    assert.ok(watches.every((w) => w.responses.length === 1));
    assert.equal(cache.numWatches(), 0);
    for (const key of keys) assert.ok(cache.getSnapshot(key));
  });

  test("setSnapshots yields to the event loop between shards", async (t) => {
    const cache = newSharded(t, { shards: 8 });
    const keys = keysOverShards(cache, 40);
    const watches = keys.map((key) => open(cache, request(key)));
    const answered = () => watches.filter((w) => w.responses.length > 0).length;
    const done = cache.setSnapshots(keys, snapshotOf("a"));
    const synchronously = answered();
    assert.ok(synchronously > 0, "the first shard is answered at once");
    assert.ok(synchronously < keys.length, `all ${keys.length} were answered before the first yield`);
    await done;
    assert.equal(answered(), keys.length);
  });

  test("fetch reads the node key's shard", (t) => {
    const cache = newSharded(t, { shards: 4 });
    cache.setSnapshot("n1", snapshotOf("a", "b"));
    assert.deepEqual(
      cache
        .fetch(request("n1"))
        .resources.map((r) => r.name)
        .sort(),
      ["a", "b"],
    );
    assert.throws(() => cache.fetch(request("n2")), { code: "node_not_found" });
  });

  test("status lists node keys from every shard", (t) => {
    const cache = newSharded(t, { shards: 8 });
    const keys = keysOverShards(cache, 20);
    for (const key of keys) open(cache, request(key));
    assert.deepEqual(
      cache
        .status()
        .map((s) => s.nodeKey)
        .sort(),
      [...keys].sort(),
    );
  });

  test("leaves no watch behind once every watch is cancelled", (t) => {
    const cache = newSharded(t, { shards: 4 });
    const watches = Array.from({ length: 10 }, (_, i) => open(cache, request(`node-${i}`, EDS, ["a"])));
    assert.equal(cache.numWatches(), 10);
    for (const w of watches) w.watch.cancel();
    assert.equal(cache.numWatches(), 0);
  });
});
