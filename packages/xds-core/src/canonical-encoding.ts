import { create, type DescField, type DescMessage, type Message, type Registry, toBinary } from "@bufbuild/protobuf";
import { type Any, anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";

/**
 * Encodes `message` deterministically: map entries and JSON-object keys in
 * sorted order, and the contents of `Any` fields re-encoded the same way when
 * `registry` knows their type. Equal messages give equal bytes however their
 * maps were filled, which is what makes content-hash versions agree across
 * replicas. The message is not modified.
 */
export function canonicalBinary(schema: DescMessage, message: Message, registry?: Registry): Uint8Array {
  return toBinary(schema, canonicalize(schema, message, registry));
}

const orderSensitive = new WeakMap<DescMessage, boolean>();

/** Whether a message of this type can hold a map, a Struct or an Any anywhere inside. */
function isOrderSensitive(schema: DescMessage, visiting = new Set<DescMessage>()): boolean {
  const known = orderSensitive.get(schema);
  if (known !== undefined) return known;
  if (visiting.has(schema)) return false;
  visiting.add(schema);
  let result = schema.typeName === "google.protobuf.Any" || schema.typeName === "google.protobuf.Struct";
  for (const field of schema.fields) {
    if (result) break;
    if (field.fieldKind === "map") result = true;
    else if (field.fieldKind === "message") result = isOrderSensitive(field.message, visiting);
    else if (field.fieldKind === "list" && field.listKind === "message") {
      result = isOrderSensitive(field.message, visiting);
    }
  }
  visiting.delete(schema);
  // Only cache a definite answer: a "false" reached through a cycle may be partial.
  if (result || visiting.size === 0) orderSensitive.set(schema, result);
  return result;
}

function canonicalize(schema: DescMessage, message: Message, registry: Registry | undefined): Message {
  if (!isOrderSensitive(schema)) return message;
  if (schema.typeName === "google.protobuf.Any") return canonicalAny(message as Any, registry);
  const source = message as unknown as Record<string, unknown>;
  const init: Record<string, unknown> = {};
  for (const member of schema.members) {
    const value = source[member.localName];
    if (value === undefined) continue;
    if (member.kind === "oneof") {
      const selected = value as { case: string | undefined; value?: unknown };
      const field = member.fields.find((f) => f.localName === selected.case);
      init[member.localName] = field
        ? { case: selected.case, value: canonicalValue(field, selected.value, registry) }
        : value;
    } else {
      init[member.localName] = canonicalValue(member, value, registry);
    }
  }
  const out = create(schema, init as never);
  // Fields this build's protos do not know (a newer Envoy's) stay in the encoding.
  if (message.$unknown) out.$unknown = message.$unknown;
  return out;
}

function canonicalValue(field: DescField, value: unknown, registry: Registry | undefined): unknown {
  switch (field.fieldKind) {
    case "map": {
      const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const out: Record<string, unknown> = {};
      for (const [key, entry] of entries) {
        out[key] = field.mapKind === "message" ? canonicalMessageField(field.message, field, entry, registry) : entry;
      }
      return out;
    }
    case "list":
      return field.listKind === "message"
        ? (value as unknown[]).map((item) => canonicalMessageField(field.message, field, item, registry))
        : value;
    case "message":
      return canonicalMessageField(field.message, field, value, registry);
    default:
      return value;
  }
}

function canonicalMessageField(
  schema: DescMessage,
  field: DescField,
  value: unknown,
  registry: Registry | undefined,
): unknown {
  // protobuf-es holds Struct fields (outside google.protobuf.Value) as plain JSON objects.
  if (schema.typeName === "google.protobuf.Struct" && field.parent.typeName !== "google.protobuf.Value") {
    return sortJson(value);
  }
  if (typeof value !== "object" || value === null || !("$typeName" in value)) return value;
  return canonicalize(schema, value as Message, registry);
}

function canonicalAny(any: Any, registry: Registry | undefined): Message {
  if (!registry || any.typeUrl === "") return any;
  const inner = registry.getMessage(any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1));
  if (!inner || !isOrderSensitive(inner)) return any;
  const unpacked = anyUnpack(any, inner);
  if (!unpacked) return any;
  const packed = anyPack(inner, canonicalize(inner, unpacked, registry));
  packed.typeUrl = any.typeUrl; // keep the sender's prefix
  return packed;
}

function sortJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortJson);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortJson((value as Record<string, unknown>)[key]);
  return out;
}
