import { create, toBinary } from "@bufbuild/protobuf";
import { type Any, AnySchema, DurationSchema } from "@bufbuild/protobuf/wkt";
import { type Resource, TypeUrl } from "@nebucloud/xds-core";
import {
  type Resource as WireResource,
  ResourceSchema as WireResourceSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";

const anyCache = new WeakMap<Resource, Any>();

/**
 * A resource as the `Any` a response carries. Built once per resource (the
 * bytes are the resource's memoized encoding) and shared by every stream.
 */
export function anyOf(resource: Resource): Any {
  let any = anyCache.get(resource);
  if (!any) {
    any = create(AnySchema, { typeUrl: resource.typeUrl, value: resource.bytes });
    anyCache.set(resource, any);
  }
  return any;
}

/**
 * A resource wrapped in `discovery.v3.Resource`, as go-control-plane sends
 * resources with a TTL. A heartbeat carries the name, version and TTL but no
 * body: the client only renews the TTL.
 */
export function wrapped(resource: Resource, heartbeat: boolean): WireResource {
  if (!heartbeat) {
    // Shared by every delta stream that sends this resource; never modified.
    let message = wrappedCache.get(resource);
    if (!message) {
      message = wrap(resource, false);
      wrappedCache.set(resource, message);
    }
    return message;
  }
  return wrap(resource, true);
}

const wrappedCache = new WeakMap<Resource, WireResource>();

function wrap(resource: Resource, heartbeat: boolean): WireResource {
  const ttlMs = resource.ttlMs ?? 0;
  return create(WireResourceSchema, {
    name: resource.name,
    version: resource.version,
    ttl: create(DurationSchema, { seconds: BigInt(Math.floor(ttlMs / 1000)), nanos: (ttlMs % 1000) * 1_000_000 }),
    ...(heartbeat ? {} : { resource: anyOf(resource) }),
  });
}

/** The `Any` of a wrapped resource, for SotW responses (type URL discovery.v3.Resource). */
export function wrappedAny(resource: Resource, heartbeat: boolean): Any {
  return create(AnySchema, {
    typeUrl: TypeUrl.Resource,
    value: toBinary(WireResourceSchema, wrapped(resource, heartbeat)),
  });
}

/**
 * What a response message was built from, so the HTTP/2 hot path can write it
 * from shared, already-encoded bytes instead of serializing the message.
 */
export interface ResponseSource {
  readonly kind: "sotw" | "delta";
  readonly resources: readonly Resource[];
  readonly heartbeat: boolean;
  /**
   * Set when the resource list is exactly what every client at this version
   * receives (SotW: all subscribed resources at a content-hash version), so its
   * encoding can be shared by every stream that sends it.
   */
  readonly shareKey: string | undefined;
}

/** Response message -> what it was built from. Entries go when the message does. */
export const responseSources = new WeakMap<object, ResponseSource>();
