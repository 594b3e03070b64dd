import { create, type JsonValue, toJson } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { Resource } from "@nebucloud/xds-core";
import { registry } from "@nebucloud/xds-proto";

/**
 * A resource as proto3 JSON with its `@type` first (the form Envoy's config
 * dump and the file-source config use), `Any` fields resolved through the
 * registry of every generated Envoy message.
 */
export function resourceJson(resource: Resource): JsonValue {
  const json = toJson(AnySchema, create(AnySchema, { typeUrl: resource.typeUrl, value: resource.bytes }), { registry });
  if (json === null || typeof json !== "object" || Array.isArray(json)) return json;
  const { "@type": type, ...fields } = json;
  return { "@type": type ?? resource.typeUrl, ...fields };
}
