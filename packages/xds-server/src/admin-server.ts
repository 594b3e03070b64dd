import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { Cache } from "@nebucloud/xds-cache";
import { XdsError } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type { Registry } from "prom-client";
import { type AdminTlsOptions, assertExposureAllowed, refusalOf, tokenFormHtml } from "./admin-access.js";
import { ServingStatus } from "./health-service.js";
import { type Logger, silentLogger } from "./logger.js";
import type { NodeRequestHandler } from "./rest-gateway.js";
import type { TypeStatus } from "./sotw-stream.js";
import type { XdsServerHandle } from "./xds-server.js";

/** What a readiness check answers: ready or not, and why not. */
export interface Readiness {
  /** Whether the process should receive traffic. */
  readonly ready: boolean;
  /** Why the process is not ready; shown in the `/readyz` answer. */
  readonly reason?: string;
}

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions {
  /**
   * Where to listen, as HOST:PORT (`[::1]:9901` for IPv6); port 0 picks a free
   * one. Only this address is bound. An address other than loopback
   * (127.0.0.0/8, ::1, localhost) needs `token` or mTLS (`tls.ca`).
   */
  readonly address: string;
  /**
   * A bearer token every page except `/healthz` and `/readyz` needs
   * (`Authorization: Bearer <token>`; the status page `/` also takes
   * `?token=`, since a browser opening it cannot send a header). Compared in
   * constant time. Default: none.
   */
  readonly token?: string;
  /** Serve HTTPS instead of HTTP; with `ca`, pages other than the probes also need a client certificate it verifies. */
  readonly tls?: AdminTlsOptions;
  /** The xDS server: its health gates `/readyz`; its streams feed `/debug/streams` and `/debug/nacks`. */
  readonly handle?: XdsServerHandle;
  /** The cache whose per-node state `/debug/nodes` shows. */
  readonly cache?: Cache;
  /** The registry `/metrics` serves (default: the handle's metrics registry). */
  readonly metricsRegistry?: Registry;
  /** An extra readiness check for `/readyz` (e.g. "the first snapshot is set"). */
  readonly ready?: () => boolean | Readiness | Promise<boolean | Readiness>;
  /**
   * More JSON debug pages: each key is served at `/debug/<key>` with what its
   * function returns (awaited). Built-in pages take precedence over keys of the
   * same name.
   */
  readonly extraDebug?: Readonly<Record<string, () => unknown>>;
  /** Serves `/` (any method); without it `/` is a 404. */
  readonly statusPage?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /**
   * Serves `/v3/discovery:*` (any method), e.g. a {@link restGateway} so that
   * Envoy's REST config sources can poll the admin port.
   */
  readonly rest?: NodeRequestHandler;
  /** Where failures of pages are logged. Default: nowhere. */
  readonly logger?: Logger;
}

/** A running admin server. */
export interface AdminServer {
  /** The bound address as HOST:PORT (the real port when 0 was asked for). */
  readonly address: string;
  /** The bound port. */
  readonly port: number;
  /** Stops listening and closes every connection. Idempotent. */
  close(): Promise<void>;
}

/** One stream type as `/debug/streams` shows it. */
interface TypeJson {
  readonly typeUrl: string;
  readonly wildcard: boolean;
  readonly subscribed: readonly string[];
  readonly sentVersion: string;
  readonly ackedVersion: string;
  readonly nack: { readonly version: string; readonly message: string } | null;
  /** Name -> version the client holds. */
  readonly resources: Record<string, string>;
}

/**
 * Starts the operator's HTTP/1.1 server next to the xDS port:
 *
 * - `/healthz`: 200 `ok` while the process runs (liveness).
 * - `/readyz`: 200 `ok` when `ready()` holds and the xDS server's overall
 *   health (`""`) is SERVING; 503 with the reasons otherwise (so shutdown
 *   turns it 503 at once).
 * - `/metrics`: Prometheus text from `metricsRegistry` or the handle's metrics.
 * - `/debug/streams`: every open xDS stream with its node and, per type, the
 *   subscription, sent and ACKed versions, the last NACK and the resource
 *   names and versions the client holds.
 * - `/debug/nodes`: the cache's per-node state (watches, last request, versions).
 * - `/debug/nacks`: every stream type whose last response was rejected.
 * - `/debug/<key>` for each `extraDebug` key; `/debug` lists the debug pages.
 * - `/` from `statusPage`; `/v3/discovery:*` from `rest`.
 *
 * With `token` (or mTLS), every page but `/healthz` and `/readyz` answers 401
 * with `WWW-Authenticate: Bearer` and a JSON `{code, message}` until the
 * request carries it; a browser asking for `/` gets a form for the token.
 * Pages show names and versions only, never resource contents (secrets stay
 * out). Anything else is a 404 with a JSON body `{code, message}`. Rejects
 * with an XdsError `invalid_config` for a bad address or a non-loopback one
 * without a token or mTLS (before listening), or the listen error.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const [host, port] = parseAddress(options.address);
  const mtls = options.tls?.ca !== undefined;
  assertExposureAllowed(options.address, host, options.token !== undefined, mtls);
  if (options.token === "") {
    throw new XdsError("invalid_config", "the admin token is empty", { field: "token", reason: "an empty token" });
  }
  const logger = options.logger ?? silentLogger;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    guard(req, res, options, mtls).catch((reason: unknown) => {
      // The path only: the query may hold the status page's token.
      logger.error({ error: String(reason), path: pathOf(req.url) }, "admin page failed");
      sendJson(res, 500, { code: "internal", message: `internal error: ${messageOf(reason)}` });
    });
  };
  const tls = options.tls;
  const server = tls
    ? https.createServer(
        // Without a client certificate the handshake still succeeds, so probes work; pages check `authorized`.
        { cert: tls.cert, key: tls.key, ...(mtls ? { ca: tls.ca, requestCert: true, rejectUnauthorized: false } : {}) },
        handler,
      )
    : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error) => logger.warn({ error: String(error) }, "admin server error"));
  const bound = server.address() as AddressInfo;
  const boundAddress = `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
  logger.info(
    { address: boundAddress, tls: tls !== undefined, mtls, token: options.token !== undefined },
    "admin server listening",
  );
  let closed: Promise<void> | undefined;
  return {
    address: boundAddress,
    port: bound.port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

const builtInDebugPages = ["streams", "nodes", "nacks"] as const;

/** Answers 401 to a request that lacks a credential the page needs; routes the rest. */
async function guard(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: AdminServerOptions,
  mtls: boolean,
): Promise<void> {
  const refusal = refusalOf(req, pathOf(req.url), queryOf(req.url), options.token, mtls);
  if (!refusal) return route(req, res, options);
  res.setHeader("www-authenticate", refusal.challenge);
  if (pathOf(req.url) === "/" && (req.headers.accept ?? "").includes("text/html")) {
    res.writeHead(401, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(tokenFormHtml(refusal.message));
    return;
  }
  sendJson(res, 401, { code: refusal.code, message: refusal.message });
}

async function route(req: http.IncomingMessage, res: http.ServerResponse, options: AdminServerOptions): Promise<void> {
  const path = pathOf(req.url);
  if (options.rest && path.startsWith("/v3/discovery:")) {
    options.rest(req, res);
    return;
  }
  if (path === "/") {
    if (!options.statusPage) {
      sendJson(res, 404, { code: "not_found", message: "no status page is configured" });
      return;
    }
    options.statusPage(req, res);
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    sendJson(res, 405, { code: "method_not_allowed", message: `${path} accepts GET and HEAD only, not ${req.method}` });
    return;
  }
  switch (path) {
    case "/healthz":
      sendText(res, 200, "ok\n");
      return;
    case "/readyz": {
      const reasons = await notReadyReasons(options);
      if (reasons.length === 0) sendText(res, 200, "ok\n");
      else sendText(res, 503, `not ready: ${reasons.join("; ")}\n`);
      return;
    }
    case "/metrics": {
      const registry = options.metricsRegistry ?? options.handle?.metrics?.registry;
      if (!registry) {
        sendJson(res, 404, { code: "not_found", message: "no metrics registry is configured" });
        return;
      }
      const text = await registry.metrics();
      res.statusCode = 200;
      res.setHeader("content-type", registry.contentType);
      res.setHeader("cache-control", "no-store");
      res.end(text);
      return;
    }
    case "/debug":
      sendJson(res, 200, {
        pages: [...builtInDebugPages, ...Object.keys(options.extraDebug ?? {})].map((key) => `/debug/${key}`),
      });
      return;
    case "/debug/streams": {
      const handle = requireHandle(res, options);
      if (handle) sendJson(res, 200, { streams: debugStreams(handle) });
      return;
    }
    case "/debug/nacks": {
      const handle = requireHandle(res, options);
      if (handle) sendJson(res, 200, { nacks: debugNacks(handle) });
      return;
    }
    case "/debug/nodes": {
      if (!options.cache) {
        sendJson(res, 404, { code: "not_found", message: "no cache is configured, so no node state to show" });
        return;
      }
      sendJson(res, 200, { nodes: debugNodes(options.cache) });
      return;
    }
  }
  const extra = options.extraDebug;
  if (path.startsWith("/debug/") && extra) {
    const key = path.slice("/debug/".length);
    const page = Object.hasOwn(extra, key) ? extra[key] : undefined;
    if (page) {
      sendJson(res, 200, await page());
      return;
    }
  }
  sendJson(res, 404, { code: "not_found", message: `no admin page at ${JSON.stringify(path)}` });
}

/** Why `/readyz` fails; empty when ready. */
async function notReadyReasons(options: AdminServerOptions): Promise<string[]> {
  const reasons: string[] = [];
  if (options.ready) {
    try {
      const answer = await options.ready();
      const readiness: Readiness = typeof answer === "boolean" ? { ready: answer } : answer;
      if (!readiness.ready) reasons.push(readiness.reason || "the readiness check failed");
    } catch (error) {
      reasons.push(`the readiness check threw: ${messageOf(error)}`);
    }
  }
  if (options.handle) {
    const status = options.handle.health.get("");
    if (status !== ServingStatus.SERVING) {
      reasons.push(`the xDS server is ${status === undefined ? "not serving" : ServingStatus[status]}`);
    }
  }
  return reasons;
}

function requireHandle(res: http.ServerResponse, options: AdminServerOptions): XdsServerHandle | undefined {
  if (!options.handle) sendJson(res, 404, { code: "not_found", message: "no xDS server handle is configured" });
  return options.handle;
}

function nodeJson(node: Node | undefined): { id: string; cluster: string } | null {
  return node ? { id: node.id, cluster: node.cluster } : null;
}

function typeJson(status: TypeStatus): TypeJson {
  return {
    typeUrl: status.typeUrl,
    wildcard: status.wildcard,
    subscribed: status.subscribed,
    sentVersion: status.sentVersion,
    ackedVersion: status.ackedVersion,
    nack: status.nack ? { version: status.nack.version, message: status.nack.message } : null,
    resources: Object.fromEntries(status.returned),
  };
}

function debugStreams(handle: XdsServerHandle) {
  return handle.streams().map((stream) => ({
    id: stream.info.id,
    kind: stream.info.kind,
    method: stream.info.method,
    typeUrl: stream.info.typeUrl ?? null,
    peer: stream.info.peer ?? null,
    node: nodeJson(stream.node),
    openedAt: new Date(stream.openedAt).toISOString(),
    types: stream.status().map(typeJson),
  }));
}

function debugNacks(handle: XdsServerHandle) {
  return handle.streams().flatMap((stream) =>
    stream
      .status()
      .filter((status) => status.nack !== undefined)
      .map((status) => ({
        stream: stream.info.id,
        node: nodeJson(stream.node),
        typeUrl: status.typeUrl,
        version: status.nack?.version ?? "",
        message: status.nack?.message ?? "",
      })),
  );
}

function debugNodes(cache: Cache) {
  return cache.status().map((status) => ({
    nodeKey: status.nodeKey,
    node: nodeJson(status.node),
    watches: status.watches,
    lastRequestTime: status.lastRequestTime > 0 ? new Date(status.lastRequestTime).toISOString() : null,
    versions: Object.fromEntries(status.versions),
  }));
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent || res.writableEnded) return;
  res.statusCode = status;
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.setHeader("cache-control", "no-store");
  res.end(text);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  if (res.headersSent || res.writableEnded) return;
  const body = `${JSON.stringify(value ?? null, jsonReplacer, 2)}\n`;
  res.statusCode = status;
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.setHeader("cache-control", "no-store");
  res.setHeader("x-content-type-options", "nosniff");
  res.end(body);
}

/** JSON for what debug functions commonly return: bigints, Maps, Sets. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

function parseAddress(address: string): [string, number] {
  const at = address.lastIndexOf(":");
  const host = at < 0 ? "" : address.slice(0, at).replace(/^\[|\]$/g, "");
  const portText = at < 0 ? "" : address.slice(at + 1);
  const port = Number(portText);
  if (host === "" || portText === "" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new XdsError("invalid_config", `admin address ${JSON.stringify(address)} is not HOST:PORT`, {
      field: "address",
      reason: "expected HOST:PORT with an explicit host, e.g. 127.0.0.1:9901",
    });
  }
  return [host, port];
}

function pathOf(url: string | undefined): string {
  const raw = (url ?? "/").split("?", 1)[0] ?? "/";
  try {
    return decodeURI(raw);
  } catch {
    return raw;
  }
}

function queryOf(url: string | undefined): URLSearchParams {
  const at = (url ?? "").indexOf("?");
  return new URLSearchParams(at < 0 ? "" : (url ?? "").slice(at + 1));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
