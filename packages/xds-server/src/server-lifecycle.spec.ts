import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl, XdsError } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import { DiscoveryRequestSchema } from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { Health, HealthCheckResponse_ServingStatus } from "@nebucloud/xds-proto/grpc/health/v1/health_pb";
import { XdsServer } from "./index.js";
import { makeTestCerts } from "./test-support/certs.js";
import { requestQueue } from "./test-support/request-queue.js";

const node = create(NodeSchema, { id: "n1" });
const oneCluster = () => Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })] });

describe("server lifecycle", () => {
  it("turns health NOT_SERVING at once when shutdown begins", async () => {
    const cache = new SnapshotCache();
    const server = await XdsServer.builder()
      .withCache(cache)
      .withHealthService()
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    const done = server.shutdown();
    assert.equal(server.health.get(""), HealthCheckResponse_ServingStatus.NOT_SERVING);
    await done;
    cache.close();
  });

  it("ends open xDS streams with UNAVAILABLE after the drain timeout", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("n1", oneCluster());
    const server = await XdsServer.builder().withCache(cache).withConfig({ drainTimeoutMs: 200 }).serve("127.0.0.1:0");
    const client = createClient(
      AggregatedDiscoveryService,
      createGrpcTransport({ baseUrl: `http://${server.address}` }),
    );
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node, typeUrl: TypeUrl.Cluster });
    let received = 0;
    const outcome = (async () => {
      try {
        for await (const _ of client.streamAggregatedResources(requests)) {
          received++;
          if (received === 1) void server.shutdown();
        }
        return "ended without status";
      } catch (e) {
        return e;
      }
    })();
    const error = await outcome;
    assert.ok(error instanceof ConnectError, String(error));
    assert.equal(error.code, Code.Unavailable);
    assert.equal(received, 1);
    await server.shutdown();
    cache.close();
  });

  it("finishes shutdown within the drain timeout while a client keeps its stream open", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("n1", oneCluster());
    const drainTimeoutMs = 800;
    const server = await XdsServer.builder().withCache(cache).withConfig({ drainTimeoutMs }).serve("127.0.0.1:0");
    const client = createClient(
      AggregatedDiscoveryService,
      createGrpcTransport({ baseUrl: `http://${server.address}` }),
    );
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node, typeUrl: TypeUrl.Cluster });
    let started = 0;
    let endedAfterMs = -1;
    const outcome = (async () => {
      try {
        for await (const _ of client.streamAggregatedResources(requests)) {
          if (started === 0) {
            started = Date.now();
            void server.shutdown();
          }
        }
      } catch (e) {
        endedAfterMs = Date.now() - started;
        return e;
      }
      return undefined;
    })();
    const error = await outcome;
    await server.shutdown();
    const shutdownMs = Date.now() - started;
    assert.ok(error instanceof ConnectError && error.code === Code.Unavailable, String(error));
    // The stream ends with its status a grace period before the deadline, and all is closed by it.
    assert.ok(endedAfterMs < drainTimeoutMs, `the stream ended ${endedAfterMs} ms after shutdown began`);
    assert.ok(shutdownMs <= drainTimeoutMs + 100, `shutdown took ${shutdownMs} ms with a ${drainTimeoutMs} ms drain`);
    cache.close();
  });

  it("refuses a stream that onStreamOpen rejects, with that error's status", async () => {
    const cache = new SnapshotCache();
    const server = await XdsServer.builder()
      .withCache(cache)
      .withCallbacks({
        onStreamOpen() {
          throw new XdsError("permission_denied", "not on this server");
        },
      })
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    const client = createClient(
      AggregatedDiscoveryService,
      createGrpcTransport({ baseUrl: `http://${server.address}` }),
    );
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node, typeUrl: TypeUrl.Cluster });
    await assert.rejects(
      async () => {
        for await (const _ of client.streamAggregatedResources(requests)) {
        }
      },
      (e: unknown) =>
        e instanceof ConnectError && e.code === Code.PermissionDenied && /not on this server/.test(e.rawMessage),
    );
    await server.shutdown();
    cache.close();
  });

  it("limits new streams per second with RESOURCE_EXHAUSTED", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("n1", oneCluster());
    const server = await XdsServer.builder()
      .withCache(cache)
      .withConfig({ drainTimeoutMs: 100, newStreamsPerSecond: 1 })
      .serve("127.0.0.1:0");
    const client = createClient(
      AggregatedDiscoveryService,
      createGrpcTransport({ baseUrl: `http://${server.address}` }),
    );
    const codes: (Code | "ok")[] = [];
    for (let i = 0; i < 3; i++) {
      const requests = requestQueue(DiscoveryRequestSchema);
      requests.push({ node, typeUrl: TypeUrl.Cluster });
      try {
        for await (const _ of client.streamAggregatedResources(requests)) requests.end();
        codes.push("ok");
      } catch (e) {
        codes.push((e as ConnectError).code);
      }
    }
    assert.equal(codes[0], "ok");
    assert.ok(codes.includes(Code.ResourceExhausted), `codes: ${codes.join(",")}`);
    await server.shutdown();
    cache.close();
  });

  it("leaves no stream or watch behind when a client vanishes", async () => {
    const cache = new SnapshotCache();
    const server = await XdsServer.builder()
      .withCache(cache)
      .withMetrics()
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    const controller = new AbortController();
    const client = createClient(
      AggregatedDiscoveryService,
      createGrpcTransport({ baseUrl: `http://${server.address}` }),
    );
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node, typeUrl: TypeUrl.Cluster });
    const call = (async () => {
      try {
        for await (const _ of client.streamAggregatedResources(requests, { signal: controller.signal })) {
        }
      } catch {}
    })();
    for (let i = 0; i < 100 && cache.numWatches() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(cache.numWatches(), 1);
    controller.abort();
    await call;
    for (let i = 0; i < 100 && (cache.numWatches() > 0 || server.streams().length > 0); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(cache.numWatches(), 0);
    assert.equal(server.streams().length, 0);
    assert.match((await server.metrics?.registry.metrics()) ?? "", /xds_server_streams_active\{kind="sotw"\} 0/);
    await server.shutdown();
    cache.close();
  });
});

describe("TLS", () => {
  let certs: ReturnType<typeof makeTestCerts> | undefined;
  try {
    certs = makeTestCerts(["spiffe://test/a"]);
  } catch (error) {
    console.log(`# TLS tests skipped: openssl could not make test certificates (${String(error)})`);
  }

  it("serves gRPC over TLS to a client that trusts the CA", { skip: !certs }, async () => {
    const c = certs as NonNullable<typeof certs>;
    const cache = new SnapshotCache();
    const server = await XdsServer.builder()
      .withCache(cache)
      .withHealthService()
      .withTls({ cert: c.serverCert, key: c.serverKey })
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    const transport = createGrpcTransport({ baseUrl: `https://${server.address}`, nodeOptions: { ca: c.ca } });
    const response = await createClient(Health, transport).check({ service: "" });
    assert.equal(response.status, HealthCheckResponse_ServingStatus.SERVING);
    await server.shutdown();
    cache.close();
  });

  it("refuses a client without a certificate when client certificates are required", { skip: !certs }, async () => {
    const c = certs as NonNullable<typeof certs>;
    const cache = new SnapshotCache();
    const server = await XdsServer.builder()
      .withCache(cache)
      .withHealthService()
      .withTls({ cert: c.serverCert, key: c.serverKey, ca: c.ca, requireClientCert: true })
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    const anonymous = createGrpcTransport({ baseUrl: `https://${server.address}`, nodeOptions: { ca: c.ca } });
    await assert.rejects(createClient(Health, anonymous).check({ service: "" }));
    const client = c.clients["spiffe://test/a"] as { cert: string; key: string };
    const withCert = createGrpcTransport({
      baseUrl: `https://${server.address}`,
      nodeOptions: { ca: c.ca, cert: client.cert, key: client.key },
    });
    const response = await createClient(Health, withCert).check({ service: "" });
    assert.equal(response.status, HealthCheckResponse_ServingStatus.SERVING);
    await server.shutdown();
    cache.close();
  });
});
