import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { ClusterDiscoveryService } from "@nebucloud/xds-proto/envoy/service/cluster/v3/cds_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import { DiscoveryRequestSchema } from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { Health, HealthCheckResponse_ServingStatus } from "@nebucloud/xds-proto/grpc/health/v1/health_pb";
import { XdsServer, type XdsServerHandle } from "./index.js";
import { requestQueue } from "./test-support/request-queue.js";

describe("XdsServer over real HTTP/2", () => {
  const cache = new SnapshotCache();
  let server: XdsServerHandle;
  let transport: ReturnType<typeof createGrpcTransport>;
  before(async () => {
    cache.setSnapshot("n1", Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })] }));
    server = await XdsServer.builder().withCache(cache).withHealthService().withMetrics().serve("127.0.0.1:0");
    transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
  });
  after(async () => {
    await server.shutdown();
    cache.close();
  });

  it("binds port 0 to a real port", () => {
    assert.ok(server.port > 0);
    assert.equal(server.address, `127.0.0.1:${server.port}`);
  });

  it("answers an ADS cluster request with the snapshot's clusters", async () => {
    const client = createClient(AggregatedDiscoveryService, transport);
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node: create(NodeSchema, { id: "n1" }), typeUrl: TypeUrl.Cluster });
    for await (const response of client.streamAggregatedResources(requests)) {
      assert.equal(response.typeUrl, TypeUrl.Cluster);
      assert.equal(response.resources.length, 1);
      assert.equal(response.resources[0]?.typeUrl, TypeUrl.Cluster);
      requests.end();
    }
  });

  it("ends an ADS stream whose request has no type URL with INVALID_ARGUMENT", async () => {
    const client = createClient(AggregatedDiscoveryService, transport);
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node: create(NodeSchema, { id: "n1" }) });
    await assert.rejects(
      async () => {
        for await (const _ of client.streamAggregatedResources(requests)) {
        }
      },
      (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && /type_url/.test(e.rawMessage),
    );
  });

  it("ends a stream asking for an unknown type URL with INVALID_ARGUMENT naming it", async () => {
    const client = createClient(AggregatedDiscoveryService, transport);
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node: create(NodeSchema, { id: "n1" }), typeUrl: "type.googleapis.com/not.a.Type" });
    await assert.rejects(
      async () => {
        for await (const _ of client.streamAggregatedResources(requests)) {
        }
      },
      (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && /not\.a\.Type/.test(e.rawMessage),
    );
  });

  it("serves FetchClusters on the per-type service", async () => {
    const client = createClient(ClusterDiscoveryService, transport);
    const response = await client.fetchClusters({ node: { id: "n1" }, typeUrl: TypeUrl.Cluster });
    assert.equal(response.resources.length, 1);
  });

  it("reports SERVING on grpc.health.v1.Health", async () => {
    const client = createClient(Health, transport);
    const response = await client.check({ service: "" });
    assert.equal(response.status, HealthCheckResponse_ServingStatus.SERVING);
  });

  it("reports the snapshots its cache has taken", async () => {
    assert.match((await server.metrics?.registry.metrics()) ?? "", /^xds_server_snapshots_total 1$/m);
  });

  it("counts streams in its metrics and returns the active gauge to zero", async () => {
    const text = await server.metrics?.registry.metrics();
    assert.match(text ?? "", /xds_server_streams_total\{kind="sotw"\} \d+/);
    assert.match(text ?? "", /xds_server_streams_active\{kind="sotw"\} 0/);
  });
});
