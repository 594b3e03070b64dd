import assert from "node:assert/strict";
import http2 from "node:http2";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import {
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { XdsServer } from "./index.js";
import { frame } from "./test-support/grpc-frame.js";

const adsPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

/** 500 clusters (about 90 KiB encoded: a large response) and one listener (a small one). */
const snapshot = Snapshot.fromResources({
  [TypeUrl.Cluster]: Array.from({ length: 500 }, (_, i) =>
    create(ClusterSchema, { name: `c${i}`, altStatName: "x".repeat(160) }),
  ),
  [TypeUrl.Listener]: [create(ListenerSchema, { name: "l0" })],
});

/** An ADS stream asking for `typeUrl`; `responses` resolves each complete response as it arrives. */
function adsStream(session: http2.ClientHttp2Session, nodeId: string, typeUrl: string) {
  const stream = session.request({
    ":method": "POST",
    ":path": adsPath,
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.write(
    frame(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { node: { id: nodeId }, typeUrl }))),
  );
  let buffered = Buffer.alloc(0);
  const received: string[] = [];
  let wake: (() => void) | undefined;
  stream.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
      const length = buffered.readUInt32BE(1);
      received.push(fromBinary(DiscoveryResponseSchema, buffered.subarray(5, 5 + length)).typeUrl);
      buffered = buffered.subarray(5 + length);
      wake?.();
    }
  });
  stream.on("error", () => {});
  return {
    stream,
    received,
    /** Resolves once a whole response has arrived, or false after `ms`. */
    async first(ms: number): Promise<boolean> {
      const deadline = Date.now() + ms;
      while (received.length === 0 && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 20);
        });
      }
      return received.length > 0;
    },
  };
}

describe("maxConcurrentWrites", () => {
  it("makes a large response wait for a write slot while a small one goes out at once", async () => {
    const cache = new SnapshotCache();
    for (const id of ["stalled", "small", "large"]) cache.setSnapshot(id, snapshot);
    let taken = 0;
    const server = await XdsServer.builder()
      .withCache(cache)
      .withCallbacks({ onStreamResponse: () => taken++ })
      .withConfig({ maxConcurrentWrites: 1, drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    const url = `http://${server.address}`;
    const sessions: http2.ClientHttp2Session[] = [];
    try {
      // A client with a 1 KiB window that reads nothing: its large response holds the only slot.
      const stalledSession = http2.connect(url, { settings: { initialWindowSize: 1024 } });
      sessions.push(stalledSession);
      const stalled = adsStream(stalledSession, "stalled", TypeUrl.Cluster);
      stalled.stream.pause();
      for (let i = 0; i < 200 && taken === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(taken, 1);

      const session = http2.connect(url);
      sessions.push(session);
      const small = adsStream(session, "small", TypeUrl.Listener);
      assert.ok(await small.first(5000), "the small response waited behind the stalled large one");
      const large = adsStream(session, "large", TypeUrl.Cluster);
      // Give it every chance to go out while the slot is held.
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(large.received, []);

      stalled.stream.close(http2.constants.NGHTTP2_CANCEL);
      assert.ok(await large.first(5000), "the large response never got the freed slot");
      assert.deepEqual(large.received, [TypeUrl.Cluster]);
    } finally {
      for (const s of sessions) s.destroy();
      await server.shutdown();
      cache.close();
    }
  });
});
