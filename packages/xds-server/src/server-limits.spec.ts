import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ClusterDiscoveryService } from "@nebucloud/xds-proto/envoy/service/cluster/v3/cds_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { XdsServer, type XdsServerHandle } from "./index.js";
import { requestQueue } from "./test-support/request-queue.js";

const node = { id: "n1" };
const oneCluster = () => Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })] });

/** Reads a stream until it ends; the status it ended with and how many responses came first. */
async function outcome(responses: AsyncIterable<unknown>, stopAfter = Number.POSITIVE_INFINITY) {
  let received = 0;
  try {
    for await (const _ of responses) {
      received++;
      if (received >= stopAfter) return { code: "ok" as const, received };
    }
    return { code: "ok" as const, received };
  } catch (e) {
    assert.ok(e instanceof ConnectError, String(e));
    return { code: e.code, message: e.rawMessage, received };
  }
}

describe("server limits end streams with a clear status", () => {
  const cache = new SnapshotCache({ maxWatchesPerNode: 2 });
  let server: XdsServerHandle;
  let transport: ReturnType<typeof createGrpcTransport>;
  before(async () => {
    cache.setSnapshot("n1", oneCluster());
    // One cluster whose encoding alone is over maxSendMessageBytes.
    const big = create(ClusterSchema, { name: "big", altStatName: "s".repeat(4096) });
    cache.setSnapshot("big", Snapshot.fromResources({ [TypeUrl.Cluster]: [big] }));
    server = await XdsServer.builder()
      .withCache(cache)
      .withConfig({
        maxReceiveMessageBytes: 1024,
        maxSendMessageBytes: 1024,
        maxNamesPerRequest: 3,
        drainTimeoutMs: 100,
      })
      .serve("127.0.0.1:0");
    transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
  });
  after(async () => {
    await server.shutdown();
    cache.close();
  });

  it("ends a stream whose request is over maxReceiveMessageBytes with RESOURCE_EXHAUSTED", async () => {
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node, typeUrl: TypeUrl.Cluster, resourceNames: ["x".repeat(2000)] });
    const result = await outcome(
      createClient(AggregatedDiscoveryService, transport).streamAggregatedResources(requests),
    );
    assert.equal(result.code, Code.ResourceExhausted, JSON.stringify(result));
    assert.equal(result.received, 0);
  });

  it("ends an xDS stream whose response would be over maxSendMessageBytes with RESOURCE_EXHAUSTED naming the sizes", async () => {
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node: { id: "big" }, typeUrl: TypeUrl.Cluster });
    const result = await outcome(
      createClient(AggregatedDiscoveryService, transport).streamAggregatedResources(requests),
    );
    assert.equal(result.code, Code.ResourceExhausted, JSON.stringify(result));
    assert.equal(result.received, 0);
    assert.match(result.message ?? "", /Cluster response of \d+ bytes exceeds maxSendMessageBytes 1024/);
  });

  it("answers a fetch over maxReceiveMessageBytes with RESOURCE_EXHAUSTED", async () => {
    const client = createClient(ClusterDiscoveryService, transport);
    await assert.rejects(
      client.fetchClusters({ node, typeUrl: TypeUrl.Cluster, resourceNames: ["x".repeat(2000)] }),
      (e: unknown) => e instanceof ConnectError && e.code === Code.ResourceExhausted,
    );
  });

  it("ends a SotW stream naming more than maxNamesPerRequest resources with INVALID_ARGUMENT", async () => {
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node, typeUrl: TypeUrl.Cluster, resourceNames: ["a", "b", "c", "d"] });
    const result = await outcome(
      createClient(AggregatedDiscoveryService, transport).streamAggregatedResources(requests),
    );
    assert.equal(result.code, Code.InvalidArgument);
    assert.match(result.message ?? "", /4 resource names; at most 3/);
  });

  it("ends a delta stream subscribing to more than maxNamesPerRequest names with INVALID_ARGUMENT", async () => {
    const requests = requestQueue(DeltaDiscoveryRequestSchema);
    requests.push({ node, typeUrl: TypeUrl.Cluster, resourceNamesSubscribe: ["a", "b", "c", "d"] });
    const result = await outcome(
      createClient(AggregatedDiscoveryService, transport).deltaAggregatedResources(requests),
    );
    assert.equal(result.code, Code.InvalidArgument);
    assert.match(result.message ?? "", /at most 3/);
  });

  it("ends the stream that opens a watch past the cache's maxWatchesPerNode with RESOURCE_EXHAUSTED", async () => {
    // Two streams wait on names the snapshot lacks (EDS, RDS: not answered with nothing): two open watches, the node's limit.
    const held = [TypeUrl.Endpoint, TypeUrl.Route].map((typeUrl) => {
      const requests = requestQueue(DiscoveryRequestSchema);
      requests.push({ node, typeUrl, resourceNames: ["missing"] });
      const controller = new AbortController();
      const done = outcome(
        createClient(AggregatedDiscoveryService, transport).streamAggregatedResources(requests, {
          signal: controller.signal,
        }),
      );
      return { requests, controller, done };
    });
    for (let i = 0; i < 200 && cache.numWatches("n1") < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(cache.numWatches("n1"), 2);
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node, typeUrl: TypeUrl.Secret, resourceNames: ["missing"] });
    const result = await outcome(
      createClient(AggregatedDiscoveryService, transport).streamAggregatedResources(requests),
    );
    assert.equal(result.code, Code.ResourceExhausted);
    assert.match(result.message ?? "", /open watches, the limit/);
    for (const h of held) {
      h.controller.abort();
      await h.done;
    }
  });
});

describe("maxConcurrentStreams", () => {
  it("is the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: a client queues the stream past it until one ends", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("n1", oneCluster());
    const server = await XdsServer.builder()
      .withCache(cache)
      .withConfig({ maxConcurrentStreams: 2, drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    const session = http2.connect(`http://${server.address}`);
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    assert.equal(session.remoteSettings.maxConcurrentStreams, 2);
    const body = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { node, typeUrl: TypeUrl.Cluster }));
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    const answered: boolean[] = [false, false, false];
    const streams = answered.map((_, i) => {
      const stream = session.request({
        ":method": "POST",
        ":path": "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("data", () => {
        answered[i] = true;
      });
      stream.on("error", () => {});
      stream.write(frame);
      return stream;
    });
    for (let i = 0; i < 200 && !(answered[0] && answered[1]); i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    // Node's HTTP/2 client (nghttp2) honours the setting: the third stream waits, unrefused.
    assert.deepEqual(answered, [true, true, false]);
    assert.equal(server.streams().length, 2);
    streams[0]?.close();
    for (let i = 0; i < 200 && !answered[2]; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(answered[2], true);
    session.destroy();
    await server.shutdown();
    cache.close();
  });
});
