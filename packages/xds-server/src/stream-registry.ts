import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type { StreamInfo } from "./callbacks.js";
import type { TypeStatus } from "./sotw-stream.js";

/** One open stream as CSDS, `/debug` and status pages see it. */
export interface StreamView {
  /** What callbacks learn about the stream: id, kind, method, type, peer. */
  readonly info: StreamInfo;
  /** The node from the stream's first request; undefined until it arrives. */
  readonly node: Node | undefined;
  /** When the stream opened (ms since epoch). */
  readonly openedAt: number;
  /** Per-type state now: subscription, sent and ACKed versions, last NACK, what the client holds. */
  status(): TypeStatus[];
}

/**
 * The open xDS streams of a server. Streams register on open and leave on
 * close, so a snapshot of it never lists a stream that has ended.
 */
export class StreamRegistry {
  readonly #streams = new Map<number, StreamView>();
  #lastId = 0;

  nextId(): number {
    return ++this.#lastId;
  }

  add(view: StreamView): void {
    this.#streams.set(view.info.id, view);
  }

  remove(id: number): void {
    this.#streams.delete(id);
  }

  /** Every open stream. */
  list(): StreamView[] {
    return [...this.#streams.values()];
  }

  get size(): number {
    return this.#streams.size;
  }
}
