import type http from "node:http";
import type http2 from "node:http2";
import { create, fromJson, type Registry, toJson } from "@bufbuild/protobuf";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import type { Cache } from "@nebucloud/xds-cache";
import { defaultResourceTypes, type ResourceTypeRegistry, TypeUrl, XdsError } from "@nebucloud/xds-core";
import { registry as protoRegistry } from "@nebucloud/xds-proto";
import {
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import {
  type Authorization,
  authorization,
  authorizationRequest,
  type NodeAuthorizer,
  requireAuthorized,
  restGatewayService,
  type SecretAuthorizer,
} from "./authorization.js";
import { anyOf, wrappedAny } from "./discovery-response.js";
import { type Logger, silentLogger } from "./logger.js";
import { peerOf } from "./peer.js";
import { guardSecrets } from "./secret-guard.js";

/**
 * The REST paths of the xDS discovery services (the `google.api.http`
 * annotations of Envoy's v3 service protos) and the type URL each serves.
 * Envoy's `api_type: REST` config sources POST to these.
 */
export const restDiscoveryPaths: ReadonlyMap<string, string> = new Map([
  ["/v3/discovery:clusters", TypeUrl.Cluster],
  ["/v3/discovery:endpoints", TypeUrl.Endpoint],
  ["/v3/discovery:listeners", TypeUrl.Listener],
  ["/v3/discovery:routes", TypeUrl.Route],
  ["/v3/discovery:scoped-routes", TypeUrl.ScopedRoute],
  ["/v3/discovery:secrets", TypeUrl.Secret],
  ["/v3/discovery:runtime", TypeUrl.Runtime],
  ["/v3/discovery:extension_configs", TypeUrl.ExtensionConfig],
]);

/** Options of {@link restGateway}. */
export interface RestGatewayOptions {
  /** The cache every request is answered from (with `Cache.fetch`). */
  readonly cache: Cache;
  /**
   * The resource types served (default: the core's default registry). A type
   * missing from it is answered 404; schemas of types registered here are
   * also used to write their resources as JSON.
   */
  readonly types?: ResourceTypeRegistry;
  /** Largest request body accepted, in bytes; larger ones are answered 413. Default 4 MiB. */
  readonly maxBodyBytes?: number;
  /** Where unexpected failures (answered 500) are logged. Default: nowhere. */
  readonly logger?: Logger;
  /**
   * Checked with each request's node, its node key, the caller's peer, the
   * service `xds.rest` and the type; a refusal is answered 403. Default: none.
   */
  readonly authorize?: NodeAuthorizer;
  /** With `authorize`: which Secrets each caller may have (see `AuthorizerOptions.secretAuthorizer`). */
  readonly secretAuthorizer?: SecretAuthorizer;
}

/**
 * A request handler for node:http, node:https and node:http2 (compatibility
 * API) servers: connect-node's `fallback` type, so the gateway plugs in there.
 */
export type NodeRequestHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

/** What both response flavours share and the gateway uses. */
interface Response {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly destroyed?: boolean;
  statusCode: number;
  setHeader(name: string, value: string | number): unknown;
  end(chunk?: string): unknown;
}

/** A failure answered with an HTTP status and a JSON `{code, message}` body. */
class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const defaultMaxBodyBytes = 4 * 1024 * 1024;

/**
 * The xDS REST-JSON API as Envoy's REST config sources use it:
 * `POST /v3/discovery:clusters` (and `:endpoints`, `:listeners`, `:routes`,
 * `:scoped-routes`, `:secrets`, `:runtime`, `:extension_configs`) with a
 * proto3 JSON `DiscoveryRequest` body, answered from `cache.fetch`.
 *
 * Answers: 200 with a proto3 JSON `DiscoveryResponse` (resources as typed
 * `Any`, with `@type`); 304 when the client's `version_info` is current; 400
 * for malformed JSON, unknown fields, a missing `node.id` or a `type_url` other
 * than the path's; 403 when `authorize` refuses the node; 404 for an unknown path or a node the cache has no state
 * for; 405 for any method but POST; 413 for a body over `maxBodyBytes`. Every
 * error but 304 carries a JSON body `{code, message}`. The handler never
 * throws; it suits connect-node's `fallback` (plain HTTP requests on the xDS
 * port) and an admin server alike.
 */
export function restGateway(options: RestGatewayOptions): NodeRequestHandler {
  const types = options.types ?? defaultResourceTypes;
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
  const logger = options.logger ?? silentLogger;
  const registry = withResourceTypes(protoRegistry, types);
  const auth = options.authorize
    ? authorization(
        options.cache,
        options.authorize,
        options.secretAuthorizer ? { secretAuthorizer: options.secretAuthorizer } : {},
      )
    : undefined;
  return (req, res) => {
    const response = res as unknown as Response;
    const http1 = req.httpVersionMajor < 2;
    serve(req, options.cache, types, registry, maxBodyBytes, auth)
      .then((answer) => {
        if (answer === undefined) send(response, 304, undefined);
        else send(response, 200, answer);
      })
      .catch((reason: unknown) => {
        const failure = toFailure(reason);
        if (failure.status >= 500) {
          logger.error({ error: String(reason), path: req.url }, "REST discovery request failed");
        }
        const headers: [string, string][] = [];
        if (failure.status === 405) headers.push(["allow", "POST"]);
        // An unread body would otherwise be read (and dropped) to keep the connection.
        if (failure.status === 413 && http1) headers.push(["connection", "close"]);
        send(response, failure.status, JSON.stringify({ code: failure.code, message: failure.message }), headers);
      })
      .catch(() => {
        // send already guards every write; nothing may escape the handler.
      });
  };
}

/** Handles one request: the JSON response body, or `undefined` for 304. */
async function serve(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  cache: Cache,
  types: ResourceTypeRegistry,
  registry: Registry,
  maxBodyBytes: number,
  auth: Authorization | undefined,
): Promise<string | undefined> {
  const path = pathOf(req.url);
  const typeUrl = restDiscoveryPaths.get(path);
  if (typeUrl === undefined) {
    throw new HttpFailure(
      404,
      "not_found",
      `no xDS REST endpoint at ${JSON.stringify(path)}; known: ${[...restDiscoveryPaths.keys()].join(", ")}`,
    );
  }
  if (req.method !== "POST") {
    throw new HttpFailure(405, "method_not_allowed", `${path} accepts POST only, not ${req.method ?? "?"}`);
  }
  if (!types.has(typeUrl)) {
    throw new HttpFailure(404, "unknown_type", `the resource type ${typeUrl} is not served`);
  }
  const body = await readBody(req, maxBodyBytes);
  const text = body.toString("utf8");
  if (text.trim() === "") {
    throw new HttpFailure(400, "invalid_request", "malformed JSON: the request body is empty");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new HttpFailure(400, "invalid_request", `malformed JSON: ${messageOf(error)}`);
  }
  let request: DiscoveryRequest;
  try {
    request = fromJson(DiscoveryRequestSchema, json as never, { registry, ignoreUnknownFields: false });
  } catch (error) {
    throw new HttpFailure(400, "invalid_request", `invalid DiscoveryRequest: ${messageOf(error)}`);
  }
  if (!request.node?.id) {
    throw new HttpFailure(400, "invalid_request", "the DiscoveryRequest must carry node.id");
  }
  if (request.typeUrl !== "" && request.typeUrl !== typeUrl) {
    throw new HttpFailure(
      400,
      "invalid_request",
      `${path} serves ${typeUrl}; the request's type_url is ${JSON.stringify(request.typeUrl)}`,
    );
  }
  let served = cache;
  if (auth) {
    const decision = authorizationRequest(auth, peerOf(req), request.node, {
      service: restGatewayService,
      method: path,
      typeUrl,
    });
    await requireAuthorized(auth, decision);
    const allowed = auth.secretAuthorizer;
    if (allowed) served = guardSecrets(cache, (node, name) => allowed(node, name, decision));
  }
  let answer: ReturnType<Cache["fetch"]>;
  try {
    answer = served.fetch({
      typeUrl,
      node: request.node,
      resourceNames: request.resourceNames,
      versionInfo: request.versionInfo,
    });
  } catch (error) {
    if (error instanceof XdsError && error.code === "version_up_to_date") return undefined;
    throw error;
  }
  const response: DiscoveryResponse = create(DiscoveryResponseSchema, {
    versionInfo: answer.version,
    typeUrl,
    resources: answer.resources.map((r) =>
      r.ttlMs !== undefined || answer.heartbeat ? wrappedAny(r, answer.heartbeat) : anyOf(r),
    ),
  });
  try {
    return JSON.stringify(toJson(DiscoveryResponseSchema, response, { registry }));
  } catch (error) {
    throw new HttpFailure(500, "serialization", `cannot write the response as JSON: ${messageOf(error)}`);
  }
}

/** The request body, or a 413 failure once it passes `limit` bytes. */
function readBody(req: http.IncomingMessage | http2.Http2ServerRequest, limit: number): Promise<Buffer> {
  const tooLarge = () =>
    new HttpFailure(413, "payload_too_large", `the request body is larger than the limit of ${limit} bytes`);
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    const onData = (chunk: Buffer | string) => {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += buffer.length;
      if (size > limit) {
        cleanup();
        // Discard the rest; HTTP/1 closes the connection after the answer.
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(buffer);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new HttpFailure(400, "invalid_request", `the request body could not be read: ${error.message}`));
    };
    const onAborted = () => {
      cleanup();
      reject(new HttpFailure(400, "invalid_request", "the client aborted the request"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}

/** Writes a JSON answer (or an empty one for 304) unless the response is already gone. */
function send(
  res: Response,
  status: number,
  body: string | undefined,
  headers: readonly [string, string][] = [],
): void {
  try {
    if (res.headersSent || res.writableEnded || res.destroyed) return;
    res.statusCode = status;
    for (const [name, value] of headers) res.setHeader(name, value);
    if (body === undefined) {
      res.end();
      return;
    }
    res.setHeader("content-type", "application/json; charset=utf-8");
    res.setHeader("content-length", Buffer.byteLength(body));
    res.end(body);
  } catch {
    // The client went away mid-answer; nothing to tell it.
  }
}

function toFailure(reason: unknown): HttpFailure {
  if (reason instanceof HttpFailure) return reason;
  if (reason instanceof XdsError) return new HttpFailure(statusOf(reason.code), reason.code, reason.rawMessage);
  return new HttpFailure(500, "internal", `internal error: ${messageOf(reason)}`);
}

/** The HTTP status for an XdsError code. */
function statusOf(code: XdsError["code"]): number {
  switch (code) {
    case "node_not_found":
    case "resource_not_found":
      return 404;
    case "invalid_request":
    case "invalid_config":
    case "unknown_type":
    case "deserialization":
      return 400;
    case "permission_denied":
      return 403;
    case "resource_exhausted":
    case "watch_limit_exceeded":
      return 429;
    case "channel_closed":
      return 503;
    default:
      return 500;
  }
}

function pathOf(url: string | undefined): string {
  const raw = (url ?? "/").split("?", 1)[0] ?? "/";
  try {
    return decodeURI(raw);
  } catch {
    return raw;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `base` plus the message schemas of `types`, looked up when used, so that
 * resources of types registered after the gateway was made still resolve.
 */
function withResourceTypes(base: Registry, types: ResourceTypeRegistry): Registry {
  const extra = (typeName: string) => {
    for (const typeUrl of types.typeUrls()) {
      const schema = types.get(typeUrl)?.schema;
      if (schema?.typeName === typeName) return schema;
    }
    return undefined;
  };
  return {
    kind: "registry",
    [Symbol.iterator]: () => base[Symbol.iterator](),
    get: (typeName) => base.get(typeName) ?? extra(typeName),
    getMessage: (typeName) => base.getMessage(typeName) ?? extra(typeName),
    getEnum: (typeName) => base.getEnum(typeName),
    getExtension: (typeName) => base.getExtension(typeName),
    getExtensionFor: (extendee, no) => base.getExtensionFor(extendee, no),
    getService: (typeName) => base.getService(typeName),
  };
}
