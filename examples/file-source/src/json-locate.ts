import {
  type DescEnum,
  type DescField,
  type DescMessage,
  fromJson,
  type JsonValue,
  type Registry,
  ScalarType,
} from "@bufbuild/protobuf";
import { base64Problem } from "./strict-base64.js";

/** Well-known types whose JSON form is not an object of their fields. */
const opaqueJson = new Set([
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  "google.protobuf.FieldMask",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
  "google.protobuf.Empty",
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

/** Where in a JSON resource a decoding problem is, as a proto field path. */
export interface JsonProblem {
  readonly path: string;
  readonly message: string;
}

/**
 * Walks proto3 JSON against its schema and returns the first key that is not
 * a field (or an `@type` the registry does not know), or the first value of
 * the wrong kind (a `bytes` field that is not strict base64 included), with
 * its path. protobuf-es says which key is unknown but not where, and decodes
 * bad base64 without a word; a user editing a deep Listener needs the where.
 */
export function locateJsonProblem(
  schema: DescMessage,
  json: unknown,
  registry: Registry,
  path = "",
): JsonProblem | undefined {
  if (opaqueJson.has(schema.typeName)) return undefined;
  if (schema.typeName === "google.protobuf.Any") {
    if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
    const { "@type": typeUrl, ...rest } = json as Record<string, unknown>;
    if (typeof typeUrl !== "string") return { path, message: 'an Any needs an "@type"' };
    const inner = registry.getMessage(typeUrl.slice(typeUrl.lastIndexOf("/") + 1));
    if (!inner) return { path: join(path, "@type"), message: `unknown @type ${JSON.stringify(typeUrl)}` };
    // A well-known type packed in an Any keeps its JSON form under "value".
    if (opaqueJson.has(inner.typeName)) {
      return "value" in rest ? wellKnownProblem(inner, rest["value"], registry, join(path, "value")) : undefined;
    }
    return locateJsonProblem(inner, rest, registry, path);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { path, message: `expected an object (${schema.typeName})` };
  }
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const field = schema.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) return { path: join(path, key), message: `unknown field ${JSON.stringify(key)} in ${schema.typeName}` };
    if (value === null) continue;
    const problem = locateField(field, value, registry, join(path, field.name));
    if (problem) return problem;
  }
  return undefined;
}

/** A value that cannot be the JSON of a well-known type (Duration "1x", say). */
function wellKnownProblem(
  schema: DescMessage,
  value: unknown,
  registry: Registry,
  path: string,
): JsonProblem | undefined {
  if (!opaqueJson.has(schema.typeName)) return undefined;
  if (schema.typeName === "google.protobuf.BytesValue" && typeof value === "string") {
    const reason = base64Problem(value);
    if (reason) return { path, message: reason };
  }
  try {
    fromJson(schema, value as JsonValue, { registry });
    return undefined;
  } catch (error) {
    const reason = (error as Error).message.replace(/^cannot decode [^:]*: /, "");
    return { path, message: `${JSON.stringify(value)} is not a valid ${schema.typeName} (${reason})` };
  }
}

function enumProblem(desc: DescEnum, value: unknown, path: string): JsonProblem | undefined {
  if (typeof value === "number" && Number.isInteger(value)) return undefined;
  if (typeof value === "string" && desc.values.some((v) => v.name === value)) return undefined;
  const names = desc.values.map((v) => v.name);
  return {
    path,
    message: `${JSON.stringify(value)} is not a value of ${desc.typeName}; expected one of ${names.slice(0, 12).join(", ")}${names.length > 12 ? ", ..." : ""}`,
  };
}

/** proto3 JSON spells these float and double values as strings. */
const specialFloats = new Set(["NaN", "Infinity", "-Infinity"]);

function scalarProblem(type: ScalarType, value: unknown, path: string): JsonProblem | undefined {
  if (type === ScalarType.BYTES && typeof value === "string") {
    const reason = base64Problem(value);
    return reason ? { path, message: reason } : undefined;
  }
  if ((type === ScalarType.FLOAT || type === ScalarType.DOUBLE) && specialFloats.has(value as string)) return undefined;
  const ok =
    type === ScalarType.STRING || type === ScalarType.BYTES
      ? typeof value === "string"
      : type === ScalarType.BOOL
        ? typeof value === "boolean"
        : typeof value === "number" ||
          (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value)));
  const expected =
    type === ScalarType.STRING || type === ScalarType.BYTES
      ? "a string"
      : type === ScalarType.BOOL
        ? "true or false"
        : "a number";
  return ok ? undefined : { path, message: `${JSON.stringify(value)} is not ${expected}` };
}

function locateField(field: DescField, value: unknown, registry: Registry, path: string): JsonProblem | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return scalarProblem(field.scalar, value, path);
    case "enum":
      return enumProblem(field.enum, value, path);
    case "message":
      return (
        wellKnownProblem(field.message, value, registry, path) ??
        locateJsonProblem(field.message, value, registry, path)
      );
    case "list":
      if (!Array.isArray(value)) return { path, message: "expected a list" };
      for (const [i, item] of value.entries()) {
        const at = `${path}[${i}]`;
        const problem =
          field.listKind === "message"
            ? (wellKnownProblem(field.message, item, registry, at) ??
              locateJsonProblem(field.message, item, registry, at))
            : field.listKind === "enum"
              ? enumProblem(field.enum, item, at)
              : scalarProblem(field.scalar, item, at);
        if (problem) return problem;
      }
      return undefined;
    case "map":
      if (typeof value !== "object" || Array.isArray(value)) return { path, message: "expected an object (map)" };
      if (field.mapKind !== "message") return undefined;
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        const problem = locateJsonProblem(field.message, item, registry, `${path}[${JSON.stringify(key)}]`);
        if (problem) return problem;
      }
      return undefined;
    default:
      return undefined;
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
