/**
 * gRPC length-prefixed messages over HTTP/2 DATA, written by hand so that the
 * load generators and the limit server depend on no gRPC library: 1 flag
 * byte (0: not compressed), a 4-byte big-endian length, the message.
 */

/** `message` with its 5-byte gRPC prefix, in one buffer. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** One reassembly buffer per process, grown to the largest message seen; see {@link FrameReader}. */
let scratch = Buffer.allocUnsafeSlow(0);

/**
 * Reassembles messages from DATA chunks. Chunks are kept in a list and copied
 * once, when a message is complete, so a 2.5 MB message in 16 KiB chunks
 * costs one copy, not a quadratic series of concatenations.
 *
 * With `reuse`, a message that spans chunks is assembled in one buffer shared
 * by every reader in the process instead of a fresh allocation (2.5 MB per
 * message adds up to gigabytes of garbage at 1000 streams): the returned
 * buffer is then valid only until the next `push` on any reader, so the
 * caller must be done with it (and anything decoded that aliases it) first.
 */
export class FrameReader {
  readonly #reuse: boolean;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the message being read, once its prefix has arrived. */
  #need = -1;

  constructor(options: { reuse?: boolean } = {}) {
    this.#reuse = options.reuse ?? false;
  }

  /**
   * Adds a chunk and calls `onMessage` with each message it completes, one
   * after the other (with `reuse`, each is overwritten by the next).
   */
  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 5) break;
        const head = this.#take(5);
        if (head[0] !== 0) throw new Error("compressed gRPC messages are not supported");
        this.#need = head.readUInt32BE(1);
      }
      if (this.#buffered < this.#need) break;
      const message = this.#take(this.#need);
      this.#need = -1;
      onMessage(message);
    }
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) {
      // Fast path: the bytes are in the first chunk.
      const out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return out;
    }
    let out: Buffer;
    if (this.#reuse) {
      if (scratch.length < n) scratch = Buffer.allocUnsafeSlow(Math.max(n, scratch.length * 2));
      out = scratch.subarray(0, n);
    } else {
      out = Buffer.allocUnsafe(n);
    }
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0] as Buffer;
      const want = n - offset;
      if (chunk.length <= want) {
        out.set(chunk, offset);
        offset += chunk.length;
        this.#chunks.shift();
      } else {
        out.set(chunk.subarray(0, want), offset);
        this.#chunks[0] = chunk.subarray(want);
        offset += want;
      }
    }
    this.#buffered -= n;
    return out;
  }
}
