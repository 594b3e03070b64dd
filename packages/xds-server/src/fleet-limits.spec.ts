// Limits protect the fleet without locking it out (issue 15): watch limits
// count per node, not per shared node group; per-peer budgets; a client that
// accepts no bytes loses its stream and frees its slot.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeCluster, makeEndpoints } from "@nebucloud/xds-cache/testing";
import { nodeHash, TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import {
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { XdsServer } from "./index.js";
import { frame } from "./test-support/grpc-frame.js";

const adsPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

function request(init: Parameters<typeof create<typeof DiscoveryRequestSchema>>[1]): Buffer {
  return frame(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, init)));
}

/** An ADS stream on `session`: its responses by type, and how it ended. With `ackAs`, it ACKs each response as Envoy does. */
function adsStream(session: http2.ClientHttp2Session, ackAs?: { id: string; names: Record<string, string[]> }) {
  const stream = session.request({
    ":method": "POST",
    ":path": adsPath,
    "content-type": "application/grpc",
    te: "trailers",
  });
  const types = new Set<string>();
  let buffer = Buffer.alloc(0);
  let status: string | undefined;
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of listeners) listener();
  };
  stream.on("response", (headers) => {
    if (headers["grpc-status"] !== undefined) status = String(headers["grpc-status"]);
    changed();
  });
  stream.on("trailers", (trailers) => {
    status = String(trailers["grpc-status"]);
    changed();
  });
  stream.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 5 && buffer.length >= 5 + buffer.readUInt32BE(1)) {
      const length = buffer.readUInt32BE(1);
      const response = fromBinary(DiscoveryResponseSchema, buffer.subarray(5, 5 + length));
      types.add(response.typeUrl);
      if (ackAs) {
        stream.write(
          request({
            typeUrl: response.typeUrl,
            versionInfo: response.versionInfo,
            responseNonce: response.nonce,
            resourceNames: ackAs.names[response.typeUrl] ?? [],
          }),
        );
      }
      buffer = buffer.subarray(5 + length);
    }
    changed();
  });
  stream.on("close", changed);
  stream.on("error", () => {});
  const until = (done: () => boolean, ms = 20_000) =>
    new Promise<void>((resolve, reject) => {
      if (done()) return resolve();
      const timer = setTimeout(() => reject(new Error(`timed out; status ${status}, types ${[...types]}`)), ms);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve();
      };
      listeners.add(check);
    });
  return {
    stream,
    types,
    get status() {
      return status;
    },
    until,
  };
}

describe("limits that protect the fleet, not lock it out (issue 15)", () => {
  it("serves 2000 nodes of one node group, each with CDS and EDS, under the default watch limit", async () => {
    const cache = new SnapshotCache({ nodeHash: nodeHash(() => "(shared)") });
    cache.setSnapshot(
      "(shared)",
      Snapshot.fromResources({
        [TypeUrl.Cluster]: [makeCluster("backend")],
        [TypeUrl.Endpoint]: [makeEndpoints("backend", [{ host: "127.0.0.1", port: 8080 }])],
      }),
    );
    const server = await XdsServer.builder().withCache(cache).withConfig({ drainTimeoutMs: 100 }).serve("127.0.0.1:0");
    const sessions = Array.from({ length: 20 }, () => http2.connect(`http://${server.address}`));
    const streams = [];
    for (let i = 0; i < 2000; i++) {
      // ACKing keeps a watch open per type, as Envoy's streams do: 4000 watches in one node key.
      const s = adsStream(sessions[i % sessions.length] as http2.ClientHttp2Session, {
        id: `node-${i}`,
        names: { [TypeUrl.Endpoint]: ["backend"] },
      });
      s.stream.write(request({ node: { id: `node-${i}` }, typeUrl: TypeUrl.Cluster }));
      s.stream.write(request({ node: { id: `node-${i}` }, typeUrl: TypeUrl.Endpoint, resourceNames: ["backend"] }));
      streams.push(s);
    }
    await Promise.all(streams.map((s) => s.until(() => s.types.size === 2 || s.status !== undefined, 60_000)));
    // Let the ACKs land and reopen their watches; none may be refused.
    for (let i = 0; i < 200 && cache.numWatches() < 4000; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(cache.numWatches(), 4000);
    const refused = streams.filter((s) => s.types.size < 2 || s.status !== undefined);
    assert.equal(refused.length, 0, `refused: ${refused.slice(0, 3).map((s) => s.status)}`);
    for (const session of sessions) session.destroy();
    await server.shutdown();
    cache.close();
  });

  it("refuses a peer's stream past maxStreamsPerPeer with RESOURCE_EXHAUSTED, and admits it again once one closes", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("n", Snapshot.fromResources({ [TypeUrl.Cluster]: [makeCluster("c")] }));
    const server = await XdsServer.builder()
      .withCache(cache)
      .withConfig({ maxStreamsPerPeer: 2, drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    // Separate connections: the limit counts the peer, not the connection.
    const sessions = Array.from({ length: 3 }, () => http2.connect(`http://${server.address}`));
    const open = sessions.map((session) => {
      const s = adsStream(session);
      s.stream.write(request({ node: { id: "n" }, typeUrl: TypeUrl.Cluster }));
      return s;
    });
    await Promise.all(open.map((s) => s.until(() => s.types.size === 1 || s.status !== undefined)));
    const statuses = open.map((s) => s.status ?? "open").sort();
    assert.deepEqual(statuses, ["8", "open", "open"]);
    const first = open.find((s) => s.status === undefined);
    first?.stream.close();
    await new Promise((r) => setTimeout(r, 100));
    const again = adsStream(sessions[0] as http2.ClientHttp2Session);
    again.stream.write(request({ node: { id: "n" }, typeUrl: TypeUrl.Cluster }));
    await again.until(() => again.types.size === 1 || again.status !== undefined);
    assert.equal(again.status, undefined);
    for (const session of sessions) session.destroy();
    await server.shutdown();
    cache.close();
  });

  it("ends a stream whose peer exceeds requestsPerSecondPerPeer with RESOURCE_EXHAUSTED", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("n", Snapshot.fromResources({ [TypeUrl.Cluster]: [makeCluster("c")] }));
    const server = await XdsServer.builder()
      .withCache(cache)
      .withConfig({ requestsPerSecondPerPeer: 5, drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    const session = http2.connect(`http://${server.address}`);
    const s = adsStream(session);
    for (let i = 0; i < 50; i++)
      s.stream.write(request({ node: { id: "n" }, typeUrl: TypeUrl.Endpoint, resourceNames: [`e${i}`] }));
    await s.until(() => s.status !== undefined);
    assert.equal(s.status, "8");
    session.destroy();
    await server.shutdown();
    cache.close();
  });

  it("resets a stream whose client accepts no bytes within writeTimeoutMs and frees it (UNAVAILABLE in gRPC clients)", async () => {
    const cache = new SnapshotCache();
    const clusters = Array.from({ length: 200 }, (_, i) =>
      create(ClusterSchema, { name: `c${i}`, altStatName: "x".repeat(1000) }),
    );
    cache.setSnapshot("stuck", Snapshot.fromResources({ [TypeUrl.Cluster]: clusters }));
    const server = await XdsServer.builder()
      .withCache(cache)
      .withConfig({ writeTimeoutMs: 300, drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    // A 1 KiB window the client never widens: the 200 KiB response cannot leave.
    const session = http2.connect(`http://${server.address}`, { settings: { initialWindowSize: 1024 } });
    const stream = session.request({
      ":method": "POST",
      ":path": adsPath,
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", () => {});
    stream.write(request({ node: { id: "stuck" }, typeUrl: TypeUrl.Cluster }));
    stream.pause();
    const code = await new Promise<number>((resolve) => stream.on("close", () => resolve(stream.rstCode ?? -1)));
    assert.equal(code, http2.constants.NGHTTP2_REFUSED_STREAM);
    for (let i = 0; i < 100 && server.streams().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.streams().length, 0);
    assert.equal(cache.numWatches(), 0);
    session.destroy();
    await server.shutdown();
    cache.close();
  });
});
