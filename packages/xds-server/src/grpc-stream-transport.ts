import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { type DiscoveryContext, perTypeServices, serveStream } from "./discovery-services.js";
import { toConnectError } from "./grpc-error.js";
import { FrameError, FrameReader } from "./grpc-frames.js";
import { peerKey, peerOfSocket } from "./peer.js";
import { RequestNames } from "./request-names.js";
import { encodeResponse } from "./wire-encoding.js";
import type { WriteScheduler } from "./write-scheduler.js";

/** One xDS streaming method served on the HTTP/2 hot path. */
export interface StreamRoute {
  readonly kind: "sotw" | "delta";
  /** `package.Service/Method`, as callbacks and metrics name it. */
  readonly method: string;
  readonly typeUrl: string | undefined;
}

/** `/package.Service/Method` -> route, for ADS and every per-type service. */
export function streamRoutes(): Map<string, StreamRoute> {
  const routes = new Map<string, StreamRoute>();
  const add = (service: DescService, typeUrl: string | undefined) => {
    for (const method of service.methods) {
      if (method.methodKind !== "bidi_streaming") continue;
      const input = method.input.typeName;
      const kind =
        input === "envoy.service.discovery.v3.DiscoveryRequest"
          ? "sotw"
          : input === "envoy.service.discovery.v3.DeltaDiscoveryRequest"
            ? "delta"
            : undefined;
      if (kind)
        routes.set(`/${service.typeName}/${method.name}`, {
          kind,
          method: `${service.typeName}/${method.name}`,
          typeUrl,
        });
    }
  };
  add(AggregatedDiscoveryService, undefined);
  for (const [service, typeUrl] of perTypeServices) add(service, typeUrl);
  return routes;
}

const smallResponseBytes = 64 * 1024;
const noRelease = () => {};

/** Shared by every SotW stream in the process: a fleet repeats the same name lists. */
const sotwRequests = new RequestNames();
const decodeSotw = (bytes: Uint8Array) => sotwRequests.decode(bytes);
const decodeDelta = (bytes: Uint8Array) => fromBinary(DeltaDiscoveryRequestSchema, bytes);

/** The request stream of one call: messages decoded as they complete. */
function requestsOf(
  req: ServerHttp2Stream,
  kind: "sotw" | "delta",
  maxBytes: number,
): AsyncIterable<DiscoveryRequest | DeltaDiscoveryRequest> {
  const decode = kind === "sotw" ? decodeSotw : decodeDelta;
  const reader = new FrameReader(maxBytes);
  const queue: (DiscoveryRequest | DeltaDiscoveryRequest)[] = [];
  let failure: unknown;
  let ended = false;
  let wake: (() => void) | undefined;
  const signal = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  req.on("data", (chunk: Buffer) => {
    if (failure !== undefined) return;
    try {
      for (const bytes of reader.push(chunk)) queue.push(decode(bytes));
    } catch (error) {
      failure =
        error instanceof FrameError
          ? new ConnectError(
              error.message,
              error.status === "unimplemented" ? Code.Unimplemented : Code.ResourceExhausted,
            )
          : new ConnectError(`malformed request message: ${(error as Error).message}`, Code.InvalidArgument);
    }
    signal();
  });
  req.on("end", () => {
    if (reader.partial) failure ??= new ConnectError("the request stream ended inside a message", Code.InvalidArgument);
    ended = true;
    signal();
  });
  // A reset or vanished client: the stream ends as a disconnect, not an error.
  req.on("aborted", () => {
    failure ??= Object.assign(new Error("client went away"), { code: "ERR_HTTP2_STREAM_CANCEL" });
    signal();
  });
  req.on("close", () => {
    if (!ended) failure ??= Object.assign(new Error("client went away"), { code: "ERR_HTTP2_STREAM_CANCEL" });
    signal();
  });
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift() as DiscoveryRequest | DeltaDiscoveryRequest;
        if (failure !== undefined) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}

/**
 * connect's HandlerContext for a raw stream, as much of it as `serveStream`
 * and callbacks read. Headers and the abort signal are made only if something
 * asks: thousands of idle streams would otherwise each keep them.
 */
class StreamContext {
  readonly values: ContextValues;
  #abort: AbortController | undefined;
  #closed = false;
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;

  constructor(values: ContextValues) {
    this.values = values;
  }

  get signal(): AbortSignal {
    if (this.#closed && !this.#abort) return AbortSignal.abort();
    this.#abort ??= new AbortController();
    return this.#abort.signal;
  }

  get requestHeader(): Headers {
    this.#requestHeader ??= new Headers();
    return this.#requestHeader;
  }

  get responseHeader(): Headers {
    this.#responseHeader ??= new Headers();
    return this.#responseHeader;
  }

  get responseTrailer(): Headers {
    this.#responseTrailer ??= new Headers();
    return this.#responseTrailer;
  }

  timeoutMs(): number | undefined {
    return undefined;
  }

  /** The stream closed: the signal aborts. */
  close(): void {
    this.#closed = true;
    this.#abort?.abort();
  }
}

/**
 * Writes `chunk` in views of at most 256 KiB (no copy), so the write timeout
 * sees a slow but reading client make progress within a large response.
 */
function writeSliced(stream: ServerHttp2Stream, chunk: Uint8Array, done?: () => void): void {
  const slice = 256 * 1024;
  let at = 0;
  for (; chunk.length - at > slice; at += slice) stream.write(chunk.subarray(at, at + slice));
  if (done) stream.write(at === 0 ? chunk : chunk.subarray(at), () => done());
  else stream.write(at === 0 ? chunk : chunk.subarray(at));
}

/**
 * Resets `stream` when none of its pending bytes leave for the socket within
 * `timeoutMs` (checked a few times per period), so a client that answers
 * PINGs but never reads loses its stream and frees its write slot. Trailers
 * cannot pass the unsent DATA ahead of them, so it is an RST_STREAM with
 * REFUSED_STREAM, which gRPC clients report as UNAVAILABLE and retry.
 * Returns the timer, or undefined when the limit is off.
 */
function stallWatchdog(stream: ServerHttp2Stream, timeoutMs: number, onStall: () => void): NodeJS.Timeout | undefined {
  if (timeoutMs <= 0) return undefined;
  let pending = stream.writableLength;
  let since = performance.now();
  const timer = setInterval(
    () => {
      const now = performance.now();
      const left = stream.writableLength;
      if (left < pending || left === 0) {
        pending = left;
        since = now;
        return;
      }
      if (now - since < timeoutMs) return;
      clearInterval(timer);
      if (!stream.destroyed) stream.close(constants.NGHTTP2_REFUSED_STREAM);
      onStall();
    },
    Math.max(10, Math.min(1000, timeoutMs / 4)),
  );
  timer.unref();
  return timer;
}

/** gRPC percent-encoding of grpc-message. */
function grpcMessage(text: string): string {
  return encodeURIComponent(text).replace(/%20/g, " ");
}

/**
 * Serves one xDS stream on a raw HTTP/2 stream, without Node's compat
 * request/response pair (thousands of idle streams would each keep two more
 * objects with their stream states and listeners): requests are decoded frame
 * by frame, the protocol runs in the same `serveStream` as every other
 * transport, and each response is written from shared encoded bytes (see
 * `encodeResponse`), one response in flight per stream: the next is built only
 * once the previous has been handed to the socket, so a slow client holds at
 * most one unsent response per type and never queues.
 */
export function serveGrpcStream(
  stream: ServerHttp2Stream,
  requestHeaders: IncomingHttpHeaders,
  route: StreamRoute,
  ctx: DiscoveryContext,
  scheduler: WriteScheduler,
): void {
  // A reset stream emits "error"; unheard, it would end the process. The
  // request reader sees the same reset as "aborted"/"close".
  stream.on("error", () => {});
  const contentType = String(requestHeaders["content-type"] ?? "");
  if (!contentType.startsWith("application/grpc")) {
    stream.respond({ ":status": 415, "content-type": "text/plain" });
    stream.end("xDS streams are gRPC: content-type application/grpc\n");
    return;
  }
  const encoding = requestHeaders["grpc-encoding"];
  let headersSent = false;
  let ended = false;
  let trailers: Record<string, string> = {};
  const sendHeaders = () => {
    if (headersSent) return;
    headersSent = true;
    stream.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-accept-encoding": "identity" },
      { waitForTrailers: true },
    );
    stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  };
  const finish = (code: number, message?: string) => {
    if (ended || stream.destroyed || stream.closed) return;
    ended = true;
    trailers = { "grpc-status": String(code) };
    if (message) trailers["grpc-message"] = grpcMessage(message);
    if (!headersSent) {
      // Trailers-only: status in the one HEADERS frame.
      headersSent = true;
      stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
      return;
    }
    stream.end();
  };
  if (encoding !== undefined && encoding !== "identity") {
    finish(Code.Unimplemented, `grpc-encoding ${String(encoding)} is not supported; use identity`);
    return;
  }
  const hctx = new StreamContext(createContextValues().set(peerKey, peerOfSocket(stream.session?.socket)));
  // What a pending write waits for besides its callback: the stream closing.
  let settle: (() => void) | undefined;
  stream.once("close", () => {
    hctx.close();
    settle?.();
  });
  const responses = serveStream(
    route.kind,
    requestsOf(stream, route.kind, ctx.config.maxReceiveMessageBytes),
    hctx as unknown as HandlerContext,
    route.method,
    route.typeUrl,
    ctx,
  );
  void (async () => {
    try {
      // Nothing from one response is held across the wait for the next: an
      // idle stream keeps no message, no chunks and no promise reaction.
      let chunks: Uint8Array[] | undefined;
      for (;;) {
        let next: IteratorResult<DiscoveryResponse | DeltaDiscoveryResponse> | undefined = await responses.next();
        if (next.done) break;
        chunks = encodeResponse(next.value);
        const size = chunks.reduce((n, c) => n + c.length, 0) - 5;
        if (size > ctx.config.maxSendMessageBytes) {
          // Clients refuse messages over their own limit (gRPC's default is 4 MiB) and
          // would reconnect into the same wall; say so instead.
          throw new ConnectError(
            `a ${next.value.typeUrl} response of ${size} bytes exceeds maxSendMessageBytes ${ctx.config.maxSendMessageBytes}`,
            Code.ResourceExhausted,
          );
        }
        next = undefined;
        // Small responses (clusters, listeners, routes, a changed endpoint) go
        // out at once: queued behind other streams' large ones, they would hold
        // back the requests that follow them.
        const release = size > smallResponseBytes ? await scheduler.acquire() : noRelease;
        try {
          if (stream.destroyed || stream.closed) break;
          sendHeaders();
          const out = chunks;
          let watchdog: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            settle = resolve;
            for (let i = 0; i < out.length - 1; i++) writeSliced(stream, out[i] as Uint8Array);
            // The callback of the last chunk runs once it has left for the socket.
            writeSliced(stream, out[out.length - 1] as Uint8Array, () => resolve());
            watchdog = stallWatchdog(stream, ctx.config.writeTimeoutMs, () => {
              ctx.logger.info(
                { method: route.method, writeTimeoutMs: ctx.config.writeTimeoutMs },
                "stream reset: its client accepted no bytes within writeTimeoutMs",
              );
              resolve();
            });
          });
          clearInterval(watchdog);
        } finally {
          settle = undefined;
          chunks = undefined;
          release();
        }
      }
      finish(0);
    } catch (reason) {
      const error = toConnectError(reason);
      finish(error.code, error.rawMessage);
    } finally {
      // Leaving the loop early (the client is gone, or a response is too large)
      // leaves the stream suspended at a yield: ending it closes its watches
      // and takes it out of the registry.
      await responses.return(undefined).catch(() => {});
    }
  })();
}
