import type { Transport } from "@connectrpc/connect";
import type { XdsError } from "@nebucloud/xds-core";
import { backoffDelay, type ResolvedBackoff } from "./backoff.js";
import type { ClientTlsOptions } from "./client-options.js";
import { streamClosedError } from "./connection-error.js";
import { openConnection } from "./transport.js";

/** What a {@link StreamLoop} does with each connection. */
export interface StreamLoopHandlers {
  /**
   * A connection is up: run one stream over `transport` until it ends.
   * Resolve when the server ends it cleanly, reject with its error. Call
   * `progress` whenever a response arrives (it resets the backoff).
   */
  run(transport: Transport, signal: AbortSignal, progress: () => void): Promise<void>;
  /**
   * The stream (or the attempt to connect) ended; the loop tries again after
   * `delayMs` unless closed. `connected`: whether the connection had come up.
   */
  closed(error: XdsError, delayMs: number, connected: boolean): void;
}

/** Options of {@link StreamLoop}. */
export interface StreamLoopOptions {
  readonly baseUrl: string;
  readonly address: string;
  readonly tls: ClientTlsOptions | undefined;
  readonly backoff: ResolvedBackoff;
  readonly handlers: StreamLoopHandlers;
}

/**
 * Keeps one stream open to a server for as long as it runs: connects, runs the
 * stream, and when it ends (with an error or without) reconnects on a fresh
 * connection. Retries back off exponentially with jitter; a stream that
 * received a response is retried at once, and one that stayed open for
 * `backoff.maxMs` resets the backoff too, as gRPC does.
 */
export class StreamLoop {
  readonly #options: StreamLoopOptions;
  #running: Promise<void> | undefined;
  #closed = false;
  #abort: AbortController | undefined;
  #close: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #sleepTimer: NodeJS.Timeout | undefined;

  constructor(options: StreamLoopOptions) {
    this.#options = options;
  }

  /** Starts the loop; later calls do nothing. */
  start(): void {
    if (this.#running || this.#closed) return;
    this.#running = this.#run();
  }

  /** Ends the stream and the loop; resolves once nothing is left running. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#abort?.abort();
    this.#close?.();
    if (this.#sleepTimer) clearTimeout(this.#sleepTimer);
    this.#wake?.();
    await this.#running;
  }

  async #run(): Promise<void> {
    const { baseUrl, address, tls, backoff, handlers } = this.#options;
    let attempt = 0;
    while (!this.#closed) {
      const connection = openConnection(baseUrl, tls);
      const abort = new AbortController();
      this.#abort = abort;
      this.#close = () => connection.close();
      let progressed = false;
      let connected = false;
      let failure: unknown;
      const openedAt = performance.now();
      try {
        await connection.connect();
        if (!this.#closed) {
          connected = true;
          await handlers.run(connection.transport, abort.signal, () => {
            progressed = true;
          });
        }
      } catch (error) {
        failure = error;
      } finally {
        abort.abort();
        connection.close();
        this.#abort = undefined;
        this.#close = undefined;
      }
      if (this.#closed) break;
      if (progressed || (connected && performance.now() - openedAt >= backoff.maxMs)) attempt = 0;
      const delayMs = progressed ? 0 : backoffDelay(attempt++, backoff);
      handlers.closed(streamClosedError(address, failure), delayMs, connected);
      await this.#sleep(delayMs);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
      this.#sleepTimer = setTimeout(() => {
        this.#sleepTimer = undefined;
        this.#wake?.();
      }, ms);
    });
  }
}
