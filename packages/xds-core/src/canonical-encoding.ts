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
  // Most messages are canonical as they are (their maps are empty, have one
  // entry or were filled in order): checking costs a walk, rebuilding a copy.
  const canonical = isCanonical(schema, message, registry) ? message : canonicalize(schema, message, registry);
  return toBinary(schema, canonical);
}

/** Whether an object's own keys iterate as they would once sorted (integer-like keys come first in any object). */
function keysInOrder(value: object): boolean {
  let previous: string | undefined;
  let previousIndex = false;
  for (const key of Object.keys(value)) {
    const index = /^(0|[1-9]\d{0,9})$/.test(key) && Number(key) < 4_294_967_295;
    if (previous !== undefined && !index && !previousIndex && !(previous < key)) return false;
    previous = key;
    previousIndex = index;
  }
  return true;
}

/** Whether {@link canonicalize} would leave `message` as it is (so its plain encoding is canonical). */
function isCanonical(schema: DescMessage, message: Message, registry: Registry | undefined): boolean {
  if (!isOrderSensitive(schema)) return true;
  if (schema.typeName === "google.protobuf.Any") return anyIsCanonical(message as Any, registry);
  const source = message as unknown as Record<string, unknown>;
  for (const member of schema.members) {
    const value = source[member.localName];
    if (value === undefined) continue;
    if (member.kind === "oneof") {
      const selected = value as { case: string | undefined; value?: unknown };
      const field = member.fields.find((f) => f.localName === selected.case);
      if (field && !valueIsCanonical(field, selected.value, registry)) return false;
    } else if (!valueIsCanonical(member, value, registry)) {
      return false;
    }
  }
  return true;
}

function valueIsCanonical(field: DescField, value: unknown, registry: Registry | undefined): boolean {
  switch (field.fieldKind) {
    case "map": {
      const map = value as Record<string, unknown>;
      if (!keysInOrder(map)) return false;
      if (field.mapKind !== "message") return true;
      for (const key in map) if (!messageFieldIsCanonical(field.message, field, map[key], registry)) return false;
      return true;
    }
    case "list":
      if (field.listKind !== "message") return true;
      for (const item of value as unknown[]) {
        if (!messageFieldIsCanonical(field.message, field, item, registry)) return false;
      }
      return true;
    case "message":
      return messageFieldIsCanonical(field.message, field, value, registry);
    default:
      return true;
  }
}

function messageFieldIsCanonical(
  schema: DescMessage,
  field: DescField,
  value: unknown,
  registry: Registry | undefined,
): boolean {
  if (schema.typeName === "google.protobuf.Struct" && field.parent.typeName !== "google.protobuf.Value") {
    return jsonIsCanonical(value);
  }
  if (typeof value !== "object" || value === null || !("$typeName" in value)) return true;
  return isCanonical(schema, value as Message, registry);
}

function jsonIsCanonical(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(jsonIsCanonical);
  if (typeof value !== "object" || value === null) return true;
  if (!keysInOrder(value)) return false;
  for (const item of Object.values(value)) if (!jsonIsCanonical(item)) return false;
  return true;
}

/** An Any's bytes can only be known canonical by decoding them: one whose type could hold a map is not assumed so. */
function anyIsCanonical(any: Any, registry: Registry | undefined): boolean {
  if (!registry || any.typeUrl === "") return true;
  const inner = registry.getMessage(any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1));
  return !inner || !isOrderSensitive(inner);
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
