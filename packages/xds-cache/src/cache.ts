import type { Resource } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";

/**
 * A state-of-the-world request as a cache sees it: the transport-independent
 * part of a DiscoveryRequest.
 */
export interface SotwRequest {
  /** The type URL asked for: the request's `type_url` on ADS, the service's own type on a per-type service. */
  readonly typeUrl: string;
  /** The node from the stream's first request. */
  readonly node: Node | undefined;
  /** The names asked for; empty with {@link SubscriptionState.wildcard} means all. */
  readonly resourceNames: readonly string[];
  /** The version the client last accepted ("" at first). */
  readonly versionInfo: string;
}

/**
 * What one stream holds for one type, kept by the server between requests and
 * read by the cache when it decides whether and what to answer.
 */
export interface SubscriptionState {
  /** The client subscribed to every resource of the type (legacy empty list or `*`). */
  readonly wildcard: boolean;
  /** Names subscribed explicitly (besides the wildcard); may end in `/*` (prefix glob). */
  readonly subscribed: ReadonlySet<string>;
  /** Name -> version of every resource the client holds from this stream. */
  readonly returned: ReadonlyMap<string, string>;
  /**
   * The response version the client rejected last (NACK). The cache does not
   * answer with that version again; the next different one is sent normally
   * (go-control-plane #962).
   */
  readonly nackedVersion?: string | undefined;
  /**
   * The client resumed from an earlier stream (its first request carried a
   * version) and this stream has neither answered it nor seen it drop a name
   * since: `returned` is unknown, and a `versionInfo` equal to the answer's
   * version means the client already holds that answer, so it is not pushed
   * again (a proxy failing over between replicas gets no redundant push).
   * Default false: `returned` says exactly what the client holds.
   */
  readonly resumed?: boolean | undefined;
}

/** A state-of-the-world answer. */
export interface SotwResponse {
  /** The request this answers. */
  readonly request: SotwRequest;
  /** The type URL of every resource in the response. */
  readonly typeUrl: string;
  /** The version of everything the client holds after this response. */
  readonly version: string;
  /**
   * Resources to send. For full-state types (CDS, LDS) every subscribed
   * resource; for the rest only those the client does not hold at this version.
   */
  readonly resources: readonly Resource[];
  /** Name -> version the client holds after applying this response. */
  readonly returned: ReadonlyMap<string, string>;
  /** A TTL heartbeat: resources go out wrapped in discovery.v3.Resource without a body. */
  readonly heartbeat: boolean;
}

/** A delta request as a cache sees it. */
export interface DeltaRequest {
  /** The type URL asked for: the request's `type_url` on ADS, the service's own type on a per-type service. */
  readonly typeUrl: string;
  /** The node from the stream's first request; undefined when the client sent none. */
  readonly node: Node | undefined;
}

/** What one delta stream holds for one type, kept by the server. */
export interface DeltaSubscriptionState {
  /** Subscribed to every resource (legacy: no names in the first request; or `*`). */
  readonly wildcard: boolean;
  /** Names subscribed explicitly; may end in `/*` (prefix glob). */
  readonly subscribed: ReadonlySet<string>;
  /** Name -> version the client holds (initial_resource_versions, then what was sent). */
  readonly versions: ReadonlyMap<string, string>;
}

/** A delta answer. */
export interface DeltaResponse {
  /** The request this answers. */
  readonly request: DeltaRequest;
  /** The type URL of every resource in the response. */
  readonly typeUrl: string;
  /** The cache's version of the type, for system_version_info (informational). */
  readonly systemVersion: string;
  /** Resources added or changed since what the client holds. */
  readonly resources: readonly Resource[];
  /** Subscribed names the client holds that no longer exist. */
  readonly removed: readonly string[];
  /** Name -> version the client holds after applying this response. */
  readonly nextVersions: ReadonlyMap<string, string>;
  /**
   * A TTL heartbeat: the resources (all with a TTL, all at the version the
   * client holds) go out wrapped without a body, renewing the client's TTL.
   * Default false.
   */
  readonly heartbeat?: boolean;
  /**
   * Set when the response carries exactly every resource of a set that never
   * changes, so any stream sending it sends the same bytes: a transport may
   * encode it once and share it.
   */
  readonly shareKey?: string;
}

/** Receives a watch's answer. Called at most once per watch, never synchronously inside `cancel`. */
export type Respond<R> = (response: R) => void;

/** An open watch. */
export interface Watch {
  /** Closes the watch: its callback will not be called. Idempotent. */
  cancel(): void;
}

/** A snapshot of one node's state, for status pages and `/debug`. */
export interface NodeStatus {
  /** The key the node's snapshot is stored under (see `NodeHash`). */
  readonly nodeKey: string;
  /** The node as the last watch for this key sent it; undefined when it sent none. */
  readonly node: Node | undefined;
  /** Open watches (SotW and delta). */
  readonly watches: number;
  /** When a watch was last created for this node (ms since epoch). */
  readonly lastRequestTime: number;
  /** Type URL -> the version the cache holds for this node. */
  readonly versions: ReadonlyMap<string, string>;
}

/**
 * What a server needs from a cache, and nothing more (go-control-plane's
 * `cache.Cache`). A watch answers once: the server opens a new one with the
 * updated state after each response is acknowledged. Implementations never
 * import a transport.
 */
export interface Cache {
  /**
   * Opens a SotW watch. If the cache can answer now, `respond` is called before
   * this returns. Throws an XdsError `watch_limit_exceeded` past the node's limit.
   */
  createWatch(request: SotwRequest, state: SubscriptionState, respond: Respond<SotwResponse>): Watch;
  /** Opens a delta watch; answers as {@link createWatch} does. */
  createDeltaWatch(request: DeltaRequest, state: DeltaSubscriptionState, respond: Respond<DeltaResponse>): Watch;
  /**
   * Answers a one-off (REST/Fetch) request. Throws an XdsError
   * `version_up_to_date` when the client's version is current, `node_not_found`
   * when no state exists for the node.
   */
  fetch(request: SotwRequest): SotwResponse;
  /** Status of every node the cache knows, for status pages. */
  status(): NodeStatus[];
  /**
   * The key under which this cache keeps the state `node` reads for `typeUrl`
   * (see `NodeHash`). Authorization binds identities to it: nodes that share a
   * key read the same resources, whatever their ids. Omit it only where every
   * node reads the same state (then servers fall back to `node.id`).
   */
  nodeKey?(node: Node | undefined, typeUrl?: string): string;
}
