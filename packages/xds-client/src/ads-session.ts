import type { Interest } from "./type-subscription.js";

/**
 * The client's side of one ADS stream, SotW or delta: it turns subscription
 * changes, ACKs and NACKs into requests in that variant's form. A session
 * lives as long as its stream; a reconnect starts a new one.
 */
export interface AdsSession {
  /**
   * Tells the server the type's interest if this stream was told something
   * else (the first time: subscribes). Returns the names this stream asks for
   * now and did not before, for does-not-exist timers. `dropped`: resources
   * the client just forgot because no watcher covers them any more; a delta
   * session unsubscribes them by name too, so that a server that only
   * forgets explicitly unsubscribed names resends them after a later
   * subscribe (a SotW request has no way to say it).
   */
  sync(typeUrl: string, interest: Interest, dropped?: readonly string[]): string[];
  /** Accepts a response: `version` is its version_info (SotW) or system_version_info (delta). */
  ack(typeUrl: string, version: string, nonce: string, interest: Interest): void;
  /** Rejects a response with `message` as error_detail; the accepted version stays. */
  nack(typeUrl: string, nonce: string, message: string, interest: Interest): void;
  /** Half-closes the stream. */
  end(): void;
}

/** gRPC INVALID_ARGUMENT: the status code of a NACK's error_detail. */
export const nackStatusCode = 3;

/** `interest` as resource names: `*` first when it is a wildcard, then the names in order. */
export function interestNames(interest: Interest): string[] {
  return [...(interest.wildcard ? ["*"] : []), ...[...interest.names].sort()];
}
