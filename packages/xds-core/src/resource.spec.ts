import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, equals, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { Resource, resourceEncodingCount, TypeUrl, XdsError } from "@nebucloud/xds-core";
import {
  type Cluster,
  Cluster_DiscoveryType,
  ClusterSchema,
} from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { type Listener, ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import { HttpConnectionManagerSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb";
import { HttpProtocolOptionsSchema } from "@nebucloud/xds-proto/envoy/extensions/upstreams/http/v3/http_protocol_options_pb";
import { TcpProtocolOptionsSchema } from "@nebucloud/xds-proto/envoy/extensions/upstreams/tcp/v3/tcp_protocol_options_pb";
import { type Runtime, RuntimeSchema } from "@nebucloud/xds-proto/envoy/service/runtime/v3/rtds_pb";

function cluster(name: string, init: Exclude<MessageInitShape<typeof ClusterSchema>, Cluster> = {}): Cluster {
  return create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: { configSourceSpecifier: { case: "ads", value: {} } } },
    connectTimeout: { seconds: 1n },
    ...init,
  });
}

/** An object with the given keys, inserted in that order, each holding `value(key)`. */
function filled<V>(keys: string[], value: (key: string) => V): Record<string, V> {
  const out: Record<string, V> = {};
  for (const key of keys) out[key] = value(key);
  return out;
}

/** A cluster whose metadata.filter_metadata (a map of Structs) was filled in the given key order. */
const clusterWithMetadata = (keys: string[]) =>
  cluster("m", { metadata: { filterMetadata: filled(keys, (key) => filled(["b", "a"], () => key)) } });

/** A cluster whose typed_extension_protocol_options (a map of Any) was filled in the given key order. */
const clusterWithProtocolOptions = (keys: string[]) =>
  cluster("p", {
    typedExtensionProtocolOptions: filled(keys, (key) =>
      key.includes("http")
        ? anyPack(HttpProtocolOptionsSchema, create(HttpProtocolOptionsSchema))
        : anyPack(TcpProtocolOptionsSchema, create(TcpProtocolOptionsSchema, { idleTimeout: { seconds: 60n } })),
    ),
  });

/** A listener whose HCM, packed in an Any, holds an inline route whose metadata was filled in the given key order. */
function listenerWithMetadataInAny(keys: string[]): Listener {
  const hcm = create(HttpConnectionManagerSchema, {
    statPrefix: "http",
    routeSpecifier: {
      case: "routeConfig",
      value: { name: "inline", metadata: { filterMetadata: filled(keys, (key) => ({ key })) } },
    },
  });
  return create(ListenerSchema, {
    name: "l",
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, hcm) },
          },
        ],
      },
    ],
  });
}

/** A runtime whose layer (a Struct field) and a Struct nested in it were filled in the given key order. */
const runtimeWithLayer = (keys: string[]): Runtime =>
  create(RuntimeSchema, { name: "rt", layer: filled(keys, (key) => filled(keys, () => key)) });

describe("Resource", () => {
  it("does not encode its message until bytes or version are read", () => {
    const before = resourceEncodingCount();
    Resource.from(TypeUrl.Cluster, cluster("lazy"));
    assert.equal(resourceEncodingCount(), before);
  });

  it("encodes its message exactly once however often bytes and version are read", () => {
    const resource = Resource.from(TypeUrl.Cluster, cluster("memo"));
    const before = resourceEncodingCount();
    for (let i = 0; i < 10; i++) {
      assert.ok(resource.bytes.length > 0);
      assert.ok(resource.version.length > 0);
    }
    assert.equal(resourceEncodingCount(), before + 1);
  });

  it("returns the same bytes object on every read", () => {
    const resource = Resource.from(TypeUrl.Cluster, cluster("same"));
    assert.equal(resource.bytes, resource.bytes);
  });

  it("has bytes that decode to its message", () => {
    const message = cluster("decode");
    const resource = Resource.from(TypeUrl.Cluster, message);
    assert.ok(equals(ClusterSchema, fromBinary(ClusterSchema, resource.bytes), message));
  });

  it("has a version that is the SHA-256 of its bytes in 64 hex digits", () => {
    assert.match(Resource.from(TypeUrl.Cluster, cluster("v")).version, /^[0-9a-f]{64}$/);
  });

  it("gives equal versions to equal resources built separately", () => {
    assert.equal(
      Resource.from(TypeUrl.Cluster, cluster("a")).version,
      Resource.from(TypeUrl.Cluster, cluster("a")).version,
    );
  });

  it("gives different versions to resources whose content differs", () => {
    assert.notEqual(
      Resource.from(TypeUrl.Cluster, cluster("a")).version,
      Resource.from(TypeUrl.Cluster, cluster("a", { connectTimeout: { seconds: 2n } })).version,
    );
  });

  it("gives equal bytes and versions to clusters whose filter_metadata map was filled in a different order", () => {
    const [first, second] = [
      ["x", "y", "z"],
      ["z", "x", "y"],
    ].map(clusterWithMetadata) as [Cluster, Cluster];
    assert.notDeepEqual(toBinary(ClusterSchema, first), toBinary(ClusterSchema, second)); // the order shows without canonical encoding
    const a = Resource.from(TypeUrl.Cluster, first);
    const b = Resource.from(TypeUrl.Cluster, second);
    assert.deepEqual(a.bytes, b.bytes);
    assert.equal(a.version, b.version);
  });

  it("gives equal versions to clusters whose typed_extension_protocol_options map of Any was filled in a different order", () => {
    const keys = [
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      "envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions",
    ];
    const [first, second] = [keys, [...keys].reverse()].map(clusterWithProtocolOptions) as [Cluster, Cluster];
    assert.notDeepEqual(toBinary(ClusterSchema, first), toBinary(ClusterSchema, second));
    assert.equal(Resource.from(TypeUrl.Cluster, first).version, Resource.from(TypeUrl.Cluster, second).version);
  });

  it("gives equal versions to listeners whose HCM, packed in an Any, holds a map filled in a different order", () => {
    const first = listenerWithMetadataInAny(["a", "b", "c"]);
    const second = listenerWithMetadataInAny(["c", "b", "a"]);
    assert.notDeepEqual(toBinary(ListenerSchema, first), toBinary(ListenerSchema, second));
    assert.equal(Resource.from(TypeUrl.Listener, first).version, Resource.from(TypeUrl.Listener, second).version);
  });

  it("gives equal versions to runtimes whose Struct layer was filled in a different order", () => {
    const first = runtimeWithLayer(["a", "b", "c"]);
    const second = runtimeWithLayer(["c", "a", "b"]);
    assert.notDeepEqual(toBinary(RuntimeSchema, first), toBinary(RuntimeSchema, second));
    assert.equal(Resource.from(TypeUrl.Runtime, first).version, Resource.from(TypeUrl.Runtime, second).version);
  });

  it("gives different versions to maps holding different values under the same keys", () => {
    const first = cluster("m", { metadata: { filterMetadata: { x: { k: 1 } } } });
    const second = cluster("m", { metadata: { filterMetadata: { x: { k: 2 } } } });
    assert.notEqual(Resource.from(TypeUrl.Cluster, first).version, Resource.from(TypeUrl.Cluster, second).version);
  });

  it("does not modify the message it wraps when encoding it", () => {
    const message = clusterWithMetadata(["y", "x"]);
    void Resource.from(TypeUrl.Cluster, message).bytes;
    assert.deepEqual(Object.keys(message.metadata?.filterMetadata ?? {}), ["y", "x"]);
  });

  it("keeps the message it wraps", () => {
    const message = cluster("kept");
    assert.equal(Resource.from(TypeUrl.Cluster, message).message, message);
  });

  it("carries its type URL and TTL", () => {
    const resource = Resource.from(TypeUrl.Cluster, cluster("ttl"), { ttlMs: 30_000 });
    assert.equal(resource.typeUrl, TypeUrl.Cluster);
    assert.equal(resource.ttlMs, 30_000);
  });

  it("has no TTL unless given one", () => {
    assert.equal(Resource.from(TypeUrl.Cluster, cluster("no-ttl")).ttlMs, undefined);
  });

  it("throws invalid_config when the message is not of the type URL's type", () => {
    assert.throws(
      () => Resource.from(TypeUrl.Listener, cluster("wrong")),
      (error: unknown) =>
        error instanceof XdsError && error.code === "invalid_config" && error.details.typeUrl === TypeUrl.Listener,
    );
  });

  it("throws unknown_type when the type URL is not registered", () => {
    assert.throws(
      () => Resource.from("type.googleapis.com/google.protobuf.Duration", create(DurationSchema)),
      (error: unknown) => error instanceof XdsError && error.code === "unknown_type",
    );
  });
});

describe("Resource.fromBytes", () => {
  it("gives the version of the resource its bytes came from", () => {
    const original = Resource.from(TypeUrl.Cluster, clusterWithMetadata(["b", "a"]));
    const copy = Resource.fromBytes(TypeUrl.Cluster, original.name, original.bytes);
    assert.equal(copy.version, original.version);
  });

  it("decodes to a message equal to the original", () => {
    const original = Resource.from(TypeUrl.Cluster, cluster("round-trip"));
    const copy = Resource.fromBytes(TypeUrl.Cluster, original.name, original.bytes);
    assert.ok(equals(ClusterSchema, copy.message as Cluster, original.message));
  });

  it("keeps the bytes it was given without encoding again", () => {
    const bytes = Resource.from(TypeUrl.Cluster, cluster("kept-bytes")).bytes;
    const before = resourceEncodingCount();
    const copy = Resource.fromBytes(TypeUrl.Cluster, "kept-bytes", bytes);
    assert.equal(copy.bytes, bytes);
    assert.ok(copy.version.length > 0);
    assert.equal(resourceEncodingCount(), before);
  });

  it("does not decode its bytes until the message is read", () => {
    const corrupt = new Uint8Array([0x0a, 0x05, 0x61]);
    const resource = Resource.fromBytes(TypeUrl.Cluster, "corrupt", corrupt);
    assert.match(resource.version, /^[0-9a-f]{64}$/);
  });

  it("takes its name from the caller", () => {
    const bytes = Resource.from(TypeUrl.Cluster, cluster("real")).bytes;
    assert.equal(Resource.fromBytes(TypeUrl.Cluster, "alias", bytes).name, "alias");
  });

  it("reads references from the decoded message", () => {
    const bytes = Resource.from(TypeUrl.Cluster, cluster("refs")).bytes;
    assert.deepEqual(
      [...Resource.fromBytes(TypeUrl.Cluster, "refs", bytes).references],
      [[TypeUrl.Endpoint, ["refs"]]],
    );
  });

  it("gives a message decoded from bytes the version of those bytes even when it carries fields unknown to this build", () => {
    const known = Resource.from(TypeUrl.Cluster, clusterWithMetadata(["a", "b"])).bytes;
    const unknownField = new Uint8Array([0xf8, 0xf0, 0x04, 0x01]); // field 9999, varint 1
    const bytes = new Uint8Array([...known, ...unknownField]);
    assert.equal(
      Resource.from(TypeUrl.Cluster, fromBinary(ClusterSchema, bytes)).version,
      Resource.fromBytes(TypeUrl.Cluster, "m", bytes).version,
    );
  });

  it("throws deserialization naming the resource when the message of corrupt bytes is read", () => {
    const resource = Resource.fromBytes(TypeUrl.Cluster, "corrupt", new Uint8Array([0x0a, 0x05, 0x61]));
    assert.throws(
      () => resource.message,
      (error: unknown) =>
        error instanceof XdsError &&
        error.code === "deserialization" &&
        error.details.typeUrl === TypeUrl.Cluster &&
        error.details.names?.[0] === "corrupt" &&
        error.cause instanceof Error,
    );
  });

  it("throws unknown_type when the type URL is not registered", () => {
    assert.throws(
      () => Resource.fromBytes("type.googleapis.com/example.Nope", "x", new Uint8Array()),
      (error: unknown) => error instanceof XdsError && error.code === "unknown_type",
    );
  });
});
