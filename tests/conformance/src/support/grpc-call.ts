/**
 * A raw gRPC client on node:http2: every byte on the wire is ours to choose, so
 * tests can send malformed frames and see exactly how a call ended (trailers,
 * trailers-only, a reset stream, a dropped connection).
 */
import http2 from "node:http2";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";

/** How a call ended. `code` is the gRPC status, or -1 when the server sent none. */
export interface CallEnd {
  readonly code: number;
  readonly message: string;
  /** trailers: after messages; trailers-only: status in the response headers; reset/closed: no status at all. */
  readonly via: "trailers" | "trailers-only" | "reset" | "closed";
  /** The HTTP/2 RST_STREAM code when the stream was reset. */
  readonly rstCode?: number;
  /** The HTTP status of the response headers, when any came. */
  readonly httpStatus?: number;
}

/** A gRPC length-prefixed message: flags byte, 4-byte length, the bytes. */
export function frame(bytes: Uint8Array, flags = 0, declaredLength = bytes.length): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = flags;
  out.writeUInt32BE(declaredLength, 1);
  out.set(bytes, 5);
  return out;
}

/** One HTTP/2 connection to the server under test. */
export class Connection {
  readonly session: http2.ClientHttp2Session;
  /** Set once the server sent GOAWAY. */
  goaway = false;

  private constructor(session: http2.ClientHttp2Session) {
    this.session = session;
    session.on("goaway", () => {
      this.goaway = true;
    });
    // Connection errors surface on the calls; never as uncaught errors.
    session.on("error", () => {});
  }

  /** Connects to HOST:PORT (plain HTTP/2) and waits for the server's SETTINGS. */
  static async open(address: string, options: http2.ClientSessionOptions = {}): Promise<Connection> {
    const session = http2.connect(`http://${address}`, options);
    const connection = new Connection(session);
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => reject(error);
      session.once("error", fail);
      session.once("remoteSettings", () => {
        session.off("error", fail);
        resolve();
      });
    });
    return connection;
  }

  get closed(): boolean {
    return this.session.closed || this.session.destroyed;
  }

  /** Closes gracefully: open calls finish first. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.session.close(() => resolve()));
  }

  /** Drops the connection now, as a vanished client would. */
  destroy(): void {
    this.session.destroy();
  }
}

/** Thrown by {@link GrpcCall.next} when the call ended before a message came. */
export class CallEnded extends Error {
  constructor(readonly end: CallEnd) {
    super(`call ended: ${end.via} status ${end.code} ${end.message}`);
  }
}

/** One streaming call whose responses decode as `schema`. */
export class GrpcCall<S extends DescMessage> {
  readonly stream: http2.ClientHttp2Stream;
  /** Every response received, in order. */
  readonly received: MessageShape<S>[] = [];
  /** Resolves when the call ends, however it ends. Never rejects. */
  readonly ended: Promise<CallEnd>;
  #read = 0;
  #buffer: Buffer = Buffer.alloc(0);
  #end: CallEnd | undefined;
  #waiters = new Set<() => void>();
  #headers: http2.IncomingHttpHeaders | undefined;
  #decodeError: unknown;

  constructor(
    connection: Connection,
    path: string,
    readonly schema: S,
    headers: http2.OutgoingHttpHeaders = {},
  ) {
    this.stream = connection.session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let finish: (end: CallEnd) => void = () => {};
    this.ended = new Promise<CallEnd>((resolve) => {
      finish = resolve;
    });
    const settle = (end: CallEnd) => {
      if (this.#end) return;
      this.#end = end;
      finish(end);
      this.#wake();
    };
    const statusOf = (h: http2.IncomingHttpHeaders) => ({
      code: Number(h["grpc-status"]),
      message: decodeURIComponent(String(h["grpc-message"] ?? "")),
    });
    this.stream.on("response", (h) => {
      this.#headers = h;
      if (h["grpc-status"] !== undefined) {
        settle({ ...statusOf(h), via: "trailers-only", httpStatus: Number(h[":status"]) });
      }
    });
    this.stream.on("trailers", (h) => {
      if (h["grpc-status"] !== undefined) {
        settle({ ...statusOf(h), via: "trailers", httpStatus: Number(this.#headers?.[":status"]) });
      }
    });
    this.stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    this.stream.on("error", () => {});
    this.stream.on("close", () => {
      const rst = this.stream.rstCode;
      settle({
        code: -1,
        message: "",
        via: rst !== undefined && rst !== http2.constants.NGHTTP2_NO_ERROR ? "reset" : "closed",
        ...(rst !== undefined ? { rstCode: rst } : {}),
        ...(this.#headers ? { httpStatus: Number(this.#headers[":status"]) } : {}),
      });
    });
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length > 0 ? Buffer.concat([this.#buffer, chunk]) : chunk;
    while (this.#buffer.length >= 5) {
      const length = this.#buffer.readUInt32BE(1);
      if (this.#buffer.length < 5 + length) break;
      const bytes = this.#buffer.subarray(5, 5 + length);
      this.#buffer = this.#buffer.subarray(5 + length);
      try {
        this.received.push(fromBinary(this.schema, bytes));
      } catch (error) {
        this.#decodeError ??= error;
      }
    }
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** How the call ended, once it has. */
  get end(): CallEnd | undefined {
    return this.#end;
  }

  /** Responses received but not yet taken with {@link next}. */
  get unread(): number {
    return this.received.length - this.#read;
  }

  /** Writes raw bytes on the request stream. */
  write(bytes: Uint8Array): void {
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.write(bytes);
  }

  /** Sends one request message of `schema`. */
  send<R extends DescMessage>(schema: R, init: MessageInitShape<R>): void {
    this.write(frame(toBinary(schema, create(schema, init))));
  }

  /**
   * The next response not yet taken. Rejects with {@link CallEnded} when the
   * call ends first, or an Error after `timeoutMs`.
   */
  async next(timeoutMs = 3000): Promise<MessageShape<S>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#decodeError !== undefined) throw new Error(`undecodable response: ${String(this.#decodeError)}`);
      const message = this.received[this.#read];
      if (message !== undefined) {
        this.#read++;
        return message;
      }
      if (this.#end) throw new CallEnded(this.#end);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response within ${timeoutMs} ms`);
      await this.#changed(left);
    }
  }

  /** Resolves if no new response arrives within `ms`; rejects with the one that does. */
  async quiet(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.unread > 0) {
        throw new Error(`expected no response, got ${JSON.stringify(summary(this.received[this.#read]))}`);
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.#end) return;
      await this.#changed(left);
    }
  }

  #changed(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  /** Stops reading: once its flow-control window fills, the server cannot write. */
  pause(): void {
    this.stream.pause();
  }

  /** Reads again. */
  resume(): void {
    this.stream.resume();
  }

  /** Half-closes: the client sends nothing more. */
  endRequests(): void {
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
  }

  /** Resets the stream (RST_STREAM CANCEL), as a client that gives up does. */
  cancel(): void {
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** Waits for the end of the call, or resolves undefined after `ms`. */
  async waitEnd(ms = 3000): Promise<CallEnd | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    const end = await Promise.race([this.ended, timeout]);
    clearTimeout(timer);
    return end;
  }
}

function summary(message: unknown): unknown {
  const m = message as { typeUrl?: string; versionInfo?: string; nonce?: string } | undefined;
  return { typeUrl: m?.typeUrl, versionInfo: m?.versionInfo, nonce: m?.nonce };
}
