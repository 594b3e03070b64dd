import assert from "node:assert/strict";
import http2 from "node:http2";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { XdsServer } from "./index.js";
import { frame } from "./test-support/grpc-frame.js";

/** 200 clusters whose content depends on `generation`: about 40 KiB encoded. */
function bigSnapshot(generation: number): Snapshot {
  const clusters = Array.from({ length: 200 }, (_, i) =>
    create(ClusterSchema, { name: `c${i}`, altStatName: `generation-${generation}-${"x".repeat(150)}` }),
  );
  return Snapshot.fromResources({ [TypeUrl.Cluster]: clusters });
}

/** Splits gRPC length-prefixed messages out of a byte stream. */
function* messages(buffer: Buffer): Generator<Buffer> {
  let offset = 0;
  while (offset + 5 <= buffer.length) {
    const length = buffer.readUInt32BE(offset + 1);
    if (offset + 5 + length > buffer.length) return;
    yield buffer.subarray(offset + 5, offset + 5 + length);
    offset += 5 + length;
  }
}

describe("a client that stops reading", () => {
  it("costs the server at most one unsent response per type, and then receives the newest state", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("slow", bigSnapshot(0));
    let taken = 0;
    const server = await XdsServer.builder()
      .withCache(cache)
      .withCallbacks({ onDeltaStreamResponse: () => taken++ })
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    // A tiny flow-control window makes the server's writes block almost at once.
    const session = http2.connect(`http://${server.address}`, { settings: { initialWindowSize: 1024 } });
    const stream = session.request({
      ":method": "POST",
      ":path": "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.write(
      frame(
        toBinary(
          DeltaDiscoveryRequestSchema,
          create(DeltaDiscoveryRequestSchema, {
            node: { id: "slow" },
            typeUrl: TypeUrl.Cluster,
            resourceNamesSubscribe: ["*"],
          }),
        ),
      ),
    );
    stream.pause();
    await new Promise((r) => setTimeout(r, 200));
    for (let generation = 1; generation <= 50; generation++) {
      cache.setSnapshot("slow", bigSnapshot(generation));
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 200));
    // 51 snapshots; the paused client let the server hand over only a few responses.

    assert.ok(taken <= 3, `the server built ${taken} responses for a client that does not read`);

    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.resume();
    const held = new Map<string, string>();
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      held.clear();
      for (const bytes of messages(Buffer.concat(chunks))) {
        const response = fromBinary(DeltaDiscoveryResponseSchema, bytes);
        for (const r of response.resources) held.set(r.name, r.version);
      }
      if (held.get("c0") === bigSnapshot(50).resources(TypeUrl.Cluster).get("c0")?.version) break;
    }
    assert.equal(held.size, 200);
    assert.equal(held.get("c199"), bigSnapshot(50).resources(TypeUrl.Cluster).get("c199")?.version);
    stream.close();
    session.close();
    await server.shutdown();
    cache.close();
  });
});
