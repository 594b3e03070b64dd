/**
 * The request side of one bidirectional stream: `push` requests as they come
 * up, `end` to half-close. Iterated once by the transport. Requests pushed
 * after `end` are dropped.
 */
export class RequestQueue<T> implements AsyncIterable<T> {
  readonly #queue: T[] = [];
  #wake: (() => void) | undefined;
  #ended = false;

  /** Queues a request; it is written as soon as the transport reads it. */
  push(request: T): void {
    if (this.#ended) return;
    this.#queue.push(request);
    this.#wake?.();
  }

  /** Half-closes: the iterator finishes once the queued requests are read. Idempotent. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /** Whether {@link end} was called. */
  get ended(): boolean {
    return this.#ended;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      while (this.#queue.length > 0) yield this.#queue.shift() as T;
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
