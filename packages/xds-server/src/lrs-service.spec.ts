import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, createRouterTransport, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SnapshotCache } from "@nebucloud/xds-cache";
import { XdsError } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  LoadReportingService,
  type LoadStatsRequest,
  LoadStatsRequestSchema,
  type LoadStatsResponse,
} from "@nebucloud/xds-proto/envoy/service/load_stats/v3/lrs_pb";
import { type ServerParts, silentLogger, XdsServer, type XdsServerHandle } from "./index.js";
import { registerLrsService } from "./lrs-service.js";
import { requestQueue } from "./test-support/request-queue.js";

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("LRS", () => {
  const cache = new SnapshotCache();
  const reports: { node: Node | undefined; report: LoadStatsRequest }[] = [];
  let server: XdsServerHandle;
  let transport: Transport;
  before(async () => {
    server = await XdsServer.builder()
      .withCache(cache)
      .withConfig({ drainTimeoutMs: 200 })
      .withMetrics()
      .withCallbacks({
        onLoadReport(node, report) {
          if (report.clusterStats[0]?.clusterName === "throws") throw new Error("consumer failed");
          reports.push({ node, report });
        },
      })
      .serve("127.0.0.1:0");
    transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
  });
  after(async () => {
    await server.shutdown();
    cache.close();
  });

  it("asks for every cluster at the default interval, and hands reports to onLoadReport with the first request's node", async () => {
    const client = createClient(LoadReportingService, transport);
    const requests = requestQueue(LoadStatsRequestSchema);
    const responses = client.streamLoadStats(requests)[Symbol.asyncIterator]();
    requests.push({ node: { id: "envoy-lrs", cluster: "edge" } });
    const first = (await responses.next()).value as LoadStatsResponse;
    assert.equal(first.sendAllClusters, true);
    assert.equal(first.loadReportingInterval?.seconds, 10n);
    assert.equal(first.loadReportingInterval?.nanos, 0);

    requests.push({
      clusterStats: [
        { clusterName: "c1", totalDroppedRequests: 7n, upstreamLocalityStats: [{ totalSuccessfulRequests: 42n }] },
      ],
    });
    await until(() => reports.length === 1);
    const [received] = reports;
    assert.equal(received?.node?.id, "envoy-lrs");
    assert.equal(received?.report.clusterStats[0]?.clusterName, "c1");
    assert.equal(received?.report.clusterStats[0]?.totalDroppedRequests, 7n);
    assert.equal(received?.report.clusterStats[0]?.upstreamLocalityStats[0]?.totalSuccessfulRequests, 42n);

    // A throwing callback is logged; the stream goes on.
    requests.push({ clusterStats: [{ clusterName: "throws" }] });
    requests.push({ clusterStats: [{ clusterName: "c2" }] });
    await until(() => reports.length === 2);
    assert.equal(reports[1]?.report.clusterStats[0]?.clusterName, "c2");

    requests.end();
    // Only the first request is answered.
    assert.equal((await responses.next()).done, true);
  });

  it("counts every report carrying cluster stats, and no empty request", async () => {
    const text = await server.metrics?.registry.metrics();
    assert.match(text ?? "", /xds_server_load_reports_total 3\b/);
    assert.match(text ?? "", /xds_server_streams_total\{kind="lrs"\} 1\b/);
    assert.match(text ?? "", /xds_server_streams_active\{kind="lrs"\} 0\b/);
  });

  it("honours a configured reporting interval", async () => {
    // The builder registers LRS with the default; the option is the module's.
    const parts = { callbacks: {}, logger: silentLogger, metrics: undefined } as unknown as ServerParts;
    const local = createRouterTransport((router) => registerLrsService(router, parts, { reportingIntervalMs: 2500 }));
    const requests = requestQueue(LoadStatsRequestSchema);
    const responses = createClient(LoadReportingService, local).streamLoadStats(requests)[Symbol.asyncIterator]();
    requests.push({ node: { id: "n" } });
    const first = (await responses.next()).value as LoadStatsResponse;
    assert.equal(first.loadReportingInterval?.seconds, 2n);
    assert.equal(first.loadReportingInterval?.nanos, 500_000_000);
    requests.end();
    assert.equal((await responses.next()).done, true);
  });

  it("refuses a reporting interval that is not positive", () => {
    const parts = { callbacks: {}, logger: silentLogger, metrics: undefined } as unknown as ServerParts;
    assert.throws(
      () => createRouterTransport((router) => registerLrsService(router, parts, { reportingIntervalMs: 0 })),
      (error: unknown) => error instanceof XdsError && error.code === "invalid_config",
    );
  });
});
