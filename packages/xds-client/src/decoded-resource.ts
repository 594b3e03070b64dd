import { fromBinary, type Message } from "@bufbuild/protobuf";
import type { Any, Duration } from "@bufbuild/protobuf/wkt";
import { Resource, type ResourceTypeRegistry, TypeUrl, XdsError } from "@nebucloud/xds-core";
import {
  type DeltaDiscoveryResponse,
  type DiscoveryResponse,
  type Resource as WireResource,
  ResourceSchema as WireResourceSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";

/** One resource of a response, decoded. */
export interface DecodedResource {
  /** The resource's name: the wrapper's name when it has one, else read from the message, as servers may send either. */
  readonly name: string;
  /**
   * The resource, or `undefined` for a TTL heartbeat (a wrapped resource
   * without a body: the client keeps what it holds and renews the TTL).
   */
  readonly resource: Resource | undefined;
  /** The decoded message (what validators see); undefined for a heartbeat. */
  readonly message: Message | undefined;
  /** The server's version of this resource: delta's per-resource version, else the content hash. */
  readonly version: string;
  /** Time to live when the server wrapped the resource with one. */
  readonly ttlMs: number | undefined;
}

function durationMs(duration: Duration | undefined): number | undefined {
  if (!duration) return undefined;
  const ms = Number(duration.seconds) * 1000 + Math.floor(duration.nanos / 1_000_000);
  return ms > 0 ? ms : undefined;
}

function decodeBody(typeUrl: string, any: Any, types: ResourceTypeRegistry, name?: string): DecodedResource {
  if (any.typeUrl !== typeUrl) {
    throw new XdsError("deserialization", `a resource of type ${any.typeUrl} in a response for ${typeUrl}`, {
      typeUrl,
      ...(name === undefined ? {} : { names: [name] }),
    });
  }
  const type = types.require(typeUrl);
  let message: Message;
  try {
    message = fromBinary(type.schema, any.value);
  } catch (cause) {
    throw new XdsError(
      "deserialization",
      `a ${typeUrl} resource${name === undefined ? "" : ` ${name}`} does not decode`,
      { typeUrl, ...(name === undefined ? {} : { names: [name] }) },
      { cause },
    );
  }
  const resourceName = name ?? type.name(message);
  const resource = Resource.fromBytes(typeUrl, resourceName, any.value, { types });
  return { name: resourceName, resource, message, version: resource.version, ttlMs: undefined };
}

function decodeWrapped(typeUrl: string, wire: WireResource, types: ResourceTypeRegistry): DecodedResource {
  const ttlMs = durationMs(wire.ttl);
  if (!wire.resource) {
    if (!wire.name) throw new XdsError("deserialization", `a ${typeUrl} heartbeat without a name`, { typeUrl });
    return { name: wire.name, resource: undefined, message: undefined, version: wire.version, ttlMs };
  }
  const decoded = decodeBody(typeUrl, wire.resource, types, wire.name || undefined);
  const resource =
    ttlMs === undefined
      ? decoded.resource
      : Resource.fromBytes(typeUrl, decoded.name, wire.resource.value, { types, ttlMs });
  return { ...decoded, resource, version: wire.version || decoded.version, ttlMs };
}

/**
 * The resources of a SotW response: bare `Any`s of the response's type, or
 * `discovery.v3.Resource` wrappers (TTL, heartbeats) unwrapped. Throws an
 * XdsError `deserialization` (or `unknown_type`) naming what failed, which the
 * client sends back as a NACK; two resources with one name are refused too.
 */
export function decodeSotwResources(response: DiscoveryResponse, types: ResourceTypeRegistry): DecodedResource[] {
  const decoded = response.resources.map((any) => {
    if (any.typeUrl === TypeUrl.Resource) {
      let wire: WireResource;
      try {
        wire = fromBinary(WireResourceSchema, any.value);
      } catch (cause) {
        throw new XdsError(
          "deserialization",
          "a discovery.v3.Resource wrapper does not decode",
          { typeUrl: response.typeUrl },
          { cause },
        );
      }
      return decodeWrapped(response.typeUrl, wire, types);
    }
    return decodeBody(response.typeUrl, any, types);
  });
  refuseDuplicates(response.typeUrl, decoded);
  return decoded;
}

/** The resources of a delta response, unwrapped; throws as {@link decodeSotwResources}. */
export function decodeDeltaResources(response: DeltaDiscoveryResponse, types: ResourceTypeRegistry): DecodedResource[] {
  const decoded = response.resources.map((wire) => decodeWrapped(response.typeUrl, wire, types));
  refuseDuplicates(response.typeUrl, decoded);
  return decoded;
}

function refuseDuplicates(typeUrl: string, decoded: readonly DecodedResource[]): void {
  const seen = new Set<string>();
  for (const { name } of decoded) {
    if (seen.has(name)) {
      throw new XdsError("deserialization", `two ${typeUrl} resources named ${JSON.stringify(name)} in one response`, {
        typeUrl,
        names: [name],
      });
    }
    seen.add(name);
  }
}
