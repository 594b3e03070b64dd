import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl, XdsError } from "@nebucloud/xds-core";
import { Cluster_DiscoveryType, ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import {
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { StatusSchema } from "@nebucloud/xds-proto/google/rpc/status_pb";
import { SotwStream } from "./sotw-stream.js";

const node = create(NodeSchema, { id: "node-1" });
const eds = (name: string) =>
  create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName: name },
  });
const cla = (name: string, port: number) =>
  create(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: [
      {
        lbEndpoints: [
          {
            hostIdentifier: {
              case: "endpoint",
              value: {
                address: {
                  address: {
                    case: "socketAddress",
                    value: { address: "127.0.0.1", portSpecifier: { case: "portValue", value: port } },
                  },
                },
              },
            },
          },
        ],
      },
    ],
  });

function snapshot(port: number, names = ["a", "b"]) {
  return Snapshot.fromResources({
    [TypeUrl.Cluster]: names.map(eds),
    [TypeUrl.Endpoint]: names.map((n) => cla(n, port)),
  });
}

function request(init: Partial<DiscoveryRequest>): DiscoveryRequest {
  return create(DiscoveryRequestSchema, init as never);
}

function harness(options: { typeUrl?: string } = {}) {
  const cache = new SnapshotCache();
  const sent: DiscoveryResponse[] = [];
  const nacks: string[] = [];
  // Drains like a transport whose client reads everything at once.
  const stream: SotwStream = new SotwStream({
    cache,
    onPending: () =>
      queueMicrotask(() => {
        for (let r = stream.takeNext(); r; r = stream.takeNext()) sent.push(r);
      }),
    ...(options.typeUrl ? { typeUrl: options.typeUrl } : {}),
    hooks: { onNack: (_t, _v, message) => nacks.push(message) },
  });
  return { cache, sent, nacks, stream };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("a SotW stream", () => {
  it("rejects a first request without node.id with invalid_request", () => {
    const { stream } = harness();
    assert.throws(
      () => stream.handle(request({ typeUrl: TypeUrl.Cluster })),
      (e: unknown) => e instanceof XdsError && e.code === "invalid_request" && e.details.field === "node.id",
    );
  });

  it("rejects an ADS request without type_url with invalid_request", () => {
    const { stream } = harness();
    assert.throws(
      () => stream.handle(request({ node })),
      (e: unknown) => e instanceof XdsError && e.code === "invalid_request" && e.details.field === "type_url",
    );
  });

  it("rejects an unknown type URL with unknown_type", () => {
    const { stream } = harness();
    assert.throws(
      () => stream.handle(request({ node, typeUrl: "type.googleapis.com/no.Such" })),
      (e: unknown) => e instanceof XdsError && e.code === "unknown_type" && e.grpcStatus === 3,
    );
  });

  it("answers a legacy wildcard CDS request with every cluster and a fresh nonce", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot(1));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster }));
    await tick();
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.resources.length, 2);
    assert.notEqual(sent[0]?.nonce, "");
  });

  it("ignores a request whose nonce is stale", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot(1));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster }));
    await tick();
    cache.setSnapshot("node-1", snapshot(1, ["a"]));
    stream.handle(request({ typeUrl: TypeUrl.Cluster, versionInfo: "old", responseNonce: "stale" }));
    await tick();
    assert.equal(sent.length, 1, "the stale request opened no watch");
    const first = sent[0] as DiscoveryResponse;
    stream.handle(request({ typeUrl: TypeUrl.Cluster, versionInfo: first.versionInfo, responseNonce: first.nonce }));
    await tick();
    assert.equal(sent.length, 2);
    assert.notEqual(sent[1]?.nonce, first.nonce);
    assert.notEqual(sent[1]?.versionInfo, first.versionInfo);
  });

  it("records a NACK with the client's text and does not send the rejected version again", async () => {
    const { cache, sent, nacks, stream } = harness();
    cache.setSnapshot("node-1", snapshot(1));
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster }));
    await tick();
    const first = sent[0] as DiscoveryResponse;
    stream.handle(
      request({
        typeUrl: TypeUrl.Cluster,
        versionInfo: "",
        responseNonce: first.nonce,
        errorDetail: create(StatusSchema, { code: 3, message: "cluster a: bad" }),
      }),
    );
    await tick();
    assert.deepEqual(nacks, ["cluster a: bad"]);
    assert.equal(sent.length, 1, "no re-send of the NACKed version");
    assert.deepEqual(stream.status()[0]?.nack, { version: first.versionInfo, message: "cluster a: bad" });
    cache.setSnapshot("node-1", snapshot(2, ["a", "b", "c"]));
    await tick();
    assert.equal(sent.length, 2, "the next snapshot is delivered normally");
  });

  it("writes clusters before endpoints when one snapshot changes both", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot(1));
    // Subscribe EDS first so that the cache's watch order is the wrong one.
    stream.handle(request({ node, typeUrl: TypeUrl.Endpoint, resourceNames: ["a", "b"] }));
    stream.handle(request({ typeUrl: TypeUrl.Cluster }));
    await tick();
    const [e, c] = sent.splice(0);
    for (const r of [e, c] as DiscoveryResponse[]) {
      stream.handle(
        request({
          typeUrl: r.typeUrl,
          versionInfo: r.versionInfo,
          responseNonce: r.nonce,
          resourceNames: r.typeUrl === TypeUrl.Endpoint ? ["a", "b"] : [],
        }),
      );
    }
    cache.setSnapshot("node-1", snapshot(2, ["a", "b", "c"]));
    await tick();
    assert.deepEqual(
      sent.map((r) => r.typeUrl),
      [TypeUrl.Cluster, TypeUrl.Endpoint],
    );
  });

  it("forgets returned resources the client unsubscribes from and re-sends them on resubscribe", async () => {
    const { cache, sent, stream } = harness();
    cache.setSnapshot("node-1", snapshot(1));
    stream.handle(request({ node, typeUrl: TypeUrl.Endpoint, resourceNames: ["a"] }));
    await tick();
    let last = sent.at(-1) as DiscoveryResponse;
    stream.handle(
      request({
        typeUrl: TypeUrl.Endpoint,
        resourceNames: [],
        versionInfo: last.versionInfo,
        responseNonce: last.nonce,
      }),
    );
    await tick();
    last = sent.at(-1) as DiscoveryResponse;
    stream.handle(
      request({
        typeUrl: TypeUrl.Endpoint,
        resourceNames: ["a"],
        versionInfo: last.versionInfo,
        responseNonce: last.nonce,
      }),
    );
    await tick();
    const resent = sent.at(-1) as DiscoveryResponse;
    assert.equal(resent.resources.length, 1);
  });

  it("sends nothing after close and cancels its watches", async () => {
    const { cache, sent, stream } = harness();
    stream.handle(request({ node, typeUrl: TypeUrl.Cluster }));
    assert.equal(cache.numWatches(), 1);
    stream.close();
    assert.equal(cache.numWatches(), 0);
    cache.setSnapshot("node-1", snapshot(1));
    await tick();
    assert.equal(sent.length, 0);
  });

  it("serves only its own type on a per-type service", () => {
    const { stream } = harness({ typeUrl: TypeUrl.Cluster });
    assert.throws(
      () => stream.handle(request({ node, typeUrl: TypeUrl.Listener })),
      (e: unknown) => e instanceof XdsError && e.code === "invalid_request",
    );
    stream.handle(request({ node }));
  });
});
