import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { type DiscoveryContext, perTypeServices, serveStream } from "./discovery-services.js";
import { toConnectError } from "./grpc-error.js";
import { FrameError, FrameReader } from "./grpc-frames.js";
import { peerKey, peerOf } from "./peer.js";
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

/** The request stream of one call: messages decoded as they complete. */
function requestsOf(
  req: Http2ServerRequest,
  kind: "sotw" | "delta",
  maxBytes: number,
): AsyncIterable<DiscoveryRequest | DeltaDiscoveryRequest> {
  const schema = kind === "sotw" ? DiscoveryRequestSchema : DeltaDiscoveryRequestSchema;
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
      for (const bytes of reader.push(chunk))
        queue.push(fromBinary(schema, bytes) as DiscoveryRequest | DeltaDiscoveryRequest);
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

/** gRPC percent-encoding of grpc-message. */
function grpcMessage(text: string): string {
  return encodeURIComponent(text).replace(/%20/g, " ");
}

/**
 * Serves one xDS stream on raw HTTP/2: requests are decoded frame by frame,
 * the protocol runs in the same `serveStream` as every other transport, and
 * each response is written from shared encoded bytes (see `encodeResponse`),
 * one response in flight per stream: the next is built only once the previous
 * has been handed to the socket, so a slow client holds at most one unsent
 * response per type and never queues.
 */
export function serveGrpcStream(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  route: StreamRoute,
  ctx: DiscoveryContext,
  scheduler: WriteScheduler,
): void {
  const contentType = String(req.headers["content-type"] ?? "");
  if (!contentType.startsWith("application/grpc")) {
    res.writeHead(415, { "content-type": "text/plain" });
    res.end("xDS streams are gRPC: content-type application/grpc\n");
    return;
  }
  const encoding = req.headers["grpc-encoding"];
  let headersSent = false;
  const sendHeaders = () => {
    if (headersSent) return;
    headersSent = true;
    res.writeHead(200, { "content-type": "application/grpc", "grpc-accept-encoding": "identity" });
  };
  const finish = (code: number, message?: string) => {
    if (res.writableEnded || res.destroyed) return;
    const trailers: Record<string, string> = { "grpc-status": String(code) };
    if (message) trailers["grpc-message"] = grpcMessage(message);
    if (!headersSent) {
      // Trailers-only: status in the one HEADERS frame.
      headersSent = true;
      res.writeHead(200, { "content-type": "application/grpc", ...trailers });
      res.end();
      return;
    }
    res.addTrailers(trailers);
    res.end();
  };
  if (encoding !== undefined && encoding !== "identity") {
    finish(Code.Unimplemented, `grpc-encoding ${String(encoding)} is not supported; use identity`);
    return;
  }
  const abort = new AbortController();
  const closed = new Promise<void>((resolve) => res.once("close", () => resolve()));
  res.once("close", () => abort.abort());
  // Headers objects are made only if something asks: thousands of idle
  // streams would otherwise each keep three empty ones.
  const headers: { request?: Headers; response?: Headers; trailer?: Headers } = {};
  const hctx = {
    values: createContextValues().set(peerKey, peerOf(req)),
    signal: abort.signal,
    get requestHeader() {
      headers.request ??= new Headers();
      return headers.request;
    },
    get responseHeader() {
      headers.response ??= new Headers();
      return headers.response;
    },
    get responseTrailer() {
      headers.trailer ??= new Headers();
      return headers.trailer;
    },
    timeoutMs: () => undefined,
  } as unknown as HandlerContext;
  const responses = serveStream(
    route.kind,
    requestsOf(req, route.kind, ctx.config.maxReceiveMessageBytes),
    hctx,
    route.method,
    route.typeUrl,
    ctx,
  );
  void (async () => {
    try {
      for (;;) {
        const next = await responses.next();
        if (next.done) break;
        const chunks = encodeResponse(next.value);
        const size = chunks.reduce((n, c) => n + c.length, 0) - 5;
        if (size > ctx.config.maxSendMessageBytes) {
          // Clients refuse messages over their own limit (gRPC's default is 4 MiB) and
          // would reconnect into the same wall; say so instead.
          throw new ConnectError(
            `a ${next.value.typeUrl} response of ${size} bytes exceeds maxSendMessageBytes ${ctx.config.maxSendMessageBytes}`,
            Code.ResourceExhausted,
          );
        }
        const release = await scheduler.acquire();
        try {
          if (res.destroyed) break;
          sendHeaders();
          const written = new Promise<void>((resolve) => {
            for (let i = 0; i < chunks.length - 1; i++) res.write(chunks[i] as Uint8Array);
            // The callback of the last chunk runs once it has left for the socket.
            res.write(chunks[chunks.length - 1] as Uint8Array, () => resolve());
          });
          await Promise.race([written, closed]);
        } finally {
          release();
        }
      }
      finish(0);
    } catch (reason) {
      const error = toConnectError(reason);
      finish(error.code, error.rawMessage);
    }
  })();
}
