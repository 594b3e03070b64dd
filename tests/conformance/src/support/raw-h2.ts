/**
 * HTTP/2 by hand on a TCP socket (RFC 9113), for input no well-behaved client
 * library would send: streams past SETTINGS_MAX_CONCURRENT_STREAMS, garbage
 * frames, garbage bytes. Headers are HPACK literals without indexing.
 */
import net from "node:net";

export const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FrameType = {
  Data: 0x0,
  Headers: 0x1,
  RstStream: 0x3,
  Settings: 0x4,
  Ping: 0x6,
  GoAway: 0x7,
  WindowUpdate: 0x8,
} as const;

export const Flag = { EndStream: 0x1, Ack: 0x1, EndHeaders: 0x4 } as const;

/** One frame: 9-byte header and payload. */
export function h2Frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
): Buffer {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, 5);
  out.set(payload, 9);
  return out;
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  if (bytes.length >= 127) throw new Error("header too long for this encoder");
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** A header block of literal fields without indexing (new names), which every decoder accepts. */
export function headerBlock(headers: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat(
    headers.flatMap(([name, value]) => [Buffer.from([0x00]), hpackString(name), hpackString(value)]),
  );
}

/** The request headers of a gRPC call to `path`. */
export function grpcHeaders(path: string, authority = "127.0.0.1"): Buffer {
  return headerBlock([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", authority],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ]);
}

/** A received frame. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** A raw HTTP/2 connection: write bytes, read frames. */
export class RawConnection {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  closed = false;
  #buffer: Buffer = Buffer.alloc(0);
  #prefaceSeen = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
    });
  }

  /** Opens a TCP connection to HOST:PORT. */
  static open(address: string): Promise<RawConnection> {
    const at = address.lastIndexOf(":");
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(address.slice(at + 1)), address.slice(0, at), () =>
        resolve(new RawConnection(socket)),
      );
      socket.once("error", reject);
    });
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    this.#prefaceSeen = true;
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) break;
      this.frames.push({
        type: this.#buffer[3] as number,
        flags: this.#buffer[4] as number,
        streamId: this.#buffer.readUInt32BE(5) & 0x7fffffff,
        payload: this.#buffer.subarray(9, 9 + length),
      });
      this.#buffer = this.#buffer.subarray(9 + length);
    }
  }

  /** Whether the server has sent anything yet. */
  get heard(): boolean {
    return this.#prefaceSeen;
  }

  write(bytes: Uint8Array): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** Sends the client preface and an empty SETTINGS, waits for the server's SETTINGS and ACKs it. */
  async handshake(): Promise<void> {
    this.write(Buffer.concat([preface, h2Frame(FrameType.Settings, 0, 0)]));
    await this.until((f) => f.type === FrameType.Settings && (f.flags & Flag.Ack) === 0, "server SETTINGS");
    this.write(h2Frame(FrameType.Settings, Flag.Ack, 0));
  }

  /** Waits for a frame matching `match`; throws after `timeoutMs`. */
  async until(match: (frame: Frame) => boolean, what: string, timeoutMs = 2000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (Date.now() > deadline || this.closed) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The error code of a RST_STREAM or GOAWAY frame. */
export function errorCodeOf(frame: Frame): number {
  return frame.type === FrameType.GoAway ? frame.payload.readUInt32BE(4) : frame.payload.readUInt32BE(0);
}

/** Settings payload of SETTINGS_MAX_CONCURRENT_STREAMS from a server SETTINGS frame, if present. */
export function maxConcurrentStreamsOf(frame: Frame): number | undefined {
  for (let i = 0; i + 6 <= frame.payload.length; i += 6) {
    if (frame.payload.readUInt16BE(i) === 0x3) return frame.payload.readUInt32BE(i + 2);
  }
  return undefined;
}
