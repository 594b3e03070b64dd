#!/usr/bin/env node
// The smallest xDS control plane: one snapshot, set in a SnapshotCache, served
// by XdsServer to every node that connects, until SIGINT or SIGTERM.
import { parseArgs } from "node:util";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeApiListener, makeCluster, makeEndpoints, makeRoute } from "@nebucloud/xds-cache/testing";
import { nodeHash, TypeUrl } from "@nebucloud/xds-core";
import { XdsServer } from "@nebucloud/xds-server";

const { values } = parseArgs({ options: { "xds-address": { type: "string", default: "127.0.0.1:18000" } } });

// Every node maps to the one key "all", so any client is served whatever its node id.
const cache = new SnapshotCache({ nodeHash: nodeHash(() => "all") });

// An EDS cluster "backend", its endpoint, a route to it and an api_listener for
// proxyless gRPC (a client dialing xds:///backend asks for listener "backend").
const snapshot = Snapshot.fromResources({
  [TypeUrl.Cluster]: [makeCluster("backend")],
  [TypeUrl.Endpoint]: [makeEndpoints("backend", [{ host: "127.0.0.1", port: 8080 }])],
  [TypeUrl.Route]: [makeRoute("local_route", { cluster: "backend" })],
  [TypeUrl.Listener]: [makeApiListener("backend", "local_route")],
});
snapshot.consistent(); // throws if a resource names one that is missing
cache.setSnapshot("all", snapshot);

// serveWithShutdown drains gracefully once the signal aborts.
const shutdown = new AbortController();
const server = await XdsServer.builder()
  .withCache(cache)
  .withHealthService()
  .serveWithShutdown(values["xds-address"], shutdown.signal);
console.log(`simple-server: serving xDS on ${server.address}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    shutdown.abort();
    // Nothing else holds the event loop, so the process exits 0 once drained.
    void server.shutdown().then(() => cache.close());
  });
}
