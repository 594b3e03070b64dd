import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { type Any, anyPack, DurationSchema, ListValueSchema, StructSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { canonicalBinary, messageRegistry } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { MetadataSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { TypedExtensionConfigSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/extension_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { RuntimeSchema } from "@nebucloud/xds-proto/envoy/service/runtime/v3/rtds_pb";

/** An object with the given keys, inserted in that order, each holding `value(key)`. */
function filled<V>(keys: string[], value: (key: string) => V): Record<string, V> {
  const out: Record<string, V> = {};
  for (const key of keys) out[key] = value(key);
  return out;
}

const metadata = (keys: string[]) =>
  create(MetadataSchema, {
    filterMetadata: filled(keys, (key) => ({ key })),
    typedFilterMetadata: filled(keys, (key) =>
      anyPack(DurationSchema, create(DurationSchema, { seconds: BigInt(key.length) })),
    ),
  });

const extension = (keys: string[]) =>
  create(TypedExtensionConfigSchema, { name: "ext", typedConfig: anyPack(MetadataSchema, metadata(keys)) });

describe("canonicalBinary", () => {
  it("gives equal bytes to messages whose maps were filled in a different order", () => {
    assert.deepEqual(
      canonicalBinary(MetadataSchema, metadata(["a", "b", "c"])),
      canonicalBinary(MetadataSchema, metadata(["c", "a", "b"])),
    );
  });

  it("gives equal bytes to maps with number-like keys whatever the order they were filled in", () => {
    assert.deepEqual(
      canonicalBinary(MetadataSchema, metadata(["10", "9", "b", "a"])),
      canonicalBinary(MetadataSchema, metadata(["a", "9", "b", "10"])),
    );
  });

  it("writes map entries in sorted key order", () => {
    const decoded = fromBinary(MetadataSchema, canonicalBinary(MetadataSchema, metadata(["b", "c", "a"])));
    assert.deepEqual(Object.keys(decoded.filterMetadata), ["a", "b", "c"]);
  });

  it("gives equal bytes to Structs whose nested objects were filled in a different order", () => {
    const runtime = (keys: string[]) =>
      create(RuntimeSchema, { name: "rt", layer: { outer: filled(keys, (key) => [filled(keys, () => key)]) } });
    assert.deepEqual(
      canonicalBinary(RuntimeSchema, runtime(["x", "y", "z"])),
      canonicalBinary(RuntimeSchema, runtime(["z", "y", "x"])),
    );
  });

  it("gives equal bytes to Struct messages inside a ListValue whose keys were filled in a different order", () => {
    const list = (keys: string[]) =>
      create(ListValueSchema, {
        values: [
          create(ValueSchema, {
            kind: {
              case: "structValue",
              value: create(StructSchema, {
                fields: filled(keys, (key) => create(ValueSchema, { kind: { case: "stringValue", value: key } })),
              }),
            },
          }),
        ],
      });
    assert.deepEqual(
      canonicalBinary(ListValueSchema, list(["a", "b"])),
      canonicalBinary(ListValueSchema, list(["b", "a"])),
    );
  });

  it("gives equal bytes to Any fields whose packed message holds a map filled in a different order", () => {
    const first = extension(["a", "b", "c"]);
    const second = extension(["c", "b", "a"]);
    assert.notDeepEqual(toBinary(TypedExtensionConfigSchema, first), toBinary(TypedExtensionConfigSchema, second));
    assert.deepEqual(
      canonicalBinary(TypedExtensionConfigSchema, first, messageRegistry),
      canonicalBinary(TypedExtensionConfigSchema, second, messageRegistry),
    );
  });

  it("gives equal bytes to an Any packed inside an Any whose innermost map was filled in a different order", () => {
    const nested = (keys: string[]) =>
      create(TypedExtensionConfigSchema, {
        name: "outer",
        typedConfig: anyPack(TypedExtensionConfigSchema, extension(keys)),
      });
    assert.deepEqual(
      canonicalBinary(TypedExtensionConfigSchema, nested(["a", "b"]), messageRegistry),
      canonicalBinary(TypedExtensionConfigSchema, nested(["b", "a"]), messageRegistry),
    );
  });

  it("keeps the type URL prefix of an Any it re-encodes", () => {
    const message = extension(["b", "a"]);
    (message.typedConfig as Any).typeUrl = "example.com/envoy.config.core.v3.Metadata";
    const decoded = fromBinary(
      TypedExtensionConfigSchema,
      canonicalBinary(TypedExtensionConfigSchema, message, messageRegistry),
    );
    assert.equal(decoded.typedConfig?.typeUrl, "example.com/envoy.config.core.v3.Metadata");
  });

  it("leaves an Any of a type the registry does not know as it is", () => {
    const any: Any = {
      ...anyPack(DurationSchema, create(DurationSchema, { seconds: 3n })),
      typeUrl: "type.googleapis.com/example.Unknown",
    };
    const message = create(TypedExtensionConfigSchema, { name: "ext", typedConfig: any });
    assert.deepEqual(
      canonicalBinary(TypedExtensionConfigSchema, message, messageRegistry),
      toBinary(TypedExtensionConfigSchema, message),
    );
  });

  it("encodes to bytes that decode to a message equal to the original", () => {
    const message = extension(["c", "a", "b"]);
    const decoded = fromBinary(
      TypedExtensionConfigSchema,
      canonicalBinary(TypedExtensionConfigSchema, message, messageRegistry),
    );
    assert.ok(equals(TypedExtensionConfigSchema, decoded, message, { registry: messageRegistry, unpackAny: true }));
  });

  it("encodes a message without maps, Structs or Anys exactly as toBinary does", () => {
    const duration = create(DurationSchema, { seconds: 5n, nanos: 7 });
    assert.deepEqual(canonicalBinary(DurationSchema, duration), toBinary(DurationSchema, duration));
  });

  it("does not modify the message it encodes", () => {
    const message = metadata(["b", "a"]);
    canonicalBinary(MetadataSchema, message);
    assert.deepEqual(Object.keys(message.filterMetadata), ["b", "a"]);
  });

  it("keeps the unknown fields of a message that holds a map", () => {
    const known = toBinary(
      ClusterSchema,
      create(ClusterSchema, { name: "c", metadata: { filterMetadata: { a: {} } } }),
    );
    const unknown = new BinaryWriter().tag(9999, WireType.Varint).uint32(1).finish();
    const decoded = fromBinary(ClusterSchema, new Uint8Array([...known, ...unknown]));
    assert.deepEqual(canonicalBinary(ClusterSchema, decoded, messageRegistry), toBinary(ClusterSchema, decoded));
  });

  it("keeps the unknown fields of a nested message inside a list", () => {
    const cla = create(ClusterLoadAssignmentSchema, { clusterName: "c", endpoints: [{ priority: 1 }] });
    const endpoints = cla.endpoints[0];
    assert.ok(endpoints);
    endpoints.$unknown = [{ no: 9999, wireType: WireType.Varint, data: new BinaryWriter().uint32(1).finish() }];
    assert.deepEqual(canonicalBinary(ClusterLoadAssignmentSchema, cla), toBinary(ClusterLoadAssignmentSchema, cla));
  });

  it("sorts a map in a later item of a list and keeps the items before it", () => {
    const assignment = (keys: string[]) =>
      create(ClusterLoadAssignmentSchema, {
        clusterName: "c",
        endpoints: [
          {
            lbEndpoints: [
              { loadBalancingWeight: 1 },
              { loadBalancingWeight: 2, metadata: metadata(keys) },
              { loadBalancingWeight: 3 },
            ],
          },
        ],
      });
    const unordered = canonicalBinary(ClusterLoadAssignmentSchema, assignment(["b", "a"]));
    assert.deepEqual(unordered, canonicalBinary(ClusterLoadAssignmentSchema, assignment(["a", "b"])));
    const weights = fromBinary(ClusterLoadAssignmentSchema, unordered).endpoints[0]?.lbEndpoints.map(
      (e) => e.loadBalancingWeight,
    );
    assert.deepEqual(weights, [1, 2, 3]);
  });
});
