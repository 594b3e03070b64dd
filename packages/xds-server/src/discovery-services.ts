import type { DescService } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Cache } from "@nebucloud/xds-cache";
import { TypeUrl, XdsError } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { ClusterDiscoveryService } from "@nebucloud/xds-proto/envoy/service/cluster/v3/cds_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { EndpointDiscoveryService } from "@nebucloud/xds-proto/envoy/service/endpoint/v3/eds_pb";
import { LocalityEndpointDiscoveryService } from "@nebucloud/xds-proto/envoy/service/endpoint/v3/leds_pb";
import { ExtensionConfigDiscoveryService } from "@nebucloud/xds-proto/envoy/service/extension/v3/config_discovery_pb";
import { ListenerDiscoveryService } from "@nebucloud/xds-proto/envoy/service/listener/v3/lds_pb";
import { RouteDiscoveryService, VirtualHostDiscoveryService } from "@nebucloud/xds-proto/envoy/service/route/v3/rds_pb";
import { ScopedRoutesDiscoveryService } from "@nebucloud/xds-proto/envoy/service/route/v3/srds_pb";
import { RuntimeDiscoveryService } from "@nebucloud/xds-proto/envoy/service/runtime/v3/rtds_pb";
import { SecretDiscoveryService } from "@nebucloud/xds-proto/envoy/service/secret/v3/sds_pb";
import { type Authorization, authorizationRequest, requireAuthorized } from "./authorization.js";
import type { StreamInfo } from "./callbacks.js";
import { DeltaStream } from "./delta-stream.js";
import { anyOf } from "./discovery-response.js";
import { isDisconnect, toConnectError } from "./grpc-error.js";
import { peerKey } from "./peer.js";
import type { PeerLimits } from "./peer-limits.js";
import { guardSecrets } from "./secret-guard.js";
import type { ServerParts } from "./server-parts.js";
import { SotwStream, type TypeStatus } from "./sotw-stream.js";
import type { TokenBucket } from "./token-bucket.js";

/** The per-type discovery services and the type each serves. */
export const perTypeServices: ReadonlyArray<readonly [DescService, string]> = [
  [ClusterDiscoveryService, TypeUrl.Cluster],
  [EndpointDiscoveryService, TypeUrl.Endpoint],
  [LocalityEndpointDiscoveryService, TypeUrl.LbEndpoint],
  [ListenerDiscoveryService, TypeUrl.Listener],
  [RouteDiscoveryService, TypeUrl.Route],
  [ScopedRoutesDiscoveryService, TypeUrl.ScopedRoute],
  [VirtualHostDiscoveryService, TypeUrl.VirtualHost],
  [SecretDiscoveryService, TypeUrl.Secret],
  [RuntimeDiscoveryService, TypeUrl.Runtime],
  [ExtensionConfigDiscoveryService, TypeUrl.ExtensionConfig],
];

/** What the discovery services share with the rest of the server, and what only they use. */
export interface DiscoveryContext extends ServerParts {
  readonly newStreams: TokenBucket | undefined;
  /** Streams and requests per peer; undefined when both limits are off. */
  readonly peerLimits?: PeerLimits | undefined;
  /** Set once shutdown begins: new streams are refused. */
  readonly lifecycle: { closing: boolean; readonly aborters: Set<(reason: unknown) => void> };
}

/** Registers ADS and every per-type discovery service on a router. */
export function registerDiscoveryServices(router: ConnectRouter, ctx: DiscoveryContext): void {
  router.service(AggregatedDiscoveryService, serviceImpl(AggregatedDiscoveryService, undefined, ctx));
  for (const [service, typeUrl] of perTypeServices) router.service(service, serviceImpl(service, typeUrl, ctx));
}

function serviceImpl(service: DescService, typeUrl: string | undefined, ctx: DiscoveryContext): ServiceImpl<never> {
  const impl: Record<string, unknown> = {};
  for (const method of service.methods) {
    const name = `${service.typeName}/${method.name}`;
    const input = method.input.typeName;
    if (method.methodKind === "bidi_streaming" && input === "envoy.service.discovery.v3.DiscoveryRequest") {
      impl[method.localName] = (requests: AsyncIterable<DiscoveryRequest>, hctx: HandlerContext) =>
        serveStream("sotw", requests, hctx, name, typeUrl, ctx);
    } else if (method.methodKind === "bidi_streaming" && input === "envoy.service.discovery.v3.DeltaDiscoveryRequest") {
      impl[method.localName] = (requests: AsyncIterable<DeltaDiscoveryRequest>, hctx: HandlerContext) =>
        serveStream("delta", requests, hctx, name, typeUrl, ctx);
    } else if (method.methodKind === "unary" && input === "envoy.service.discovery.v3.DiscoveryRequest") {
      impl[method.localName] = (request: DiscoveryRequest, hctx: HandlerContext) => fetch(request, hctx, typeUrl, ctx);
    }
  }
  return impl as ServiceImpl<never>;
}

type AnyStream = SotwStream | DeltaStream;

export async function* serveStream(
  kind: "sotw" | "delta",
  requests: AsyncIterable<DiscoveryRequest | DeltaDiscoveryRequest>,
  hctx: HandlerContext,
  method: string,
  typeUrl: string | undefined,
  ctx: DiscoveryContext,
): AsyncGenerator<DiscoveryResponse | DeltaDiscoveryResponse> {
  if (ctx.lifecycle.closing) throw new ConnectError("the server is shutting down", Code.Unavailable);
  if (ctx.newStreams && !ctx.newStreams.take()) {
    ctx.metrics?.errorsTotal.inc({ code: Code[Code.ResourceExhausted] });
    throw new ConnectError("too many new streams per second; retry with backoff", Code.ResourceExhausted);
  }
  const info: StreamInfo = {
    id: ctx.streams.nextId(),
    kind,
    method,
    typeUrl,
    peer: hctx.values.get(peerKey).address,
  };
  try {
    await ctx.callbacks.onStreamOpen?.(info);
  } catch (reason) {
    throw toConnectError(reason);
  }
  let budget: ReturnType<PeerLimits["open"]> | undefined;
  try {
    budget = ctx.peerLimits?.open(hctx.values.get(peerKey));
  } catch (reason) {
    ctx.metrics?.errorsTotal.inc({ code: Code[Code.ResourceExhausted] });
    throw toConnectError(reason);
  }
  let wake: (() => void) | undefined;
  let failure: unknown;
  let ended = false;
  const signal = () => wake?.();
  const requestStarted = new Map<string, number>();
  const safely = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (error) {
      ctx.logger.warn({ error: String(error), stream: info.id }, `callback ${what} threw`);
    }
  };
  const onResponse = (response: DiscoveryResponse | DeltaDiscoveryResponse) => {
    ctx.metrics?.responsesTotal.inc({ type_url: response.typeUrl });
    const started = requestStarted.get(response.typeUrl);
    if (started !== undefined) {
      ctx.metrics?.requestDuration.observe({ type_url: response.typeUrl }, (performance.now() - started) / 1000);
      requestStarted.delete(response.typeUrl);
    }
  };
  const onNack = (t: string, version: string, message: string, node: Node) => {
    ctx.metrics?.nacksTotal.inc({ type_url: t });
    ctx.logger.warn({ node: node.id, typeUrl: t, version, error: message }, "client rejected a response (NACK)");
    safely("onNack", () => ctx.callbacks.onNack?.(info, node, t, version, message));
  };
  const onRequest = (request: DiscoveryRequest | DeltaDiscoveryRequest) => {
    const t = request.typeUrl || typeUrl || "";
    ctx.metrics?.requestsTotal.inc({ type_url: t });
    if (!requestStarted.has(t)) requestStarted.set(t, performance.now());
  };
  const peer = hctx.values.get(peerKey);
  const [service = method, methodName = method] = method.split("/");
  const auth = ctx.auth;
  const secretAuthorizer = auth?.secretAuthorizer;
  // Which Secrets a caller may have depends on who it is: the stream gets a
  // view of the cache bound to its peer.
  const cache =
    auth && secretAuthorizer
      ? guardSecrets(ctx.cache, (node, name) =>
          secretAuthorizer(
            node,
            name,
            authorizationRequest(auth, peer, node, { service, method: methodName, typeUrl: TypeUrl.Secret }),
          ),
        )
      : ctx.cache;
  const common = {
    cache,
    types: ctx.types,
    typeUrl,
    onPending: signal,
    maxNamesPerRequest: ctx.config.maxNamesPerRequest,
  };
  const stream: AnyStream =
    kind === "sotw"
      ? new SotwStream({
          ...common,
          hooks: {
            onRequest: (r) => {
              onRequest(r);
              safely("onStreamRequest", () => ctx.callbacks.onStreamRequest?.(info, r));
            },
            onResponse: (r) => {
              onResponse(r);
              safely("onStreamResponse", () => ctx.callbacks.onStreamResponse?.(info, r));
            },
            onNack,
          },
        })
      : new DeltaStream({
          ...common,
          hooks: {
            onRequest: (r) => {
              onRequest(r);
              safely("onDeltaStreamRequest", () => ctx.callbacks.onDeltaStreamRequest?.(info, r));
            },
            onResponse: (r) => {
              onResponse(r);
              safely("onDeltaStreamResponse", () => ctx.callbacks.onDeltaStreamResponse?.(info, r));
            },
            onNack,
          },
        });
  const abort = (reason: unknown) => {
    failure ??= reason;
    signal();
  };
  ctx.lifecycle.aborters.add(abort);
  ctx.streams.add({
    info,
    openedAt: Date.now(),
    get node() {
      return stream.node;
    },
    status: (): TypeStatus[] => stream.status(),
  });
  ctx.metrics?.streamsTotal.inc({ kind });
  ctx.metrics?.streamsActive.inc({ kind });
  // Requests are read concurrently with writing responses; a protocol error
  // in a request ends the stream with its status.
  const reader = (async () => {
    try {
      // Authorized once per type URL, with the node of the first request: the
      // stream keeps that node, so no later request can move it elsewhere.
      // Nothing of a type is handled (no watch, no response) before it passes;
      // a first request without node.id is refused by the protocol checks.
      const authorized = new Set<string>();
      for await (const request of requests) {
        budget?.request();
        const node = stream.node ?? request.node;
        const t = request.typeUrl || typeUrl || "";
        if (auth && node?.id && !authorized.has(t)) {
          await requireAuthorized(
            auth,
            authorizationRequest(auth, peer, node, { service, method: methodName, typeUrl: t || undefined }),
          );
          authorized.add(t);
        }
        if (kind === "sotw") (stream as SotwStream).handle(request as DiscoveryRequest);
        else (stream as DeltaStream).handle(request as DeltaDiscoveryRequest);
      }
      ended = true;
    } catch (reason) {
      failure ??= reason;
    } finally {
      signal();
    }
  })();
  try {
    for (;;) {
      for (let next = stream.takeNext(); next; next = stream.takeNext()) yield next;
      if (failure !== undefined) {
        if (isDisconnect(failure)) return;
        throw toConnectError(failure);
      }
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } catch (reason) {
    const error = toConnectError(reason);
    // A client that vanished mid-write (ERR_HTTP2_INVALID_STREAM, ECONNRESET...)
    // got no error status from us: not counted, as when the reader sees it.
    if (!isDisconnect(reason)) {
      ctx.metrics?.errorsTotal.inc({ code: Code[error.code] ?? String(error.code) });
      ctx.logger.info(
        { stream: info.id, node: stream.node?.id, code: Code[error.code], error: error.rawMessage },
        "stream ended with an error",
      );
    }
    throw error;
  } finally {
    stream.close();
    budget?.close();
    ctx.lifecycle.aborters.delete(abort);
    ctx.streams.remove(info.id);
    ctx.metrics?.streamsActive.dec({ kind });
    safely("onStreamClosed", () => ctx.callbacks.onStreamClosed?.(info, stream.node));
    void reader;
  }
}

async function fetch(
  request: DiscoveryRequest,
  hctx: HandlerContext,
  typeUrl: string | undefined,
  ctx: DiscoveryContext,
): Promise<DiscoveryResponse> {
  try {
    if (!request.node?.id) {
      throw new XdsError("invalid_request", "a fetch request must carry node.id", { field: "node.id" });
    }
    const t = typeUrl ?? request.typeUrl;
    if (ctx.auth) {
      await requireAuthorized(
        ctx.auth,
        authorizationRequest(ctx.auth, hctx.values.get(peerKey), request.node, {
          service: hctx.service.typeName,
          method: hctx.method.name,
          typeUrl: t,
        }),
      );
    }
    ctx.metrics?.requestsTotal.inc({ type_url: t });
    ctx.callbacks.onFetchRequest?.(request);
    const cache = ctx.auth?.secretAuthorizer ? fetchCache(ctx, hctx, request.node) : ctx.cache;
    const answer = cache.fetch({
      typeUrl: t,
      node: request.node,
      resourceNames: request.resourceNames,
      versionInfo: request.versionInfo,
    });
    const response = create(DiscoveryResponseSchema, {
      versionInfo: answer.version,
      typeUrl: t,
      resources: answer.resources.map(anyOf),
    });
    ctx.metrics?.responsesTotal.inc({ type_url: t });
    ctx.callbacks.onFetchResponse?.(request, response);
    return response;
  } catch (reason) {
    throw toConnectError(reason);
  }
}

/** The cache a Fetch reads: Secrets narrowed to what this caller may have. */
function fetchCache(ctx: DiscoveryContext, hctx: HandlerContext, node: Node): Cache {
  const auth = ctx.auth as Authorization;
  const allowed = auth.secretAuthorizer;
  if (!allowed) return ctx.cache;
  const request = authorizationRequest(auth, hctx.values.get(peerKey), node, {
    service: hctx.service.typeName,
    method: hctx.method.name,
    typeUrl: TypeUrl.Secret,
  });
  return guardSecrets(ctx.cache, (n, name) => allowed(n, name, request));
}
