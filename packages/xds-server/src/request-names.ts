import { fromBinary } from "@bufbuild/protobuf";
import {
  type DiscoveryRequest,
  DiscoveryRequestSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";

// DiscoveryRequest.resource_names.
const namesField = 3;
// Below this the names decode faster than the span can be looked up.
const minSpanBytes = 256;

interface NamesSpan {
  readonly start: number;
  readonly end: number;
}

/** The varint at `at`, and where it ends; undefined past the end or over 32 bits. */
function varintAt(bytes: Uint8Array, at: number): [value: number, end: number] | undefined {
  let value = 0;
  for (let shift = 0, i = at; i < bytes.length && shift < 35; shift += 7, i++) {
    const byte = bytes[i] as number;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, i + 1];
  }
  return undefined;
}

/**
 * Where the resource_names entries of an encoded request lie, when they lie
 * side by side (as every encoder writes a repeated field); undefined when
 * they do not, or when the bytes are not plain fields (fromBinary then
 * decodes them, or says what is wrong). A walk over tags and lengths only:
 * no string is decoded.
 */
function namesSpan(bytes: Uint8Array): NamesSpan | undefined {
  let start = -1;
  let end = -1;
  let at = 0;
  while (at < bytes.length) {
    const tag = varintAt(bytes, at);
    if (!tag) return undefined;
    const [key, afterTag] = tag;
    const wireType = key & 7;
    let next: number;
    if (wireType === 2) {
      const length = varintAt(bytes, afterTag);
      if (!length) return undefined;
      next = length[1] + length[0];
    } else if (wireType === 0) {
      const value = varintAt(bytes, afterTag);
      if (!value) return undefined;
      next = value[1];
    } else if (wireType === 1) next = afterTag + 8;
    else if (wireType === 5) next = afterTag + 4;
    else return undefined; // groups: let fromBinary handle them
    if (next > bytes.length) return undefined;
    if (key >>> 3 === namesField) {
      if (wireType !== 2) return undefined;
      if (start === -1) start = at;
      else if (at !== end) return undefined;
      end = next;
    }
    at = next;
  }
  return start === -1 || end - start < minSpanBytes ? undefined : { start, end };
}

/**
 * Decodes SotW requests, sharing one frozen resource_names list among all
 * requests that carry the same names. Envoy repeats its whole subscription in
 * every request, ACKs included, and a fleet subscribes to the same thousand
 * endpoint names: decoding them once, not once per request per stream, is
 * most of the cost of taking in requests. Bounded by the bytes of the names
 * it holds, least recently used out first.
 */
export class RequestNames {
  readonly #lists = new Map<string, readonly string[]>();
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes = 8 * 1024 * 1024) {
    this.#maxBytes = maxBytes;
  }

  decode(bytes: Uint8Array): DiscoveryRequest {
    const span = namesSpan(bytes);
    if (!span || span.end - span.start > this.#maxBytes) return fromBinary(DiscoveryRequestSchema, bytes);
    // latin1 maps each byte to one char: equal keys are equal bytes.
    const key = Buffer.from(bytes.buffer, bytes.byteOffset + span.start, span.end - span.start).toString("latin1");
    const names = this.#lists.get(key);
    if (!names) {
      const request = fromBinary(DiscoveryRequestSchema, bytes);
      this.#remember(key, Object.freeze(request.resourceNames) as readonly string[]);
      return request;
    }
    // Most recently used last, so that eviction takes the coldest list.
    this.#lists.delete(key);
    this.#lists.set(key, names);
    const rest = new Uint8Array(bytes.length - (span.end - span.start));
    rest.set(bytes.subarray(0, span.start));
    rest.set(bytes.subarray(span.end), span.start);
    const request = fromBinary(DiscoveryRequestSchema, rest);
    request.resourceNames = names as string[];
    return request;
  }

  #remember(key: string, names: readonly string[]): void {
    this.#lists.set(key, names);
    this.#bytes += key.length;
    for (const [oldest] of this.#lists) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#lists.delete(oldest);
      this.#bytes -= oldest.length;
    }
  }
}
