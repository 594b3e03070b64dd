import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { nodeHash, Resource, TypeUrl, XdsError } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import type {
  DeltaResponse,
  DeltaSubscriptionState,
  SotwRequest,
  SotwResponse,
  SubscriptionState,
  Watch,
} from "./cache.js";
import { Snapshot } from "./snapshot.js";
import { SnapshotCache, type SnapshotCacheOptions } from "./snapshot-cache.js";

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.Endpoint;

const cluster = (name: string, seconds = 1) =>
  create(ClusterSchema, { name, connectTimeout: { seconds: BigInt(seconds) } });
/** Endpoints whose content varies with `zone`. */
const cla = (name: string, zone = "z0") =>
  create(ClusterLoadAssignmentSchema, { clusterName: name, endpoints: [{ locality: { zone } }] });

const clusters = (...names: string[]) => Snapshot.fromResources({ [CDS]: names.map((n) => cluster(n)) });
/** An EDS snapshot from `name=zone` pairs (zone "z0" when omitted). */
const eds = (...specs: string[]) =>
  Snapshot.fromResources({
    [EDS]: specs.map((spec) => {
      const [name = "", zone = "z0"] = spec.split("=");
      return cla(name, zone);
    }),
  });

/** A cache whose timers are stopped once the test ends. */
function newCache(t: { after(fn: () => void): void }, options: SnapshotCacheOptions = {}): SnapshotCache {
  const cache = new SnapshotCache(options);
  t.after(() => cache.close());
  return cache;
}

const nodeOf = (id: string) => create(NodeSchema, { id });

interface Opened<R> {
  readonly responses: R[];
  readonly watch: Watch;
}

/** Opens a SotW watch for node `nodeId`; `names` empty means wildcard. */
function sotw(
  cache: SnapshotCache,
  typeUrl: string,
  nodeId: string,
  names: readonly string[] = [],
  previous?: SotwResponse,
  extra: Partial<SubscriptionState> = {},
): Opened<SotwResponse> {
  const responses: SotwResponse[] = [];
  const request: SotwRequest = {
    typeUrl,
    node: nodeOf(nodeId),
    resourceNames: names,
    versionInfo: previous?.version ?? "",
  };
  const state: SubscriptionState = {
    wildcard: names.length === 0,
    subscribed: new Set(names),
    returned: previous?.returned ?? new Map(),
    ...extra,
  };
  const watch = cache.createWatch(request, state, (response) => responses.push(response));
  return { responses, watch };
}

/** Opens a delta watch for node `nodeId`; `names` empty means wildcard. */
function delta(
  cache: SnapshotCache,
  typeUrl: string,
  nodeId: string,
  names: readonly string[] = [],
  versions: ReadonlyMap<string, string> = new Map(),
): Opened<DeltaResponse> {
  const responses: DeltaResponse[] = [];
  const state: DeltaSubscriptionState = { wildcard: names.length === 0, subscribed: new Set(names), versions };
  const watch = cache.createDeltaWatch({ typeUrl, node: nodeOf(nodeId) }, state, (response) =>
    responses.push(response),
  );
  return { responses, watch };
}

const namesOf = (response: { readonly resources: readonly Resource[] } | undefined) =>
  (response?.resources ?? []).map((r) => r.name).sort();

/** The single response a watch got; fails when it got none or more. */
function only<R>(opened: Opened<R>): R {
  assert.equal(opened.responses.length, 1, `expected one response, got ${opened.responses.length}`);
  return opened.responses[0] as R;
}

function thrown(fn: () => unknown): XdsError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof XdsError, `expected an XdsError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected an XdsError, nothing was thrown");
}

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe("SnapshotCache: state of the world", () => {
  test("answers a wildcard CDS watch at once when the node has a snapshot", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a", "b"));
    const w = sotw(cache, CDS, "n1");
    assert.deepEqual(namesOf(only(w)), ["a", "b"]);
    assert.equal(only(w).version, cache.getSnapshot("n1")?.version(CDS));
    assert.equal(cache.numWatches(), 0);
  });

  test("keeps a watch open while the node has no snapshot", (t) => {
    const cache = newCache(t);
    const w = sotw(cache, CDS, "n1");
    assert.equal(w.responses.length, 0);
    assert.equal(cache.numWatches("n1"), 1);
  });

  test("answers an open watch when the node's snapshot is set", (t) => {
    const cache = newCache(t);
    const w = sotw(cache, CDS, "n1");
    cache.setSnapshot("n1", clusters("a"));
    assert.deepEqual(namesOf(only(w)), ["a"]);
    assert.equal(cache.numWatches("n1"), 0);
  });

  test("answers a named request with only the named resources that exist", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b", "c"));
    const response = only(sotw(cache, EDS, "n1", ["a", "c", "missing"]));
    assert.deepEqual(namesOf(response), ["a", "c"]);
    assert.deepEqual([...response.returned.keys()].sort(), ["a", "c"]);
  });

  test("does not answer a client whose version is current", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a", "b"));
    const first = only(sotw(cache, CDS, "n1"));
    const next = sotw(cache, CDS, "n1", [], first);
    assert.equal(next.responses.length, 0);
    assert.equal(cache.numWatches("n1"), 1);
  });

  test("keeps one snapshot for node keys given equal snapshots built from separate messages", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a", "b"));
    cache.setSnapshot("n2", clusters("b", "a"));
    assert.equal(cache.getSnapshot("n2"), cache.getSnapshot("n1"));
    cache.setSnapshot("n3", clusters("a", "c"));
    assert.notEqual(cache.getSnapshot("n3"), cache.getSnapshot("n1"));
  });

  test("keeps snapshots apart that differ only in a resource's TTL", (t) => {
    const cache = newCache(t);
    const withTtl = (ttlMs: number) => Snapshot.fromResources({ [CDS]: [Resource.from(CDS, cluster("a"), { ttlMs })] });
    cache.setSnapshot("n1", withTtl(1000));
    cache.setSnapshot("n2", withTtl(2000));
    assert.equal(cache.getSnapshot("n2")?.resources(CDS).get("a")?.ttlMs, 2000);
  });

  test("does not push to a resumed client (a new stream) whose version is current", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    const earlier = only(sotw(cache, EDS, "n1", ["a"]));
    const resumed = sotw(cache, EDS, "n1", ["a"], { ...earlier, returned: new Map() }, { resumed: true });
    assert.equal(resumed.responses.length, 0);
  });

  test("re-sends a resource the client dropped and named again, though the version is unchanged", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    const earlier = only(sotw(cache, EDS, "n1", ["a"]));
    // It unsubscribed from `a` (the stream forgot sending it), then named it again at the old version.
    const again = sotw(cache, EDS, "n1", ["a"], { ...earlier, returned: new Map() });
    assert.deepEqual(namesOf(only(again)), ["a"]);
  });

  test("does not answer a current client when an equal snapshot is set again", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a", "b"));
    const next = sotw(cache, CDS, "n1", [], only(sotw(cache, CDS, "n1")));
    cache.setSnapshot("n1", clusters("b", "a"));
    assert.equal(next.responses.length, 0);
  });

  test("answers a current client once the snapshot changes", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a"));
    const next = sotw(cache, CDS, "n1", [], only(sotw(cache, CDS, "n1")));
    cache.setSnapshot("n1", clusters("a", "b"));
    assert.deepEqual(namesOf(only(next)), ["a", "b"]);
  });

  test("does not push when only an unsubscribed resource of a non-full-state type changes", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    const next = sotw(cache, EDS, "n1", ["a"], only(sotw(cache, EDS, "n1", ["a"])));
    cache.setSnapshot("n1", eds("a", "b=z1"));
    assert.equal(next.responses.length, 0);
    assert.equal(cache.numWatches("n1"), 1);
  });

  test("sends every subscribed resource of a full-state type (CDS) when one changes", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a", "b"));
    const next = sotw(cache, CDS, "n1", [], only(sotw(cache, CDS, "n1")));
    cache.setSnapshot("n1", Snapshot.fromResources({ [CDS]: [cluster("a"), cluster("b", 2)] }));
    assert.deepEqual(namesOf(only(next)), ["a", "b"]);
  });

  test("sends only the changed resources of a non-full-state type (EDS)", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    const next = sotw(cache, EDS, "n1", [], only(sotw(cache, EDS, "n1")));
    cache.setSnapshot("n1", eds("a", "b=z1"));
    const response = only(next);
    assert.deepEqual(namesOf(response), ["b"]);
    assert.deepEqual([...response.returned.keys()].sort(), ["a", "b"]);
  });

  test("moves a non-full-state client on when a subscribed resource it holds is removed", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    const next = sotw(cache, EDS, "n1", ["a", "b"], only(sotw(cache, EDS, "n1", ["a", "b"])));
    cache.setSnapshot("n1", eds("a"));
    const response = only(next);
    assert.deepEqual(namesOf(response), []);
    assert.deepEqual([...response.returned.keys()], ["a"]);
    assert.equal(response.version, only(sotw(cache, EDS, "n1", ["a", "b"])).version);
  });

  test("does not answer again with a version the client NACKed (go-control-plane #962)", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a"));
    const rejected = only(sotw(cache, CDS, "n1"));
    // The client keeps its previous version ("") and reports the rejected one.
    const retry = sotw(cache, CDS, "n1", [], undefined, { nackedVersion: rejected.version });
    assert.equal(retry.responses.length, 0);
    assert.equal(cache.numWatches("n1"), 1);
  });

  test("answers the next snapshot after a NACK", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a"));
    const rejected = only(sotw(cache, CDS, "n1"));
    const retry = sotw(cache, CDS, "n1", [], undefined, { nackedVersion: rejected.version });
    cache.setSnapshot("n1", clusters("a", "b"));
    const response = only(retry);
    assert.notEqual(response.version, rejected.version);
    assert.deepEqual(namesOf(response), ["a", "b"]);
  });

  test("answers only the watches of the node key whose snapshot is set", (t) => {
    const cache = newCache(t);
    const mine = sotw(cache, CDS, "n1");
    const other = sotw(cache, CDS, "n2");
    cache.setSnapshot("n1", clusters("a"));
    assert.equal(mine.responses.length, 1);
    assert.equal(other.responses.length, 0);
    assert.equal(cache.numWatches("n2"), 1);
  });

  test("answers a prefix glob with every resource under the prefix", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("svc/a", "svc/b", "svcx", "other/a"));
    assert.deepEqual(namesOf(only(sotw(cache, EDS, "n1", ["svc/*"]))), ["svc/a", "svc/b"]);
  });

  test("answers a prefix glob when a new resource under the prefix appears", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("svc/a"));
    const next = sotw(cache, EDS, "n1", ["svc/*"], only(sotw(cache, EDS, "n1", ["svc/*"])));
    cache.setSnapshot("n1", eds("svc/a", "other/a"));
    assert.equal(next.responses.length, 0);
    cache.setSnapshot("n1", eds("svc/a", "svc/b"));
    assert.deepEqual(namesOf(only(next)), ["svc/b"]);
  });

  test("does not call a cancelled watch", (t) => {
    const cache = newCache(t);
    const w = sotw(cache, CDS, "n1");
    w.watch.cancel();
    cache.setSnapshot("n1", clusters("a"));
    assert.equal(w.responses.length, 0);
  });

  test("leaves no watch behind once SotW watches are cancelled (go-control-plane #570)", (t) => {
    const cache = newCache(t);
    const watches = [sotw(cache, CDS, "n1"), sotw(cache, EDS, "n1", ["a"]), sotw(cache, CDS, "n2")];
    assert.equal(cache.numWatches(), 3);
    for (const w of watches) w.watch.cancel();
    watches[0]?.watch.cancel(); // idempotent
    assert.equal(cache.numWatches(), 0);
    assert.equal(cache.numWatches("n1"), 0);
  });

  test("throws watch_limit_exceeded past the node's watch limit", (t) => {
    const cache = newCache(t, { maxWatchesPerNode: 2 });
    sotw(cache, CDS, "n1");
    sotw(cache, EDS, "n1", ["a"]);
    const error = thrown(() => sotw(cache, EDS, "n1", ["b"]));
    assert.equal(error.code, "watch_limit_exceeded");
    assert.equal(error.details.limit, 2);
    assert.equal(error.details.nodeKey, "n1");
    assert.equal(cache.numWatches("n1"), 2);
  });

  test("counts the watch limit per node key", (t) => {
    const cache = newCache(t, { maxWatchesPerNode: 1 });
    sotw(cache, CDS, "n1");
    assert.doesNotThrow(() => sotw(cache, CDS, "n2"));
  });

  test("counts the watch limit per node, not per shared node key, so one node cannot lock out its group (issue 15)", (t) => {
    const cache = newCache(t, { maxWatchesPerNode: 2, nodeHash: nodeHash(() => "group") });
    sotw(cache, CDS, "greedy");
    sotw(cache, EDS, "greedy", ["a"]);
    assert.equal(thrown(() => sotw(cache, EDS, "greedy", ["b"])).code, "watch_limit_exceeded");
    for (let i = 0; i < 50; i++) assert.doesNotThrow(() => sotw(cache, CDS, `n${i}`));
    assert.equal(cache.numWatches("group"), 52);
  });

  test("answers the other watches when a respond callback throws, and reports the error", (t) => {
    const errors: unknown[] = [];
    const cache = newCache(t, { onError: (error) => errors.push(error) });
    const boom = new Error("boom");
    const answered: string[] = [];
    cache.createWatch(
      { typeUrl: CDS, node: nodeOf("n1"), resourceNames: [], versionInfo: "" },
      { wildcard: true, subscribed: new Set(), returned: new Map() },
      () => {
        answered.push("thrower");
        throw boom;
      },
    );
    const after = sotw(cache, EDS, "n1", ["a"]);
    cache.setSnapshot("n1", Snapshot.fromResources({ [CDS]: [cluster("a")], [EDS]: [cla("a")] }));
    assert.deepEqual(answered, ["thrower"]);
    assert.equal(after.responses.length, 1);
    assert.deepEqual(errors, [boom]);
    assert.equal(cache.numWatches(), 0);
  });

  test("answers the other watches when onError itself throws", (t) => {
    const cache = newCache(t, {
      onError: () => {
        throw new Error("handler");
      },
    });
    cache.createWatch(
      { typeUrl: CDS, node: nodeOf("n1"), resourceNames: [], versionInfo: "" },
      { wildcard: true, subscribed: new Set(), returned: new Map() },
      () => {
        throw new Error("boom");
      },
    );
    const after = sotw(cache, CDS, "n1");
    assert.doesNotThrow(() => cache.setSnapshot("n1", clusters("a")));
    assert.equal(after.responses.length, 1);
  });

  test("answers many watches of one node key over several event-loop turns", async (t) => {
    const cache = newCache(t, { fanOutBatch: 10 });
    let answered = 0;
    for (let i = 0; i < 100; i++) {
      cache.createWatch(
        { typeUrl: CDS, node: nodeOf("n1"), resourceNames: [], versionInfo: "" },
        { wildcard: true, subscribed: new Set(), returned: new Map() },
        () => answered++,
      );
    }
    cache.setSnapshot("n1", clusters("a"));
    assert.equal(answered, 10);
    await turns(12);
    assert.equal(answered, 100);
    assert.equal(cache.numWatches(), 0);
  });

  test("heartbeats an open watch on a resource with a TTL", async (t) => {
    const cache = newCache(t, { heartbeatIntervalMs: 50 });
    const withTtl = Resource.from(CDS, cluster("a"), { ttlMs: 1000 });
    cache.setSnapshot("n1", Snapshot.fromResources({ [CDS]: [withTtl, cluster("b")] }));
    const first = only(sotw(cache, CDS, "n1"));
    assert.equal(first.heartbeat, false);
    const current = sotw(cache, CDS, "n1", [], first);
    assert.equal(current.responses.length, 0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const beat = only(current);
    assert.equal(beat.heartbeat, true);
    assert.deepEqual(namesOf(beat), ["a"]);
    assert.equal(beat.version, first.version);
    assert.equal(cache.numWatches(), 0);
  });

  test("sends a delta client that named every resource only what changed, and the same response to all such clients", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b", "c"));
    const clients = [0, 1].map(() => only(delta(cache, EDS, "n1", ["a", "b", "c"])));
    const next = clients.map((held) => delta(cache, EDS, "n1", ["a", "b", "c"], held.nextVersions));
    cache.setSnapshot("n1", eds("a", "b=z1"));
    const [first, second] = next.map(only);
    assert.deepEqual(namesOf(first), ["b"]);
    assert.deepEqual(first?.removed, ["c"]);
    assert.equal(first?.shareKey, second?.shareKey, "one encoding for both");
    assert.ok(first?.shareKey);
  });

  test("sends a delta client that named only some resources what changed among them", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    const held = only(delta(cache, EDS, "n1", ["a"]));
    const next = delta(cache, EDS, "n1", ["a"], held.nextVersions);
    cache.setSnapshot("n1", eds("a=z1", "b=z1"));
    const response = only(next);
    assert.deepEqual(namesOf(response), ["a"]);
    assert.deepEqual([...response.nextVersions.keys()], ["a"]);
  });

  test("heartbeats an open delta watch on the TTL resources the client holds at their current version", (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    const cache = newCache(t, { heartbeatIntervalMs: 50 });
    const withTtl = Resource.from(CDS, cluster("a"), { ttlMs: 1000 });
    const stale = Resource.from(CDS, cluster("c", 2), { ttlMs: 1000 });
    cache.setSnapshot("n1", Snapshot.fromResources({ [CDS]: [withTtl, cluster("b"), stale] }));
    const first = only(delta(cache, CDS, "n1"));
    // It holds `a` and `b` at their versions, and an older `c` (the change is on its way, not a heartbeat).
    const held = new Map(first.nextVersions).set("c", "older");
    const current = delta(cache, CDS, "n1", [], held);
    assert.deepEqual(namesOf(only(current)), ["c"], "the change goes out whole");
    const next = delta(cache, CDS, "n1", [], first.nextVersions);
    assert.equal(next.responses.length, 0);
    t.mock.timers.tick(50);
    const beat = only(next);
    assert.equal(beat.heartbeat, true);
    assert.deepEqual(namesOf(beat), ["a", "c"]);
    assert.deepEqual(beat.removed, []);
    assert.deepEqual([...beat.nextVersions], [...first.nextVersions]);
  });

  test("heartbeats a watch reopened inside its heartbeat callback once per interval, not again at once", (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    const cache = newCache(t, { heartbeatIntervalMs: 50 });
    cache.setSnapshot("n1", Snapshot.fromResources({ [CDS]: [Resource.from(CDS, cluster("a"), { ttlMs: 1000 })] }));
    const first = only(sotw(cache, CDS, "n1"));
    let beats = 0;
    const reopen = () => {
      cache.createWatch(
        { typeUrl: CDS, node: nodeOf("n1"), resourceNames: [], versionInfo: first.version },
        { wildcard: true, subscribed: new Set(), returned: first.returned },
        () => {
          beats++;
          if (beats < 5) reopen(); // bounded, so that a cache that loops still ends
        },
      );
    };
    reopen();
    t.mock.timers.tick(50);
    assert.equal(beats, 1);
    t.mock.timers.tick(50);
    assert.equal(beats, 2);
  });

  test("does not heartbeat a watch when no resource has a TTL", async (t) => {
    const cache = newCache(t, { heartbeatIntervalMs: 20 });
    cache.setSnapshot("n1", clusters("a"));
    const current = sotw(cache, CDS, "n1", [], only(sotw(cache, CDS, "n1")));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(current.responses.length, 0);
  });

  test("clears the snapshot of a node key that has had no watch for snapshotTtlMs", (t) => {
    t.mock.timers.enable({ apis: ["setInterval", "Date"], now: 1_000_000 });
    const cache = newCache(t, { snapshotTtlMs: 2000 });
    cache.setSnapshot("idle", clusters("a"));
    cache.setSnapshot("busy", clusters("a"));
    sotw(cache, CDS, "busy", [], only(sotw(cache, CDS, "busy")));
    t.mock.timers.tick(1000);
    assert.deepEqual(cache.nodeKeys().sort(), ["busy", "idle"]);
    t.mock.timers.tick(2000);
    assert.deepEqual(cache.nodeKeys(), ["busy"]);
    assert.equal(cache.getSnapshot("idle"), undefined);
  });
});

describe("SnapshotCache: ADS mode", () => {
  test("holds a named EDS request that does not name every resource", (t) => {
    const cache = newCache(t, { ads: true });
    cache.setSnapshot("n1", eds("a", "b"));
    const w = sotw(cache, EDS, "n1", ["a"]);
    assert.equal(w.responses.length, 0);
    assert.equal(cache.numWatches("n1"), 1);
  });

  test("keeps a held watch open across a snapshot that still leaves it incomplete (go-control-plane #1356)", (t) => {
    const cache = newCache(t, { ads: true });
    cache.setSnapshot("n1", eds("a", "b"));
    const w = sotw(cache, EDS, "n1", ["a"]);
    cache.setSnapshot("n1", eds("a=z1", "b"));
    assert.equal(w.responses.length, 0);
    assert.equal(cache.numWatches("n1"), 1);
  });

  test("answers a held watch when a snapshot leaves only the names it requested", (t) => {
    const cache = newCache(t, { ads: true });
    cache.setSnapshot("n1", eds("a", "b"));
    const w = sotw(cache, EDS, "n1", ["a"]);
    cache.setSnapshot("n1", eds("a"));
    assert.deepEqual(namesOf(only(w)), ["a"]);
    assert.equal(cache.numWatches("n1"), 0);
  });

  test("answers at once the request that names every resource", (t) => {
    const cache = newCache(t, { ads: true });
    cache.setSnapshot("n1", eds("a", "b"));
    const held = sotw(cache, EDS, "n1", ["a"]);
    held.watch.cancel(); // the server replaces the watch when the client's names change
    const complete = sotw(cache, EDS, "n1", ["a", "b"]);
    assert.deepEqual(namesOf(only(complete)), ["a", "b"]);
    assert.equal(held.responses.length, 0);
    assert.equal(cache.numWatches("n1"), 0);
  });

  test("answers a prefix glob that covers every resource", (t) => {
    const cache = newCache(t, { ads: true });
    cache.setSnapshot("n1", eds("svc/a", "svc/b", "svc/c"));
    assert.deepEqual(namesOf(only(sotw(cache, EDS, "n1", ["svc/*"]))), ["svc/a", "svc/b", "svc/c"]);
  });

  test("answers a wildcard request without holding it", (t) => {
    const cache = newCache(t, { ads: true });
    cache.setSnapshot("n1", eds("a", "b"));
    assert.deepEqual(namesOf(only(sotw(cache, EDS, "n1"))), ["a", "b"]);
  });

  test("with ADS off answers a named subset at once (proxyless gRPC)", (t) => {
    const cache = newCache(t, { ads: false });
    cache.setSnapshot("n1", eds("a", "b"));
    assert.deepEqual(namesOf(only(sotw(cache, EDS, "n1", ["a"]))), ["a"]);
  });
});

describe("SnapshotCache: delta", () => {
  test("sends everything subscribed to a first wildcard watch", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    const response = only(delta(cache, EDS, "n1"));
    assert.deepEqual(namesOf(response), ["a", "b"]);
    assert.deepEqual(response.removed, []);
    assert.deepEqual([...response.nextVersions.keys()].sort(), ["a", "b"]);
    assert.equal(response.systemVersion, cache.getSnapshot("n1")?.version(EDS));
  });

  test("sends only the subscribed names, not the others", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b", "c"));
    assert.deepEqual(namesOf(only(delta(cache, EDS, "n1", ["a", "c"]))), ["a", "c"]);
  });

  test("does not answer when only an unsubscribed resource changes", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    const first = only(delta(cache, EDS, "n1", ["a"]));
    const next = delta(cache, EDS, "n1", ["a"], first.nextVersions);
    cache.setSnapshot("n1", eds("a", "b=z1"));
    assert.equal(next.responses.length, 0);
    assert.equal(cache.numWatches("n1"), 1);
  });

  test("does not resend resources whose initial_resource_versions match", (t) => {
    const cache = newCache(t);
    const snapshot = eds("a", "b");
    cache.setSnapshot("n1", snapshot);
    const held = new Map([["a", snapshot.resources(EDS).get("a")?.version ?? ""]]);
    assert.deepEqual(namesOf(only(delta(cache, EDS, "n1", [], held))), ["b"]);
  });

  test("keeps the watch open when the client holds every resource at its version", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a"));
    const first = only(delta(cache, EDS, "n1"));
    const next = delta(cache, EDS, "n1", [], first.nextVersions);
    assert.equal(next.responses.length, 0);
    assert.equal(cache.numWatches("n1"), 1);
  });

  test("sends a removed resource's name in removed", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    const next = delta(cache, EDS, "n1", [], only(delta(cache, EDS, "n1")).nextVersions);
    cache.setSnapshot("n1", eds("a"));
    const response = only(next);
    assert.deepEqual(response.removed, ["b"]);
    assert.deepEqual(namesOf(response), []);
    assert.deepEqual([...response.nextVersions.keys()], ["a"]);
  });

  test("sends a removed resource again when it comes back", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    const first = only(delta(cache, EDS, "n1", ["b"]));
    const afterAdd = delta(cache, EDS, "n1", ["b"], first.nextVersions);
    cache.setSnapshot("n1", eds("a"));
    const afterRemove = delta(cache, EDS, "n1", ["b"], only(afterAdd).nextVersions);
    cache.setSnapshot("n1", eds("a", "b"));
    assert.deepEqual(namesOf(only(afterRemove)), ["b"]);
  });

  test("sends a resource again to a client that unsubscribed and subscribes again", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", eds("a", "b"));
    only(delta(cache, EDS, "n1", ["a", "b"]));
    // Unsubscribing from b: the server forgets that the client holds it.
    const snapshot = cache.getSnapshot("n1");
    const holdsA = new Map([["a", snapshot?.resources(EDS).get("a")?.version ?? ""]]);
    assert.equal(delta(cache, EDS, "n1", ["a"], holdsA).responses.length, 0);
    assert.deepEqual(namesOf(only(delta(cache, EDS, "n1", ["a", "b"], holdsA))), ["b"]);
  });

  test("leaves no watch behind once delta watches are cancelled (go-control-plane #570)", (t) => {
    const cache = newCache(t);
    const a = delta(cache, EDS, "n1");
    const b = delta(cache, CDS, "n1", ["x"]);
    assert.equal(cache.numWatches(), 2);
    a.watch.cancel();
    b.watch.cancel();
    assert.equal(cache.numWatches(), 0);
    cache.setSnapshot("n1", eds("a"));
    assert.equal(a.responses.length, 0);
  });
});

describe("SnapshotCache: fetch and status", () => {
  const fetchRequest = (nodeId: string, names: string[] = [], versionInfo = ""): SotwRequest => ({
    typeUrl: CDS,
    node: nodeOf(nodeId),
    resourceNames: names,
    versionInfo,
  });

  test("forgets a node key that has neither a snapshot nor an open watch", (t) => {
    const cache = newCache(t);
    for (let i = 0; i < 50; i++) sotw(cache, CDS, `invented-${i}`).watch.cancel();
    cache.setSnapshot("kept", clusters("a"));
    assert.deepEqual(
      cache.status().map((s) => s.nodeKey),
      ["kept"],
    );
  });

  test("fetch returns the node's resources of the type", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a", "b", "c"));
    assert.deepEqual(namesOf(cache.fetch(fetchRequest("n1"))), ["a", "b", "c"]);
    assert.deepEqual(namesOf(cache.fetch(fetchRequest("n1", ["b"]))), ["b"]);
  });

  test("fetch throws version_up_to_date when the client's version is current", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a"));
    const { version } = cache.fetch(fetchRequest("n1"));
    const error = thrown(() => cache.fetch(fetchRequest("n1", [], version)));
    assert.equal(error.code, "version_up_to_date");
    assert.equal(error.details.version, version);
  });

  test("fetch throws node_not_found for a node without a snapshot", (t) => {
    const cache = newCache(t);
    cache.setSnapshot("n1", clusters("a"));
    const error = thrown(() => cache.fetch(fetchRequest("n2")));
    assert.equal(error.code, "node_not_found");
    assert.equal(error.details.nodeKey, "n2");
  });

  test("status lists every node key with its open watches and versions", (t) => {
    const cache = newCache(t);
    const snapshot = Snapshot.fromResources({ [CDS]: [cluster("a")], [EDS]: [cla("a")] });
    cache.setSnapshot("n1", snapshot);
    sotw(cache, CDS, "n1", [], only(sotw(cache, CDS, "n1")));
    sotw(cache, EDS, "n2", ["a"]);
    const byKey = new Map(cache.status().map((s) => [s.nodeKey, s]));
    assert.deepEqual([...byKey.keys()].sort(), ["n1", "n2"]);
    assert.equal(byKey.get("n1")?.watches, 1);
    assert.equal(byKey.get("n1")?.node?.id, "n1");
    assert.deepEqual(
      byKey.get("n1")?.versions,
      new Map([
        [CDS, snapshot.version(CDS)],
        [EDS, snapshot.version(EDS)],
      ]),
    );
    assert.equal(byKey.get("n2")?.watches, 1);
    assert.equal(byKey.get("n2")?.versions.size, 0);
  });
});
