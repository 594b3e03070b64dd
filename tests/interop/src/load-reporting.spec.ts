/**
 * Interop (issue 15): grpc-js-xds sends real LRS load reports when a cluster
 * names an `lrs_server`. An authorized node's reports arrive; a node the
 * authorizer refuses LRS to is refused (PERMISSION_DENIED) and none of its
 * reports is taken, while its xDS config is still served. grpc-js-xds 1.14
 * offers only insecure and google_default channel credentials to the xDS
 * server, so this runs on plaintext with an authorizer that decides by node
 * and service; mTLS identities are covered by the server's own tests.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeApiListener, makeCluster, makeEndpoints, makeRoute } from "@nebucloud/xds-cache/testing";
import { TypeUrl } from "@nebucloud/xds-core";
import { ConfigSourceSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/config_source_pb";
import { LoadReportingService } from "@nebucloud/xds-proto/envoy/service/load_stats/v3/lrs_pb";
import { XdsServer, type XdsServerHandle } from "@nebucloud/xds-server";
import {
  type Backend,
  ClientProcess,
  eventually,
  killAllClients,
  listenerName,
  routeName,
  startBackend,
} from "./harness.js";

describe("LRS from a real grpc-js-xds client, authorized per node (issue 15)", () => {
  let backend: Backend;
  let server: XdsServerHandle;
  const cache = new SnapshotCache();
  const reports = new Map<string, number>();
  const refused: string[] = [];

  before(async () => {
    backend = await startBackend("A");
    const cluster = makeCluster("reported");
    cluster.lrsServer = create(ConfigSourceSchema, { configSourceSpecifier: { case: "self", value: {} } });
    const snapshot = Snapshot.fromResources({
      [TypeUrl.Listener]: [makeApiListener(listenerName, routeName)],
      [TypeUrl.Route]: [makeRoute(routeName, { cluster: "reported" })],
      [TypeUrl.Cluster]: [cluster],
      [TypeUrl.Endpoint]: [makeEndpoints("reported", [backend], { locality: { region: "r", zone: "z" }, weight: 1 })],
    });
    for (const id of ["lrs-allowed", "lrs-refused"]) cache.setSnapshot(id, snapshot);
    server = await XdsServer.builder()
      .withCache(cache)
      .withAuthorizer((_peer, node, request) => {
        const allowed = !(request.service === LoadReportingService.typeName && node.id === "lrs-refused");
        if (!allowed) refused.push(node.id);
        return allowed;
      })
      .withLoadReporting({ reportingIntervalMs: 500 })
      .withCallbacks({
        onLoadReport(node, report) {
          let calls = 0;
          for (const cluster of report.clusterStats) {
            for (const locality of cluster.upstreamLocalityStats) calls += Number(locality.totalSuccessfulRequests);
          }
          reports.set(node?.id ?? "", (reports.get(node?.id ?? "") ?? 0) + calls);
        },
      })
      .withConfig({ drainTimeoutMs: 200 })
      .serve("127.0.0.1:0");
  });
  after(async () => {
    await killAllClients();
    await server?.shutdown();
    cache.close();
    await backend?.close();
  });

  it("takes the authorized node's reports and refuses the other's, serving both their config", async () => {
    process.env["XDS_TARGET"] = `xds:///${listenerName}`;
    const allowed = await ClientProcess.start(server.address, "lrs-allowed");
    const denied = await ClientProcess.start(server.address, "lrs-refused");
    for (const client of [allowed, denied]) {
      const first = await client.firstCall();
      assert.equal(first.ok && first.backend, "A", JSON.stringify(first));
      await client.calls({ count: 20 });
    }
    await eventually(
      "a load report from lrs-allowed counting its calls",
      () => ((reports.get("lrs-allowed") ?? 0) >= 20 ? true : undefined),
      { timeoutMs: 15_000 },
    );
    await eventually("lrs-refused's LRS stream refused", () => (refused.includes("lrs-refused") ? true : undefined), {
      timeoutMs: 15_000,
    });
    assert.equal(reports.has("lrs-refused"), false);
    await Promise.all([allowed.stop(), denied.stop()]);
  });
});
