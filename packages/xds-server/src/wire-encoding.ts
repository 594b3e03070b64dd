import { toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { Resource } from "@nebucloud/xds-core";
import {
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
  ResourceSchema as WireResourceSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { type ResponseSource, responseSources, wrapped, wrappedAny } from "./discovery-response.js";

// Both responses carry their resources in field 2 (length-delimited): tag 0x12.
const resourcesTag = 0x12;

function varint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** `bytes` as one entry of field 2: tag, length, bytes. */
function resourcesEntry(bytes: Uint8Array): Uint8Array {
  const length = varint(bytes.length);
  const out = new Uint8Array(1 + length.length + bytes.length);
  out[0] = resourcesTag;
  out.set(length, 1);
  out.set(bytes, 1 + length.length);
  return out;
}

const sotwEntries = new WeakMap<Resource, Uint8Array>();
const deltaEntries = new WeakMap<Resource, Uint8Array>();
const utf8 = new TextEncoder();

/**
 * `Any { type_url, value }` as one entry of field 2, written straight into one
 * buffer: the Any's two fields are all there is to it, and going through a
 * protobuf writer would copy a large resource's bytes several times over.
 */
function anyEntry(typeUrl: string, value: Uint8Array): Uint8Array {
  const url = utf8.encode(typeUrl);
  const urlLength = varint(url.length);
  const valueLength = varint(value.length);
  const anyLength = 1 + urlLength.length + url.length + 1 + valueLength.length + value.length;
  const entryLength = varint(anyLength);
  const out = new Uint8Array(1 + entryLength.length + anyLength);
  let at = 0;
  out[at++] = resourcesTag;
  out.set(entryLength, at);
  at += entryLength.length;
  out[at++] = 0x0a; // Any.type_url, field 1, length-delimited
  out.set(urlLength, at);
  at += urlLength.length;
  out.set(url, at);
  at += url.length;
  out[at++] = 0x12; // Any.value, field 2, length-delimited
  out.set(valueLength, at);
  at += valueLength.length;
  out.set(value, at);
  return out;
}

/** A resource as a SotW `resources` entry (an Any), encoded once per resource. */
function sotwEntry(resource: Resource, heartbeat: boolean): Uint8Array {
  if (resource.ttlMs !== undefined || heartbeat) {
    // TTL wrappers carry no shared state worth caching across heartbeats.
    return resourcesEntry(toBinary(AnySchema, wrappedAny(resource, heartbeat)));
  }
  let entry = sotwEntries.get(resource);
  if (!entry) {
    entry = anyEntry(resource.typeUrl, resource.bytes);
    sotwEntries.set(resource, entry);
  }
  return entry;
}

/** A resource as a delta `resources` entry (a discovery.v3.Resource), encoded once per resource. */
function deltaEntry(resource: Resource, heartbeat: boolean): Uint8Array {
  // A heartbeat (name, version and TTL, no body) is small and rare: not cached.
  if (heartbeat) return resourcesEntry(toBinary(WireResourceSchema, wrapped(resource, true)));
  let entry = deltaEntries.get(resource);
  if (!entry) {
    entry = resourcesEntry(toBinary(WireResourceSchema, wrapped(resource, false)));
    deltaEntries.set(resource, entry);
  }
  return entry;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Encoded resource lists shared by every stream that sends the same list: the
 * first stream at a version pays for the concatenation, the rest reuse it.
 * Bounded, oldest out first: an entry is only useful while streams are still
 * being brought to its version.
 */
class SharedBodies {
  readonly #entries = new Map<string, Uint8Array>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get(key: string, build: () => Uint8Array): Uint8Array {
    let body = this.#entries.get(key);
    if (!body) {
      body = build();
      this.#entries.set(key, body);
      if (this.#entries.size > this.#max) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
      }
    }
    return body;
  }
}

const shared = new SharedBodies(64);

/**
 * A response as the byte chunks of one gRPC message: the 5-byte length prefix
 * with the small per-stream fields (version, type URL, nonce), then the
 * resources. Protobuf lets fields come in any order, so the resources can be
 * one shared buffer that is written to every stream without being copied.
 */
export function encodeResponse(message: DiscoveryResponse | DeltaDiscoveryResponse): Uint8Array[] {
  const source: ResponseSource | undefined = responseSources.get(message);
  let head: Uint8Array;
  let body: Uint8Array;
  if (source?.kind === "sotw") {
    const m = message as DiscoveryResponse;
    head = toBinary(DiscoveryResponseSchema, { ...m, resources: [] });
    const build = () => concat(source.resources.map((r) => sotwEntry(r, source.heartbeat)));
    body = source.shareKey ? shared.get(source.shareKey, build) : build();
  } else if (source?.kind === "delta") {
    const m = message as DeltaDiscoveryResponse;
    head = toBinary(DeltaDiscoveryResponseSchema, { ...m, resources: [] });
    const build = () => concat(source.resources.map((r) => deltaEntry(r, source.heartbeat)));
    body = source.shareKey ? shared.get(source.shareKey, build) : build();
  } else if (message.$typeName === "envoy.service.discovery.v3.DiscoveryResponse") {
    head = toBinary(DiscoveryResponseSchema, message);
    body = new Uint8Array(0);
  } else {
    head = toBinary(DeltaDiscoveryResponseSchema, message);
    body = new Uint8Array(0);
  }
  const length = head.length + body.length;
  const first = new Uint8Array(5 + head.length);
  new DataView(first.buffer).setUint32(1, length);
  first.set(head, 5);
  return body.length > 0 ? [first, body] : [first];
}
