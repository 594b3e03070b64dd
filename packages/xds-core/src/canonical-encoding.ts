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

type Member = DescMessage["members"][number];

const sensitiveMembersOf = new WeakMap<DescMessage, readonly Member[]>();

/** Whether a field can hold a map, a Struct or an Any, itself or anywhere inside. */
function isSensitiveField(field: DescField): boolean {
  if (field.fieldKind === "map") return true;
  if (field.fieldKind === "message") return isOrderSensitive(field.message);
  return field.fieldKind === "list" && field.listKind === "message" && isOrderSensitive(field.message);
}

/**
 * The members of an order-sensitive message worth visiting: the rest (an
 * address, a number, a duration) cannot hold anything out of order, and an
 * endpoint list of a hundred thousand such messages need not be walked.
 */
function sensitiveMembers(schema: DescMessage): readonly Member[] {
  let members = sensitiveMembersOf.get(schema);
  if (!members) {
    members = schema.members.filter((member) =>
      member.kind === "oneof" ? member.fields.some(isSensitiveField) : isSensitiveField(member),
    );
    sensitiveMembersOf.set(schema, members);
  }
  return members;
}

/**
 * The message with its maps and Structs sorted, copied only where something
 * was out of order: most messages are canonical as they are (maps empty, of
 * one entry, or filled in key order), and then the walk allocates nothing and
 * returns `message` itself.
 */
function canonicalize(schema: DescMessage, message: Message, registry: Registry | undefined): Message {
  if (!isOrderSensitive(schema)) return message;
  if (schema.typeName === "google.protobuf.Any") return canonicalAny(message as Any, registry);
  const source = message as unknown as Record<string, unknown>;
  let init: Record<string, unknown> | undefined;
  for (const member of sensitiveMembers(schema)) {
    const value = source[member.localName];
    if (value === undefined) continue;
    let next: unknown;
    if (member.kind === "oneof") {
      const selected = value as { case: string | undefined; value?: unknown };
      const field = member.fields.find((f) => f.localName === selected.case);
      const inner = field ? canonicalValue(field, selected.value, registry) : selected.value;
      next = inner === selected.value ? value : { case: selected.case, value: inner };
    } else {
      next = canonicalValue(member, value, registry);
    }
    if (next === value) continue;
    if (!init) {
      // A fresh init (not the message itself, which `create` would hand back as is).
      const { $typeName: _name, $unknown: _unknown, ...fields } = source;
      init = fields;
    }
    init[member.localName] = next;
  }
  if (!init) return message;
  const out = create(schema, init as never);
  // Fields this build's protos do not know (a newer Envoy's) stay in the encoding.
  if (message.$unknown) out.$unknown = message.$unknown;
  return out;
}

/** `value` canonical: the same object when nothing in it changed. */
function canonicalValue(field: DescField, value: unknown, registry: Registry | undefined): unknown {
  switch (field.fieldKind) {
    case "map": {
      const map = value as Record<string, unknown>;
      let changed = !keysInOrder(map);
      const out: Record<string, unknown> = {};
      for (const key of changed ? Object.keys(map).sort() : Object.keys(map)) {
        const entry = map[key];
        const next = field.mapKind === "message" ? canonicalMessageField(field.message, field, entry, registry) : entry;
        if (next !== entry) changed = true;
        out[key] = next;
      }
      return changed ? out : value;
    }
    case "list": {
      if (field.listKind !== "message") return value;
      const list = value as unknown[];
      // Copied from the first item that changes; most lists come back as they are.
      let out: unknown[] | undefined;
      for (let i = 0; i < list.length; i++) {
        const item = list[i];
        const next = canonicalMessageField(field.message, field, item, registry);
        if (next !== item && !out) out = list.slice(0, i);
        out?.push(next);
      }
      return out ?? value;
    }
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

/** JSON with object keys in sorted order: the same value when they already are. */
function sortJson(value: unknown): unknown {
  if (Array.isArray(value)) {
    const out = value.map(sortJson);
    return out.some((item, i) => item !== value[i]) ? out : value;
  }
  if (typeof value !== "object" || value === null) return value;
  const object = value as Record<string, unknown>;
  let changed = !keysInOrder(object);
  const out: Record<string, unknown> = {};
  for (const key of changed ? Object.keys(object).sort() : Object.keys(object)) {
    const next = sortJson(object[key]);
    if (next !== object[key]) changed = true;
    out[key] = next;
  }
  return changed ? out : value;
}
