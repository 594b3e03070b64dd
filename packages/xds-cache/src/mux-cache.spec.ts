import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { TypeUrl, XdsError } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import type { DeltaRequest, DeltaResponse, SotwRequest, SotwResponse } from "./cache.js";
import { MuxCache } from "./mux-cache.js";
import { Snapshot } from "./snapshot.js";
import { SnapshotCache } from "./snapshot-cache.js";

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.Endpoint;
const LDS = TypeUrl.Listener;

const cluster = (name: string) => create(ClusterSchema, { name });
const cla = (name: string) => create(ClusterLoadAssignmentSchema, { clusterName: name });

function newCache(t: { after(fn: () => void): void }): SnapshotCache {
  const cache = new SnapshotCache();
  t.after(() => cache.close());
  return cache;
}

const sotwRequest = (typeUrl: string, nodeId = "n1", cluster = "blue"): SotwRequest => ({
  typeUrl,
  node: create(NodeSchema, { id: nodeId, cluster }),
  resourceNames: [],
  versionInfo: "",
});
const deltaRequest = (typeUrl: string, nodeId = "n1"): DeltaRequest => ({
  typeUrl,
  node: create(NodeSchema, { id: nodeId }),
});
const wildcard = { wildcard: true, subscribed: new Set<string>(), returned: new Map<string, string>() };
const deltaWildcard = { wildcard: true, subscribed: new Set<string>(), versions: new Map<string, string>() };

const names = (response: { resources: readonly { name: string }[] } | undefined) =>
  (response?.resources ?? []).map((r) => r.name).sort();

function thrown(fn: () => unknown): XdsError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof XdsError, `expected an XdsError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected an XdsError, nothing was thrown");
}

describe("MuxCache", () => {
  test("routes each request to the cache keyed by its type URL", (t) => {
    const clusters = newCache(t);
    const endpoints = newCache(t);
    clusters.setSnapshot("n1", Snapshot.fromResources({ [CDS]: [cluster("from-clusters")] }));
    endpoints.setSnapshot("n1", Snapshot.fromResources({ [EDS]: [cla("from-endpoints")] }));
    const mux = new MuxCache({ caches: { [CDS]: clusters, [EDS]: endpoints } });
    const got: SotwResponse[] = [];
    mux.createWatch(sotwRequest(CDS), wildcard, (r) => got.push(r));
    mux.createWatch(sotwRequest(EDS), wildcard, (r) => got.push(r));
    assert.deepEqual(got.map(names), [["from-clusters"], ["from-endpoints"]]);
  });

  test("leaves an open watch in the cache it routed to", (t) => {
    const clusters = newCache(t);
    const endpoints = newCache(t);
    const mux = new MuxCache({ caches: { [CDS]: clusters, [EDS]: endpoints } });
    const watch = mux.createWatch(sotwRequest(EDS), wildcard, () => {});
    assert.equal(endpoints.numWatches(), 1);
    assert.equal(clusters.numWatches(), 0);
    watch.cancel();
    assert.equal(endpoints.numWatches(), 0);
  });

  test("routes delta watches by type URL too", (t) => {
    const clusters = newCache(t);
    const endpoints = newCache(t);
    endpoints.setSnapshot("n1", Snapshot.fromResources({ [EDS]: [cla("e")] }));
    const mux = new MuxCache({ caches: { [CDS]: clusters, [EDS]: endpoints } });
    const got: DeltaResponse[] = [];
    mux.createDeltaWatch(deltaRequest(EDS), deltaWildcard, (r) => got.push(r));
    assert.deepEqual(got.map(names), [["e"]]);
  });

  test("routes by the key a classify function gives", (t) => {
    const blue = newCache(t);
    const green = newCache(t);
    blue.setSnapshot("n1", Snapshot.fromResources({ [CDS]: [cluster("blue-cluster")] }));
    green.setSnapshot("n2", Snapshot.fromResources({ [CDS]: [cluster("green-cluster")] }));
    const mux = new MuxCache({
      caches: { blue, green },
      classify: (request) => request.node?.cluster ?? "",
    });
    const got: SotwResponse[] = [];
    mux.createWatch(sotwRequest(CDS, "n2", "green"), wildcard, (r) => got.push(r));
    mux.createWatch(sotwRequest(CDS, "n1", "blue"), wildcard, (r) => got.push(r));
    assert.deepEqual(got.map(names), [["green-cluster"], ["blue-cluster"]]);
  });

  test("fetches from the cache the request routes to", (t) => {
    const clusters = newCache(t);
    clusters.setSnapshot("n1", Snapshot.fromResources({ [CDS]: [cluster("c")] }));
    const mux = new MuxCache({ caches: { [CDS]: clusters } });
    assert.deepEqual(names(mux.fetch(sotwRequest(CDS))), ["c"]);
  });

  test("rejects a SotW request no cache takes with unknown_type", (t) => {
    const mux = new MuxCache({ caches: { [CDS]: newCache(t) } });
    const error = thrown(() => mux.createWatch(sotwRequest(LDS), wildcard, () => {}));
    assert.equal(error.code, "unknown_type");
    assert.equal(error.details.typeUrl, LDS);
    const { key } = error.details;
    assert.equal(key, LDS);
  });

  test("rejects a delta request and a fetch no cache takes with unknown_type", (t) => {
    const mux = new MuxCache({ caches: { [CDS]: newCache(t) } });
    assert.equal(thrown(() => mux.createDeltaWatch(deltaRequest(EDS), deltaWildcard, () => {})).code, "unknown_type");
    assert.equal(thrown(() => mux.fetch(sotwRequest(EDS))).code, "unknown_type");
  });

  test("rejects a classify key that only Object.prototype has", (t) => {
    const mux = new MuxCache({ caches: { blue: newCache(t) }, classify: () => "toString" });
    assert.equal(thrown(() => mux.createWatch(sotwRequest(CDS), wildcard, () => {})).code, "unknown_type");
  });

  test("status lists the nodes of every cache", (t) => {
    const clusters = newCache(t);
    const endpoints = newCache(t);
    const mux = new MuxCache({ caches: { [CDS]: clusters, [EDS]: endpoints } });
    mux.createWatch(sotwRequest(CDS, "n1"), wildcard, () => {});
    mux.createWatch(sotwRequest(EDS, "n2"), wildcard, () => {});
    assert.deepEqual(
      mux
        .status()
        .map((s) => s.nodeKey)
        .sort(),
      ["n1", "n2"],
    );
  });
});
