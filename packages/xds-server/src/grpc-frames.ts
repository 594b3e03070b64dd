/**
 * Splits a byte stream into gRPC length-prefixed messages (1 flag byte, 4
 * length bytes, the message). Bytes are copied only when a message spans
 * chunks. Throws on a message over `maxBytes` or a compressed one, which the
 * caller turns into a status.
 */
export class FrameReader {
  readonly #maxBytes: number;
  #pending: Buffer = Buffer.alloc(0);

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Adds a chunk; returns every message it completes. */
  push(chunk: Buffer): Buffer[] {
    let buffer = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    const messages: Buffer[] = [];
    while (buffer.length >= 5) {
      const flags = buffer[0] as number;
      const length = buffer.readUInt32BE(1);
      if (flags & 1)
        throw new FrameError("unimplemented", "compressed requests are not supported (send grpc-encoding identity)");
      if (length > this.#maxBytes) {
        throw new FrameError(
          "resource_exhausted",
          `request message of ${length} bytes exceeds the limit of ${this.#maxBytes}`,
        );
      }
      if (buffer.length < 5 + length) break;
      messages.push(buffer.subarray(5, 5 + length));
      buffer = buffer.subarray(5 + length);
    }
    this.#pending = buffer.length > 0 ? Buffer.from(buffer) : Buffer.alloc(0);
    return messages;
  }

  /** Whether a partial message is left (the client ended mid-message). */
  get partial(): boolean {
    return this.#pending.length > 0;
  }
}

/** A framing problem, with the gRPC status it maps to. */
export class FrameError extends Error {
  readonly status: "unimplemented" | "resource_exhausted" | "internal";
  constructor(status: "unimplemented" | "resource_exhausted" | "internal", message: string) {
    super(message);
    this.status = status;
  }
}
