import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Cache } from "@nebucloud/xds-cache";
import {
  defaultResourceTypes,
  parseConfig,
  type ResourceTypeRegistry,
  ServerConfig,
  type ServerConfigInput,
  XdsError,
} from "@nebucloud/xds-core";
import type { Registry } from "prom-client";
import { type AuthorizerOptions, authorization, type NodeAuthorizer } from "./authorization.js";
import type { ServerCallbacks } from "./callbacks.js";
import { registerCsdsService } from "./csds-service.js";
import { type DiscoveryContext, perTypeServices, registerDiscoveryServices } from "./discovery-services.js";
import { serveGrpcStream, streamRoutes } from "./grpc-stream-transport.js";
import { HealthStatus, registerHealthService, ServingStatus } from "./health-service.js";
import { type Logger, silentLogger } from "./logger.js";
import { type LrsOptions, registerLrsService } from "./lrs-service.js";
import { ServerMetrics } from "./metrics.js";
import { peerKey, peerOf } from "./peer.js";
import { PeerLimits } from "./peer-limits.js";
import { registerReflectionService } from "./reflection-service.js";
import { restGateway } from "./rest-gateway.js";
import type { ServerParts, ServiceRegistration } from "./server-parts.js";
import { StreamRegistry, type StreamView } from "./stream-registry.js";
import { TokenBucket } from "./token-bucket.js";
import { WriteScheduler } from "./write-scheduler.js";

/** TLS material for {@link XdsServerBuilder.withTls}; PEM strings or buffers. */
export interface TlsOptions {
  /** The server's certificate chain (PEM). */
  readonly cert: string | Buffer;
  /** The server's private key (PEM). */
  readonly key: string | Buffer;
  /** CA bundle that client certificates must chain to (mTLS). */
  readonly ca?: string | Buffer;
  /** Refuse clients without a valid certificate. Default false. */
  readonly requireClientCert?: boolean;
}

export type { ServerParts, ServiceRegistration } from "./server-parts.js";

/** A running server. */
export interface XdsServerHandle {
  /** The bound address as HOST:PORT (the real port when 0 was asked for). */
  readonly address: string;
  /** The bound port. */
  readonly port: number;
  /** Serving status per service; shutdown turns it NOT_SERVING. */
  readonly health: HealthStatus;
  /** The server's metrics, when {@link XdsServerBuilder.withMetrics} was called. */
  readonly metrics: ServerMetrics | undefined;
  /** Every open xDS stream, with its node and per-type status. */
  streams(): StreamView[];
  /**
   * Graceful shutdown: health NOT_SERVING, new streams refused, GOAWAY on every
   * connection, then the remaining xDS streams end with UNAVAILABLE so their
   * clients reconnect elsewhere (up to 1 s, at most a quarter of the drain
   * timeout, before it expires). Resolves once every connection has closed,
   * within `drainTimeoutMs`. Idempotent.
   */
  shutdown(): Promise<void>;
  /** Closes every connection now. */
  forceShutdown(): void;
  /**
   * Replaces the TLS certificate, key and CA bundle of a server started with
   * TLS (certificate rotation): new connections use them, open ones keep
   * theirs. Throws an XdsError `invalid_config` (and keeps the old material)
   * when they do not load, e.g. a key that does not match the certificate.
   */
  updateTls(tls: TlsOptions): void;
}

/**
 * Builds an xDS server (see {@link XdsServer.builder}). Each `with*` returns
 * the builder; `serve` starts it. A builder serves once.
 */
export class XdsServerBuilder {
  #cache: Cache | undefined;
  #config: ServerConfigInput = {};
  #metricsRegistry: Registry | undefined;
  #metrics = false;
  #health = false;
  #reflection = false;
  #tls: TlsOptions | undefined;
  #authorize: NodeAuthorizer | undefined;
  #authorizerOptions: AuthorizerOptions = {};
  #lrs: LrsOptions = {};
  #callbacks: ServerCallbacks = {};
  #logger: Logger = silentLogger;
  #types: ResourceTypeRegistry = defaultResourceTypes;
  readonly #extra: ServiceRegistration[] = [];

  /** The cache every discovery service answers from. Required. */
  withCache(cache: Cache): this {
    this.#cache = cache;
    return this;
  }

  /** Server settings ({@link ServerConfig}); validated when `serve` is called. */
  withConfig(config: ServerConfigInput): this {
    this.#config = config;
    return this;
  }

  /** Prometheus metrics in `registry` (default: a registry of the server's own, on the handle). */
  withMetrics(registry?: Registry): this {
    this.#metrics = true;
    this.#metricsRegistry = registry;
    return this;
  }

  /** Serves `grpc.health.v1.Health` for the whole server and each discovery service. */
  withHealthService(): this {
    this.#health = true;
    return this;
  }

  /**
   * Serves gRPC server reflection (v1 and v1alpha) for every service the
   * server registers, reflection included, so grpcurl needs no proto files.
   */
  withReflection(): this {
    this.#reflection = true;
    return this;
  }

  /** Serves over TLS, or mTLS with `ca` and `requireClientCert`. */
  withTls(tls: TlsOptions): this {
    this.#tls = tls;
    return this;
  }

  /**
   * One authorization decision for everything on the xDS port: every xDS
   * stream (SotW and delta, ADS and per-type) once per type URL it asks for,
   * every Fetch and REST discovery request, LRS, and CSDS (which shows a
   * caller only the nodes it may speak for, and every node to
   * `options.adminIdentities`). The decision sees the peer (its verified
   * certificate's names), the whole node, the node key the cache reads for
   * it, the service and the type URL. A refusal ends the call with
   * PERMISSION_DENIED (REST: 403) naming what was refused, before anything is
   * served. Use {@link spiffeNodeAuthorizer} with mTLS, or your own function.
   * `options.secretAuthorizer` narrows which Secrets each caller receives.
   * Default: every caller may speak for every node.
   */
  withAuthorizer(authorize: NodeAuthorizer, options: AuthorizerOptions = {}): this {
    this.#authorize = authorize;
    this.#authorizerOptions = options;
    return this;
  }

  /**
   * LRS settings: how often clients report and on which clusters. Default:
   * every cluster, every 10 s. LRS is served either way.
   */
  withLoadReporting(options: LrsOptions): this {
    this.#lrs = options;
    return this;
  }

  /** Hooks into streams, requests, responses, NACKs and load reports. */
  withCallbacks(callbacks: ServerCallbacks): this {
    this.#callbacks = callbacks;
    return this;
  }

  /** Where the server logs (default: nowhere). */
  withLogger(logger: Logger): this {
    this.#logger = logger;
    return this;
  }

  /** The resource types served (default: Envoy's plus whatever was registered in the default registry). */
  withResourceTypes(types: ResourceTypeRegistry): this {
    this.#types = types;
    return this;
  }

  /** @internal Adds services (CSDS, LRS, reflection) registered by this package's modules. */
  withServices(registration: ServiceRegistration): this {
    this.#extra.push(registration);
    return this;
  }

  /**
   * Starts serving on `address` (HOST:PORT; port 0 picks a free one). Rejects
   * with an XdsError `invalid_config` for bad settings, or the listen error.
   */
  async serve(address?: string): Promise<XdsServerHandle> {
    const cache = this.#cache;
    if (!cache) throw new XdsError("invalid_config", "withCache(cache) is required before serve()", { field: "cache" });
    const config = parseConfig(ServerConfig, { ...this.#config, ...(address ? { address } : {}) }, "server config");
    const streams = new StreamRegistry();
    const health = new HealthStatus();
    const metrics = this.#metrics
      ? new ServerMetrics(
          this.#metricsRegistry,
          () => (cache as { numWatches?: () => number }).numWatches?.() ?? 0,
          () => (cache as { snapshotCount?: () => number }).snapshotCount?.() ?? 0,
        )
      : undefined;
    const lifecycle = { closing: false, aborters: new Set<(reason: unknown) => void>() };
    const auth = this.#authorize ? authorization(cache, this.#authorize, this.#authorizerOptions) : undefined;
    const parts: ServerParts = {
      auth,
      cache,
      types: this.#types,
      config,
      callbacks: this.#callbacks,
      logger: this.#logger,
      metrics,
      streams,
      health,
    };
    const peerLimits = new PeerLimits(config.maxStreamsPerPeer, config.requestsPerSecondPerPeer);
    const discovery: DiscoveryContext = {
      ...parts,
      newStreams: config.newStreamsPerSecond > 0 ? new TokenBucket(config.newStreamsPerSecond) : undefined,
      peerLimits: peerLimits.active ? peerLimits : undefined,
      lifecycle,
    };
    const withHealth = this.#health;
    const withReflection = this.#reflection;
    const extra = this.#extra;
    const lrs = this.#lrs;
    const connectHandler = connectNodeAdapter({
      grpc: true,
      grpcWeb: false,
      connect: false,
      readMaxBytes: config.maxReceiveMessageBytes,
      writeMaxBytes: config.maxSendMessageBytes,
      contextValues: (request) => createContextValues().set(peerKey, peerOf(request)),
      // Non-gRPC requests on the xDS port: the xDS REST-JSON API (HTTP/2, or
      // HTTP/1.1 too under TLS through ALPN).
      fallback: restGateway({
        cache,
        types: this.#types,
        logger: this.#logger,
        ...(this.#authorize ? { authorize: this.#authorize } : {}),
        ...(this.#authorizerOptions.secretAuthorizer
          ? { secretAuthorizer: this.#authorizerOptions.secretAuthorizer }
          : {}),
      }),
      routes(router) {
        registerDiscoveryServices(router, discovery);
        registerCsdsService(router, parts);
        registerLrsService(router, parts, lrs);
        if (withHealth) registerHealthService(router, health);
        for (const registration of extra) registration(router, parts);
        // Read at request time: every service above, and reflection itself.
        const names = () => [...new Set(router.handlers.map((h) => h.service.typeName))];
        if (withReflection) registerReflectionService(router, names);
      },
    });
    // xDS streams take the hot path: raw HTTP/2 with responses written from
    // shared encoded bytes. connect serves everything else (fetch, CSDS, LRS,
    // health, reflection) and the REST gateway.
    const routes = streamRoutes();
    const scheduler = new WriteScheduler(config.maxConcurrentWrites);
    const settings = { maxConcurrentStreams: config.maxConcurrentStreams };
    // The handler serves HTTP/1.1 (the REST gateway, under TLS through ALPN);
    // HTTP/2 streams are dispatched below.
    const server = this.#tls
      ? http2.createSecureServer(
          {
            ...secureContextOptions(this.#tls),
            // A CA means client certificates are asked for and verified; only
            // verified ones count as identities (see peerOfSocket).
            requestCert: this.#tls.requireClientCert ?? this.#tls.ca !== undefined,
            rejectUnauthorized: this.#tls.requireClientCert ?? false,
            allowHTTP1: true,
            settings,
          },
          connectHandler,
        )
      : http2.createServer({ settings }, connectHandler);
    // Node wraps every HTTP/2 stream in a compat request/response pair once a
    // request handler exists. xDS streams do without (see serveGrpcStream), so
    // that wrapping is replaced by this dispatch, which builds the pair only
    // for what connect serves.
    server.removeAllListeners("stream");
    // Streams whose response is over but whose client never half-closed would
    // hold a draining connection open until the drain timeout; shutdown closes them.
    const h2streams = new Set<http2.ServerHttp2Stream>();
    server.on(
      "stream",
      (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
        h2streams.add(stream);
        stream.once("close", () => h2streams.delete(stream));
        const route = headers[":method"] === "POST" ? routes.get(String(headers[":path"])) : undefined;
        if (route) serveGrpcStream(stream, headers, route, discovery, scheduler);
        else
          connectHandler(
            new http2.Http2ServerRequest(stream, headers, {}, rawHeaders),
            new http2.Http2ServerResponse(stream),
          );
      },
    );
    const sessions = new Set<http2.Http2Session>();
    server.on("session", (session) => {
      sessions.add(session);
      session.on("close", () => sessions.delete(session));
      session.on("error", (error) => this.#logger.debug({ error: String(error) }, "connection error"));
      keepAlive(session, config.keepalive.intervalMs, config.keepalive.timeoutMs);
    });
    const [host, port] = splitAddress(config.address);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const bound = server.address() as AddressInfo;
    const boundAddress = `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
    health.set("", ServingStatus.SERVING);
    health.set("envoy.service.discovery.v3.AggregatedDiscoveryService", ServingStatus.SERVING);
    for (const [service] of perTypeServices) health.set(service.typeName, ServingStatus.SERVING);
    this.#logger.info({ address: boundAddress, tls: Boolean(this.#tls) }, "xDS server listening");

    let shutdown: Promise<void> | undefined;
    const logger = this.#logger;
    const forceShutdown = () => {
      lifecycle.closing = true;
      health.notServing();
      server.close();
      for (const session of sessions) session.destroy();
      metrics?.close();
    };
    return {
      address: boundAddress,
      port: bound.port,
      health,
      metrics,
      streams: () => streams.list(),
      forceShutdown,
      updateTls: (tls) => {
        if (!("setSecureContext" in server)) {
          throw new XdsError("invalid_config", "updateTls: this server was started without TLS", { field: "tls" });
        }
        try {
          (server as http2.Http2SecureServer).setSecureContext(secureContextOptions(tls));
        } catch (error) {
          throw new XdsError("invalid_config", `updateTls: ${error instanceof Error ? error.message : String(error)}`, {
            field: "tls",
          });
        }
        logger.info({}, "TLS material replaced");
      },
      shutdown() {
        shutdown ??= (async () => {
          health.notServing();
          lifecycle.closing = true;
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          for (const session of sessions) if (!session.closed) session.close();
          for (const stream of h2streams) if (stream.writableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
          // The whole shutdown fits in drainTimeoutMs: streams still open are ended
          // with UNAVAILABLE at endGraceMs before it, so their statuses are out and
          // the connections closed when it expires (orchestrators size grace periods by it).
          const deadline = Date.now() + config.drainTimeoutMs;
          const endGraceMs = Math.min(1000, Math.floor(config.drainTimeoutMs / 4));
          const until = (at: number) =>
            new Promise<boolean>((resolve) => setTimeout(() => resolve(false), Math.max(0, at - Date.now())).unref());
          const drained = await Promise.race([closed.then(() => true), until(deadline - endGraceMs)]);
          if (!drained) {
            logger.info({ streams: streams.size }, "drain timeout: ending remaining streams with UNAVAILABLE");
            for (const abort of [...lifecycle.aborters]) {
              abort(new ConnectError("the server is shutting down; reconnect", Code.Unavailable));
            }
            // The aborted streams' statuses go out within a few turns; streams whose
            // client never half-closes would then hold the connection open.
            for (let turn = 0; turn < 20 && h2streams.size > 0 && Date.now() + 10 < deadline; turn++) {
              await new Promise((resolve) => setTimeout(resolve, 10));
              for (const stream of h2streams) {
                if (stream.writableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
              }
            }
            const ended = await Promise.race([closed.then(() => true), until(deadline)]);
            if (!ended) for (const session of sessions) session.destroy();
            await closed;
          }
          metrics?.close();
        })();
        return shutdown;
      },
    };
  }

  /**
   * Starts serving and shuts down gracefully when `signal` aborts. Resolves to
   * the handle once listening.
   */
  async serveWithShutdown(address: string, signal: AbortSignal): Promise<XdsServerHandle> {
    const handle = await this.serve(address);
    if (signal.aborted) void handle.shutdown();
    else signal.addEventListener("abort", () => void handle.shutdown(), { once: true });
    return handle;
  }
}

/** Entry point: `XdsServer.builder()`. */
export const XdsServer = {
  /** A new {@link XdsServerBuilder}. */
  builder(): XdsServerBuilder {
    return new XdsServerBuilder();
  },
};

/** The certificate, key and CA bundle of `tls`, as node:tls takes them. */
function secureContextOptions(tls: TlsOptions): { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer } {
  return { cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}) };
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(":");
  const host = address.slice(0, at).replace(/^\[|\]$/g, "");
  return [host, Number(address.slice(at + 1))];
}

/** HTTP/2 PINGs on a connection; one unanswered within `timeoutMs` closes it. */
function keepAlive(session: http2.Http2Session, intervalMs: number, timeoutMs: number): void {
  const timer = setInterval(() => {
    if (session.closed || session.destroyed) return;
    const deadline = setTimeout(() => session.destroy(), timeoutMs);
    deadline.unref();
    try {
      session.ping(() => clearTimeout(deadline));
    } catch {
      clearTimeout(deadline);
    }
  }, intervalMs);
  timer.unref();
  session.once("close", () => clearInterval(timer));
}
