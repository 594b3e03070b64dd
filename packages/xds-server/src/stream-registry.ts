import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type { StreamInfo } from "./callbacks.js";
import type { TypeStatus } from "./sotw-stream.js";

/** One open stream as CSDS, `/debug` and status pages see it. */
export interface StreamView {
  readonly info: StreamInfo;
  readonly node: Node | undefined;
  readonly openedAt: number;
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
