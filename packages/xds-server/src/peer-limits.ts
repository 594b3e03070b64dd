import { XdsError } from "@nebucloud/xds-core";
import type { Peer } from "./peer.js";
import { TokenBucket } from "./token-bucket.js";

/**
 * Per-peer budgets: open xDS streams and requests per second. A peer is its
 * verified certificate's first identity, else its IP address, so one client
 * cannot take the fleet's share by opening more connections. Entries live only
 * while the peer has a stream open.
 */
export class PeerLimits {
  readonly #maxStreams: number;
  readonly #rate: number;
  readonly #peers = new Map<string, { streams: number; bucket: TokenBucket | undefined }>();

  constructor(maxStreams: number, requestsPerSecond: number) {
    this.#maxStreams = maxStreams;
    this.#rate = requestsPerSecond;
  }

  /** Whether any limit is on (else no stream need call in). */
  get active(): boolean {
    return this.#maxStreams > 0 || this.#rate > 0;
  }

  /**
   * Counts a new stream of `peer`; throws `resource_exhausted` past the
   * stream limit. Returns what the stream calls per request and on close.
   */
  open(peer: Peer): { request(): void; close(): void } {
    const key = peerKeyOf(peer);
    let entry = this.#peers.get(key);
    if (this.#maxStreams > 0 && (entry?.streams ?? 0) >= this.#maxStreams) {
      throw new XdsError(
        "resource_exhausted",
        `peer ${key} has ${entry?.streams} open xDS streams, the limit (maxStreamsPerPeer ${this.#maxStreams})`,
        { limit: this.#maxStreams, reason: "maxStreamsPerPeer" },
      );
    }
    if (!entry) {
      entry = {
        streams: 0,
        bucket: this.#rate > 0 ? new TokenBucket(this.#rate, Math.ceil(this.#rate * 2)) : undefined,
      };
      this.#peers.set(key, entry);
    }
    entry.streams++;
    const held = entry;
    let closed = false;
    return {
      request: () => {
        if (held.bucket && !held.bucket.take()) {
          throw new XdsError(
            "resource_exhausted",
            `peer ${key} sends more than ${this.#rate} requests per second (requestsPerSecondPerPeer); retry with backoff`,
            { limit: this.#rate, reason: "requestsPerSecondPerPeer" },
          );
        }
      },
      close: () => {
        if (closed) return;
        closed = true;
        held.streams--;
        if (held.streams === 0 && this.#peers.get(key) === held) this.#peers.delete(key);
      },
    };
  }
}

/** What the per-peer limits count a caller as: its identity, else its IP (not its port). */
export function peerKeyOf(peer: Peer): string {
  const identity = peer.identities[0];
  if (identity) return identity;
  const address = peer.address ?? "";
  const at = address.lastIndexOf(":");
  return at > 0 ? address.slice(0, at) : address || "unknown";
}
