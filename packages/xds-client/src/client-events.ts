import type { XdsError } from "@nebucloud/xds-core";

/** Events of an {@link XdsClient}, by name, with what each listener receives. */
export interface XdsClientEvents {
  /** A connection came up and a stream opened on it. */
  connected: {
    /** The server as HOST:PORT, so one listener can tell several clients apart. */
    readonly address: string;
  };
  /** The stream ended; the client reconnects after `retryInMs`. */
  disconnected: {
    /** The server as HOST:PORT. */
    readonly address: string;
    /** Why the stream ended; `details.reason` is a {@link StreamEndReason}, so listeners can tell an outage from a TLS misconfiguration. */
    readonly error: XdsError;
    /** The backoff delay (jitter included) before the next attempt, for status pages that show a countdown. */
    readonly retryInMs: number;
  };
  /** A response was accepted. */
  ack: {
    /** The type the response was for. */
    readonly typeUrl: string;
    /** The version_info (SotW) or system_version_info (delta) now current for the type. */
    readonly version: string;
    /** The response's nonce, to match this ACK with the server's logs. */
    readonly nonce: string;
  };
  /** A response was rejected with `message`. */
  nack: {
    /** The type the rejected response was for. */
    readonly typeUrl: string;
    /** The version the server offered and the client refused; the one accepted before stays current. */
    readonly version: string;
    /** The rejected response's nonce, to match this NACK with the server's logs. */
    readonly nonce: string;
    /** Why it was refused: the error_detail sent back to the server (a decoding error or the validator's text). */
    readonly message: string;
  };
  /** Resources the client holds changed (content), or were removed. */
  resources: {
    /** The type whose resources changed. */
    readonly typeUrl: string;
    /** Names added or whose content changed; a resource sent again unchanged is not listed. */
    readonly updated: readonly string[];
    /** Names the server removed, or whose TTL ran out; the client no longer holds them. */
    readonly removed: readonly string[];
  };
}

/** A listener of event `K`. */
export type XdsClientListener<K extends keyof XdsClientEvents> = (event: XdsClientEvents[K]) => void;

/**
 * A small typed event emitter. Listeners run synchronously in registration
 * order; one that throws is reported to `onListenerError` and never stops the
 * others.
 */
export class ClientEvents {
  readonly #listeners = new Map<keyof XdsClientEvents, Set<(event: never) => void>>();
  readonly #onListenerError: (error: unknown, event: string) => void;

  constructor(onListenerError: (error: unknown, event: string) => void) {
    this.#onListenerError = onListenerError;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof XdsClientEvents>(event: K, listener: XdsClientListener<K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (event: never) => void);
    return () => {
      set.delete(listener as (event: never) => void);
    };
  }

  /** Calls every listener of `event` with `payload`. */
  emit<K extends keyof XdsClientEvents>(event: K, payload: XdsClientEvents[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as XdsClientListener<K>)(payload);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}
