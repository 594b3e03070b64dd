import type { XdsError } from "@nebucloud/xds-core";

/** Events of an {@link XdsClient}, by name, with what each listener receives. */
export interface XdsClientEvents {
  /** A connection came up and a stream opened on it. */
  connected: { readonly address: string };
  /** The stream ended; the client reconnects after `retryInMs`. */
  disconnected: { readonly address: string; readonly error: XdsError; readonly retryInMs: number };
  /** A response was accepted. */
  ack: { readonly typeUrl: string; readonly version: string; readonly nonce: string };
  /** A response was rejected with `message`. */
  nack: { readonly typeUrl: string; readonly version: string; readonly nonce: string; readonly message: string };
  /** Resources the client holds changed (content), or were removed. */
  resources: { readonly typeUrl: string; readonly updated: readonly string[]; readonly removed: readonly string[] };
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
