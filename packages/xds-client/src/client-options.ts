import type { JsonObject, Message } from "@bufbuild/protobuf";
import { defaultResourceTypes, type ResourceTypeRegistry, XdsError } from "@nebucloud/xds-core";
import type { Registry } from "prom-client";
import { type BackoffOptions, defaultBackoff, type ResolvedBackoff } from "./backoff.js";
import { type Logger, silentLogger } from "./logger.js";

/** Who the client says it is: the `node` of its first request on every stream. */
export interface NodeOptions {
  /** node.id; required. Servers usually pick the snapshot by it. */
  readonly id: string;
  /** node.cluster: the service cluster this node belongs to. */
  readonly cluster?: string;
  /** node.metadata: any JSON object. */
  readonly metadata?: JsonObject;
  /** node.locality. */
  readonly locality?: {
    /** locality.region: the coarsest level, which servers may use for locality-aware load balancing. */
    readonly region?: string;
    /** locality.zone: the availability zone within `region`. */
    readonly zone?: string;
    /** locality.sub_zone: a finer split within `zone` (a rack, say), for servers that route by it. */
    readonly subZone?: string;
  };
  /** node.user_agent_name. Default `@nebucloud/xds-client`. */
  readonly userAgentName?: string;
}

/**
 * TLS towards the server (PEM strings or buffers). With `ca` alone the server
 * is verified against it; add `cert` and `key` for mTLS. Passed to Node's
 * `http2.connect` as its TLS options.
 */
export interface ClientTlsOptions {
  /** CA certificate(s) the server's certificate must chain to. Default: Node's built-in root CAs. */
  readonly ca?: string | Buffer;
  /** The client certificate, for servers that require mTLS; needs `key` too. */
  readonly cert?: string | Buffer;
  /** The private key of `cert`. Kept in memory for reconnects, so it is held as long as the client lives. */
  readonly key?: string | Buffer;
  /** The name the server certificate must carry. Default: the host of `server`. */
  readonly serverName?: string;
}

/**
 * Checks one decoded resource before it is accepted. Throw, or return a
 * string, to reject it: the whole response is then NACKed with that text as
 * error_detail and the resources accepted before stay current.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a validator that only throws returns nothing, and must type-check
export type ResourceValidator = (typeUrl: string, name: string, message: Message) => void | string;

/** Options of {@link XdsClient}. */
export interface XdsClientOptions {
  /** The server as HOST:PORT (plaintext unless `tls` is set), or an http:// or https:// URL. */
  readonly server: string;
  /** The node the client identifies as; sent again on every stream, so the server picks the same config after a reconnect. */
  readonly node: NodeOptions;
  /** State of the world (`sotw`, the default) or incremental (`delta`) ADS. */
  readonly protocol?: "sotw" | "delta";
  /** TLS towards the server. Default: none (plaintext), unless `server` is an https:// URL. */
  readonly tls?: ClientTlsOptions;
  /**
   * Checks every resource before it is accepted, so bad config is NACKed
   * before watchers see it. Called synchronously while a response is handled;
   * keep it fast and free of side effects. Default: no check beyond decoding.
   */
  readonly validate?: ResourceValidator;
  /**
   * How long a named resource may go unanswered, after it was requested on a
   * connected stream, before watchers hear it does not exist (gRFC A57).
   * Default 15000 ms.
   */
  readonly doesNotExistTimeoutMs?: number;
  /** Reconnect delays; see {@link BackoffOptions} for the defaults. */
  readonly backoff?: BackoffOptions;
  /** Where the client logs (default: nowhere). */
  readonly logger?: Logger;
  /** A prom-client registry for the `xds_client_*` metrics. Default: no metrics. */
  readonly metrics?: Registry;
  /** Where resource types come from. Default: the core's default registry. */
  readonly types?: ResourceTypeRegistry;
}

/** {@link XdsClientOptions} checked, with defaults filled in. */
export interface ResolvedClientOptions {
  readonly baseUrl: string;
  /** HOST:PORT, for messages. */
  readonly address: string;
  readonly node: NodeOptions;
  readonly protocol: "sotw" | "delta";
  readonly tls: ClientTlsOptions | undefined;
  readonly validate: ResourceValidator | undefined;
  readonly doesNotExistTimeoutMs: number;
  readonly backoff: ResolvedBackoff;
  readonly logger: Logger;
  readonly metrics: Registry | undefined;
  readonly types: ResourceTypeRegistry;
}

/** Checks options and fills in defaults; throws an XdsError `invalid_config` naming the field. */
export function resolveClientOptions(options: XdsClientOptions): ResolvedClientOptions {
  const { baseUrl, address } = serverUrl(options.server, options.tls !== undefined);
  if (!options.node?.id) invalid("node.id", "is required");
  const protocol = options.protocol ?? "sotw";
  if (protocol !== "sotw" && protocol !== "delta") invalid("protocol", `must be "sotw" or "delta", not ${protocol}`);
  const doesNotExistTimeoutMs = options.doesNotExistTimeoutMs ?? 15_000;
  positive("doesNotExistTimeoutMs", doesNotExistTimeoutMs);
  const backoff: ResolvedBackoff = { ...defaultBackoff, ...options.backoff };
  positive("backoff.initialMs", backoff.initialMs);
  positive("backoff.maxMs", backoff.maxMs);
  if (!(backoff.multiplier >= 1)) invalid("backoff.multiplier", "must be at least 1");
  if (!(backoff.jitter >= 0 && backoff.jitter <= 1)) invalid("backoff.jitter", "must be between 0 and 1");
  return {
    baseUrl,
    address,
    node: options.node,
    protocol,
    tls: options.tls,
    validate: options.validate,
    doesNotExistTimeoutMs,
    backoff,
    logger: options.logger ?? silentLogger,
    metrics: options.metrics,
    types: options.types ?? defaultResourceTypes,
  };
}

/**
 * The base URL and HOST:PORT of a server given as HOST:PORT, [IPv6]:PORT or a
 * URL. HOST:PORT means https when `tls` is set, http otherwise.
 */
export function serverUrl(server: string, tls: boolean): { baseUrl: string; address: string } {
  if (typeof server !== "string" || server === "") invalid("server", "is required (HOST:PORT)");
  const isUrl = /^https?:\/\//.test(server);
  let url: URL;
  try {
    url = new URL(isUrl ? server : `${tls ? "https" : "http"}://${server}`);
  } catch {
    return invalid("server", `${JSON.stringify(server)} is not HOST:PORT`);
  }
  // URL drops a port that is the scheme's default, so read it from the text.
  const port = url.port || (isUrl ? (url.protocol === "https:" ? "443" : "80") : /:(\d+)$/.exec(server)?.[1]);
  if (!port) invalid("server", `${JSON.stringify(server)} has no port`);
  const address = `${url.hostname}:${port}`;
  return { baseUrl: `${url.protocol}//${address}`, address };
}

function positive(field: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) invalid(field, `must be a positive number, not ${value}`);
}

function invalid(field: string, reason: string): never {
  throw new XdsError("invalid_config", `${field} ${reason}`, { field, reason });
}
