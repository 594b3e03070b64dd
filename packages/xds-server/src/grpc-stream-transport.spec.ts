import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { Resource, TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { responseSources } from "./discovery-response.js";
import { XdsServer, type XdsServerHandle } from "./index.js";
import { frame } from "./test-support/grpc-frame.js";
import { encodeResponse } from "./wire-encoding.js";

const adsPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

const clusterRequest = () =>
  toBinary(
    DiscoveryRequestSchema,
    create(DiscoveryRequestSchema, { node: create(NodeSchema, { id: "n1" }), typeUrl: TypeUrl.Cluster }),
  );

function openAds(session: http2.ClientHttp2Session, headers: Record<string, string> = {}): http2.ClientHttp2Stream {
  return session.request({
    ":method": "POST",
    ":path": adsPath,
    "content-type": "application/grpc",
    te: "trailers",
    ...headers,
  });
}

/** Opens a raw HTTP/2 call, writes `body`, and returns the status and the messages received. */
async function rawCall(
  address: string,
  body: Buffer,
  headers: Record<string, string> = {},
  endAfterFirst = true,
): Promise<{
  status: number | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  messages: Buffer[];
}> {
  const session = http2.connect(`http://${address}`);
  try {
    const stream = openAds(session, headers);
    let status: number | undefined;
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) grpcMessage = decodeURIComponent(String(h["grpc-message"]));
    });
    stream.on("trailers", (t) => {
      grpcStatus = String(t["grpc-status"]);
      if (t["grpc-message"] !== undefined) grpcMessage = decodeURIComponent(String(t["grpc-message"]));
    });
    stream.on("data", (c: Buffer) => {
      chunks.push(c);
      if (endAfterFirst && Buffer.concat(chunks).length >= 5) stream.end();
    });
    stream.write(body);
    if (!endAfterFirst) stream.end();
    await new Promise<void>((resolve) => {
      stream.on("close", () => resolve());
      setTimeout(() => {
        stream.close();
        resolve();
      }, 5000).unref();
    });
    const all = Buffer.concat(chunks);
    const messages: Buffer[] = [];
    for (let o = 0; o + 5 <= all.length; ) {
      const n = all.readUInt32BE(o + 1);
      messages.push(all.subarray(o + 5, o + 5 + n));
      o += 5 + n;
    }
    return { status, grpcStatus, grpcMessage, messages };
  } finally {
    session.close();
  }
}

describe("the HTTP/2 hot path for xDS streams", () => {
  const cache = new SnapshotCache();
  let server: XdsServerHandle;
  before(async () => {
    cache.setSnapshot("n1", Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })] }));
    server = await XdsServer.builder()
      .withCache(cache)
      .withConfig({ drainTimeoutMs: 100, maxReceiveMessageBytes: 4096 })
      .serve("127.0.0.1:0");
  });
  after(async () => {
    await server.shutdown();
    cache.close();
  });

  it("answers a framed DiscoveryRequest with a framed DiscoveryResponse and status OK", async () => {
    const result = await rawCall(server.address, frame(clusterRequest()));
    assert.equal(result.status, 200);
    assert.equal(result.grpcStatus, "0");
    const response = fromBinary(DiscoveryResponseSchema, result.messages[0] as Buffer);
    assert.equal(response.typeUrl, TypeUrl.Cluster);
    assert.equal(response.resources[0]?.typeUrl, TypeUrl.Cluster);
    assert.equal(fromBinary(ClusterSchema, response.resources[0]?.value as Uint8Array).name, "c1");
  });

  it("refuses a compressed request with UNIMPLEMENTED", async () => {
    const result = await rawCall(server.address, frame(clusterRequest(), 1), { "grpc-encoding": "identity" }, false);
    assert.equal(result.grpcStatus, "12");
    assert.match(result.grpcMessage ?? "", /compressed/);
  });

  it("refuses a grpc-encoding other than identity with UNIMPLEMENTED", async () => {
    const result = await rawCall(server.address, frame(clusterRequest()), { "grpc-encoding": "gzip" }, false);
    assert.equal(result.grpcStatus, "12");
  });

  it("answers a message that does not decode with INVALID_ARGUMENT", async () => {
    const result = await rawCall(server.address, frame(Buffer.from([0xff, 0xff, 0xff, 0xff])), {}, false);
    assert.equal(result.grpcStatus, "3");
    assert.match(result.grpcMessage ?? "", /malformed request/);
  });

  it("answers a request over the size limit with RESOURCE_EXHAUSTED", async () => {
    const result = await rawCall(server.address, frame(Buffer.alloc(10_000)), {}, false);
    assert.equal(result.grpcStatus, "8");
    assert.match(result.grpcMessage ?? "", /exceeds the limit of 4096/);
  });

  it("answers a stream that ends inside a message with INVALID_ARGUMENT", async () => {
    const result = await rawCall(server.address, frame(clusterRequest()).subarray(0, 8), {}, false);
    assert.equal(result.grpcStatus, "3");
  });

  it("keeps serving after a client resets its stream with an error code", async () => {
    const session = http2.connect(`http://${server.address}`);
    try {
      const stream = openAds(session);
      stream.on("error", () => {});
      stream.write(frame(clusterRequest()));
      await new Promise<void>((resolve) => {
        stream.once("data", () => resolve());
        setTimeout(resolve, 5000).unref();
      });
      // INTERNAL_ERROR, unlike CANCEL, makes Node emit "error" on the server's stream.
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      await new Promise<void>((resolve) => stream.once("close", () => resolve()));
    } finally {
      session.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { grpcStatus, messages } = await rawCall(server.address, frame(clusterRequest()));
    assert.equal(grpcStatus, "0");
    assert.equal(messages.length, 1);
  });

  it("answers a call that is not gRPC with HTTP 415", async () => {
    const result = await rawCall(server.address, Buffer.from("{}"), { "content-type": "application/json" }, false);
    assert.equal(result.status, 415);
  });
});

describe("response encoding from shared bytes", () => {
  const resources = [0, 1, 2].map((i) => Resource.from(TypeUrl.Cluster, create(ClusterSchema, { name: `c${i}` })));

  function sotwMessage(nonce: string, shareKey: string | undefined, ttl = false) {
    const message = create(DiscoveryResponseSchema, { versionInfo: "v1", typeUrl: TypeUrl.Cluster, nonce });
    responseSources.set(message, { kind: "sotw", resources, heartbeat: ttl, shareKey });
    return message;
  }

  it("decodes to the same response a full serialization gives", () => {
    const chunks = encodeResponse(sotwMessage("7", "k1"));
    const bytes = Buffer.concat(chunks);
    assert.equal(bytes.readUInt32BE(1), bytes.length - 5);
    const decoded = fromBinary(DiscoveryResponseSchema, bytes.subarray(5));
    assert.equal(decoded.nonce, "7");
    assert.equal(decoded.versionInfo, "v1");
    assert.deepEqual(
      decoded.resources.map((a) => fromBinary(ClusterSchema, a.value).name),
      ["c0", "c1", "c2"],
    );
  });

  it("shares one resources buffer among every stream sending the same version", () => {
    const first = encodeResponse(sotwMessage("1", "shared-key"));
    const second = encodeResponse(sotwMessage("2", "shared-key"));
    assert.equal(first[1], second[1], "the same Uint8Array, not a copy");
    assert.notDeepEqual(first[0], second[0], "each stream has its own nonce");
  });

  it("encodes delta resources as discovery.v3.Resource with name and version", () => {
    const message = create(DeltaDiscoveryResponseSchema, {
      typeUrl: TypeUrl.Cluster,
      nonce: "3",
      removedResources: ["gone"],
    });
    responseSources.set(message, { kind: "delta", resources, heartbeat: false, shareKey: undefined });
    const decoded = fromBinary(DeltaDiscoveryResponseSchema, Buffer.concat(encodeResponse(message)).subarray(5));
    assert.deepEqual(decoded.removedResources, ["gone"]);
    assert.deepEqual(
      decoded.resources.map((r) => [r.name, r.version]),
      resources.map((r) => [r.name, r.version]),
    );
  });
});
