import { create, type DescField, type DescMessage, type Message, ScalarType } from "@bufbuild/protobuf";
import { anyPack, DurationSchema, isWrapperDesc } from "@bufbuild/protobuf/wkt";

/**
 * Builds a message of `schema` with every field set (the first member of each
 * oneof, one element in each list and map), `depth` levels deep, so that a
 * round trip exercises every field's encoding rather than an empty message.
 */
export function sampleMessage(schema: DescMessage, depth = 3): Message {
  const special = wellKnown(schema);
  if (special) return special;
  const init: Record<string, unknown> = {};
  for (const member of schema.members) {
    if (member.kind === "oneof") {
      const field = member.fields.find((f) => depth > 0 || f.fieldKind !== "message");
      if (field) init[member.localName] = { case: field.localName, value: singular(field, depth) };
      continue;
    }
    const field = member;
    if (field.fieldKind === "list") {
      if (field.listKind === "message" && depth === 0) continue;
      init[field.localName] = [listElement(field, depth)];
    } else if (field.fieldKind === "map") {
      if (field.mapKind === "message" && depth === 0) continue;
      const key = field.mapKey === ScalarType.BOOL ? "true" : field.mapKey === ScalarType.STRING ? "k" : "7";
      init[field.localName] = { [key]: mapValue(field, depth) };
    } else {
      if (field.fieldKind === "message" && depth === 0) continue;
      init[field.localName] = singular(field, depth);
    }
  }
  return create(schema, init as never);
}

function singular(field: DescField, depth: number): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return scalar(field.scalar);
    case "enum":
      return enumValue(field.enum.values);
    case "message":
      // protobuf-es unboxes wrappers in singular fields outside a oneof, and
      // holds Struct fields as plain JSON objects.
      if (isWrapperDesc(field.message) && !field.oneof) {
        return scalar(field.message.fields[0]?.scalar ?? ScalarType.STRING);
      }
      return messageValue(field, field.message, depth);
    default:
      throw new Error(`unexpected field kind ${field.fieldKind}`);
  }
}

function listElement(field: DescField & { fieldKind: "list" }, depth: number): unknown {
  if (field.listKind === "scalar") return scalar(field.scalar);
  if (field.listKind === "enum") return enumValue(field.enum.values);
  return messageValue(field, field.message, depth);
}

function mapValue(field: DescField & { fieldKind: "map" }, depth: number): unknown {
  if (field.mapKind === "scalar") return scalar(field.scalar);
  if (field.mapKind === "enum") return enumValue(field.enum.values);
  return messageValue(field, field.message, depth);
}

function messageValue(field: DescField, message: DescMessage, depth: number): unknown {
  if (message.typeName === "google.protobuf.Struct" && field.parent.typeName !== "google.protobuf.Value") {
    return { k: 2 };
  }
  return sampleMessage(message, depth - 1);
}

function enumValue(values: readonly { number: number }[]): number {
  return (values.find((v) => v.number !== 0) ?? values[0])?.number ?? 0;
}

function scalar(type: ScalarType): unknown {
  switch (type) {
    case ScalarType.STRING:
      return "sample";
    case ScalarType.BYTES:
      return new Uint8Array([1, 2, 3]);
    case ScalarType.BOOL:
      return true;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return 1.5;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return -5n;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return 5n;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return 7;
    default:
      return -7;
  }
}

/** Well-known types whose JSON form constrains their values. */
function wellKnown(schema: DescMessage): Message | undefined {
  switch (schema.typeName) {
    case "google.protobuf.Any":
      return anyPack(DurationSchema, create(DurationSchema, { seconds: 3n }));
    case "google.protobuf.Value":
      return create(schema, { kind: { case: "stringValue", value: "v" } } as never);
    case "google.protobuf.Struct":
      return create(schema, { fields: { k: { kind: { case: "numberValue", value: 2 } } } } as never);
    case "google.protobuf.ListValue":
      return create(schema, { values: [{ kind: { case: "boolValue", value: true } }] } as never);
    case "google.protobuf.Duration":
    case "google.protobuf.Timestamp":
      return create(schema, { seconds: 3n, nanos: 500 } as never);
    case "google.protobuf.FieldMask":
      return create(schema, { paths: ["a.b_c"] } as never);
    default:
      return undefined;
  }
}
