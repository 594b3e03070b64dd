import type { JsonValue } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import type { Cache } from "@nebucloud/xds-cache";
import { type Resource, TypeUrl } from "@nebucloud/xds-core";
import {
  ClientResourceStatus,
  UpdateFailureStateSchema,
} from "@nebucloud/xds-proto/envoy/admin/v3/config_dump_shared_pb";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  type ClientConfig,
  type ClientConfig_GenericXdsConfig,
  ClientConfig_GenericXdsConfigSchema,
  ClientConfigSchema,
  ClientStatusDiscoveryService,
  type ClientStatusRequest,
  type ClientStatusResponse,
  ClientStatusResponseSchema,
  ConfigStatus,
} from "@nebucloud/xds-proto/envoy/service/status/v3/csds_pb";
import type { NodeMatcher } from "@nebucloud/xds-proto/envoy/type/matcher/v3/node_pb";
import type { StringMatcher } from "@nebucloud/xds-proto/envoy/type/matcher/v3/string_pb";
import type { StructMatcher } from "@nebucloud/xds-proto/envoy/type/matcher/v3/struct_pb";
import type { ValueMatcher } from "@nebucloud/xds-proto/envoy/type/matcher/v3/value_pb";
import { authorizationRequest, isAdmin } from "./authorization.js";
import { anyOf } from "./discovery-response.js";
import { peerKey } from "./peer.js";
import type { ServerParts } from "./server-parts.js";
import type { TypeStatus } from "./sotw-stream.js";
import type { StreamView } from "./stream-registry.js";

/**
 * Types whose contents CSDS never returns: a Secret carries private keys, and
 * CSDS answers anyone who can reach the xDS port. Their status still shows.
 */
const contentsWithheld: ReadonlySet<string> = new Set([TypeUrl.Secret]);

/**
 * Registers `envoy.service.status.v3.ClientStatusDiscoveryService` (CSDS):
 * what every connected client subscribed to, holds, acknowledged and
 * rejected, as this server saw it on the client's open streams.
 *
 * CSDS is served on the xDS port. Without an authorizer it shows every
 * client's configuration (Secrets' contents excepted). With one, a caller
 * sees only the nodes the authorizer lets it speak for (asked once per node,
 * with the CSDS service name), and an admin identity sees every node; a node
 * left out is not mentioned at all, so its existence is not revealed either.
 */
export function registerCsdsService(router: ConnectRouter, parts: ServerParts): void {
  const answer = async (request: ClientStatusRequest, hctx: HandlerContext) =>
    clientStatus(request, parts, await visibleNodes(parts, hctx));
  router.service(ClientStatusDiscoveryService, {
    fetchClientStatus: answer,
    async *streamClientStatus(requests: AsyncIterable<ClientStatusRequest>, hctx: HandlerContext) {
      parts.metrics?.streamsTotal.inc({ kind: "csds" });
      parts.metrics?.streamsActive.inc({ kind: "csds" });
      try {
        for await (const request of requests) yield await answer(request, hctx);
      } finally {
        parts.metrics?.streamsActive.dec({ kind: "csds" });
      }
    },
  });
}

/**
 * The answer to one CSDS request: a ClientConfig per node id that has an open
 * stream and matches one of `node_matchers` (all nodes when there is none).
 * Several streams of one node id (ADS plus per-type services, or a reconnect
 * overlapping the old stream) merge into one ClientConfig; where two streams
 * report the same resource, the newer stream wins.
 * Throws INVALID_ARGUMENT for a matcher this server cannot evaluate.
 */
export function clientStatus(
  request: ClientStatusRequest,
  parts: ServerParts,
  visible: (node: Node) => boolean = () => true,
): ClientStatusResponse {
  const matches = compileNodeMatchers(request.nodeMatchers);
  const withContents = !request.excludeResourceContents;
  const byNode = new Map<string, { node: Node; configs: Map<string, ClientConfig_GenericXdsConfig> }>();
  const streams = parts.streams.list().sort((a, b) => a.openedAt - b.openedAt || a.info.id - b.info.id);
  for (const stream of streams) {
    const node = stream.node;
    if (!node || !visible(node) || !matches(node)) continue;
    const entry = byNode.get(node.id) ?? { node, configs: new Map<string, ClientConfig_GenericXdsConfig>() };
    byNode.set(node.id, entry);
    entry.node = node;
    for (const config of streamConfigs(stream, node, parts.cache, withContents)) {
      entry.configs.set(`${config.typeUrl}\0${config.name}`, config);
    }
  }
  const config: ClientConfig[] = [...byNode.values()]
    .sort((a, b) => compare(a.node.id, b.node.id))
    .map(({ node, configs }) =>
      create(ClientConfigSchema, {
        node,
        genericXdsConfigs: [...configs.values()].sort(
          (a, b) => compare(a.typeUrl, b.typeUrl) || compare(a.name, b.name),
        ),
      }),
    );
  return create(ClientStatusResponseSchema, { config });
}

/**
 * Which nodes this CSDS caller may see: every node for no authorizer or an
 * admin identity; else those the authorizer lets it speak for. Decided per
 * connected node id before the answer is built, so no matcher can probe past it.
 */
async function visibleNodes(parts: ServerParts, hctx: HandlerContext): Promise<(node: Node) => boolean> {
  const auth = parts.auth;
  if (!auth) return () => true;
  const peer = hctx.values.get(peerKey);
  if (isAdmin(auth, peer)) return () => true;
  const allowed = new Set<Node>();
  await Promise.all(
    parts.streams.list().map(async (stream) => {
      const node = stream.node;
      if (!node) return;
      const request = authorizationRequest(auth, peer, node, {
        service: ClientStatusDiscoveryService.typeName,
        method: hctx.method.name,
        typeUrl: undefined,
      });
      try {
        if ((await auth.authorize(peer, node, request)) === true) allowed.add(node);
      } catch {
        // A failing authorizer shows nothing.
      }
    }),
  );
  return (node) => allowed.has(node);
}

/** One GenericXdsConfig per resource a stream's client subscribed to or holds, for every type. */
function streamConfigs(
  stream: StreamView,
  node: Node,
  cache: Cache,
  withContents: boolean,
): ClientConfig_GenericXdsConfig[] {
  const configs: ClientConfig_GenericXdsConfig[] = [];
  for (const status of stream.status()) {
    const cached = cachedResources(cache, node, status);
    const names = new Set<string>();
    // `prefix/*` globs and `*` are subscriptions, not resources: the resources
    // they cover come from what the client holds and what the cache has.
    for (const name of status.subscribed) if (!isPattern(name)) names.add(name);
    for (const name of status.returned.keys()) names.add(name);
    if (cached) for (const name of cached.keys()) names.add(name);
    for (const name of names) {
      configs.push(resourceConfig(stream.info.kind, status, name, cached, withContents));
    }
  }
  return configs;
}

/**
 * What the cache holds now of the resources a type's subscription covers, by
 * name; `undefined` when the cache cannot say (no snapshot for the node, or a
 * cache that does not serve the type), in which case no resource is reported
 * as DOES_NOT_EXIST and no contents are returned.
 */
function cachedResources(cache: Cache, node: Node, status: TypeStatus): ReadonlyMap<string, Resource> | undefined {
  const explicit = status.subscribed.filter((name) => name !== "*");
  // An empty name list asks a fetch for everything: only right for a wildcard.
  if (!status.wildcard && explicit.length === 0) return new Map();
  try {
    // A one-off fetch with no version answers with every covered resource and
    // touches no watch, so it changes nothing the streams see.
    const answer = cache.fetch({
      typeUrl: status.typeUrl,
      node,
      resourceNames: status.wildcard ? [] : explicit,
      versionInfo: "",
    });
    return new Map(answer.resources.map((r) => [r.name, r]));
  } catch {
    return undefined;
  }
}

/**
 * The status of one resource on one stream.
 * - NACKED: the client rejected the type's last response and holds (or was
 *   sent) this resource. Which resources the rejected response carried is not
 *   kept, so every such resource of the type shows NACKED.
 * - ACKED: the client acknowledged a response that holds it (delta: it holds
 *   it and acknowledged the last response, or held it when it connected).
 * - DOES_NOT_EXIST: named explicitly, a response for the type was sent, and
 *   the cache has no such resource.
 * - REQUESTED: everything else it subscribed to, not acknowledged yet.
 */
function resourceConfig(
  kind: "sotw" | "delta",
  status: TypeStatus,
  name: string,
  cached: ReadonlyMap<string, Resource> | undefined,
  withContents: boolean,
): ClientConfig_GenericXdsConfig {
  const held = status.returned.get(name);
  const resource = cached?.get(name);
  // SotW records what the client holds on ACK; delta records what it is sent.
  const acked = held !== undefined && (kind === "sotw" || status.ackedVersion !== "" || status.sentVersion === "");
  let clientStatus: ClientResourceStatus;
  if (status.nack && (held !== undefined || resource)) clientStatus = ClientResourceStatus.NACKED;
  else if (acked) clientStatus = ClientResourceStatus.ACKED;
  else if (held === undefined && !resource && cached && status.sentVersion !== "" && status.subscribed.includes(name)) {
    clientStatus = ClientResourceStatus.DOES_NOT_EXIST;
  } else clientStatus = ClientResourceStatus.REQUESTED;
  // SotW versions whole responses (what Envoy's CSDS shows); delta versions each resource.
  const versionInfo = held === undefined ? "" : kind === "sotw" ? status.ackedVersion : held;
  // Contents only when the cache's resource is the very one the client holds:
  // a newer one in the cache is not the client's configuration.
  const contents = withContents && resource && held === resource.version && !contentsWithheld.has(status.typeUrl);
  return create(ClientConfig_GenericXdsConfigSchema, {
    typeUrl: status.typeUrl,
    name,
    versionInfo,
    clientStatus,
    configStatus: configStatus(clientStatus, status, held, resource, cached),
    ...(contents ? { xdsConfig: anyOf(resource) } : {}),
    ...(clientStatus === ClientResourceStatus.NACKED && status.nack
      ? {
          errorState: create(UpdateFailureStateSchema, {
            details: status.nack.message,
            versionInfo: status.nack.version,
          }),
        }
      : {}),
  });
}

/**
 * The server's side (config_status): whether the client has what the cache
 * holds now. UNKNOWN where the cache cannot say or has no such resource.
 */
function configStatus(
  clientStatus: ClientResourceStatus,
  status: TypeStatus,
  held: string | undefined,
  resource: Resource | undefined,
  cached: ReadonlyMap<string, Resource> | undefined,
): ConfigStatus {
  if (clientStatus === ClientResourceStatus.NACKED) return ConfigStatus.ERROR;
  if (!cached || !resource) return ConfigStatus.UNKNOWN;
  if (held === resource.version) return ConfigStatus.SYNCED;
  // Behind the cache: a response is out and not acknowledged, or none went yet.
  return status.sentVersion !== status.ackedVersion ? ConfigStatus.STALE : ConfigStatus.NOT_SENT;
}

function isPattern(name: string): boolean {
  return name === "*" || name.endsWith("/*");
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A predicate for CSDS `node_matchers`: any matcher may match (OR, as the
 * field documents); within one, `node_id` and every `node_metadatas` entry
 * must (AND). Throws INVALID_ARGUMENT for a matcher it cannot evaluate, so a
 * typo never silently answers with every node or none.
 */
export function compileNodeMatchers(matchers: readonly NodeMatcher[]): (node: Node) => boolean {
  if (matchers.length === 0) return () => true;
  const compiled = matchers.map((matcher) => {
    const id = matcher.nodeId ? compileStringMatcher(matcher.nodeId, "node_id") : () => true;
    const metadata = matcher.nodeMetadatas.map((m, i) => compileStructMatcher(m, `node_metadatas[${i}]`));
    return (node: Node) => id(node.id) && metadata.every((m) => m(node.metadata));
  });
  return (node) => compiled.some((m) => m(node));
}

/**
 * A predicate for an Envoy StringMatcher. `ignore_case` applies to exact,
 * prefix, suffix and contains, as in Envoy. `safe_regex` must match the whole
 * string, as RE2 full-match does, but runs as a JavaScript RegExp: syntax RE2
 * rejects (lookaround, backreferences) is accepted, a few RE2 forms (`\C`,
 * `(?P<name>...)` before ES2025) are not, and there is no linear-time
 * guarantee, so a hostile pattern can be slow. `custom` matchers are refused.
 */
function compileStringMatcher(matcher: StringMatcher, field: string): (value: string) => boolean {
  const fold = matcher.ignoreCase ? (s: string) => s.toLowerCase() : (s: string) => s;
  const pattern = matcher.matchPattern;
  switch (pattern.case) {
    case "exact": {
      const want = fold(pattern.value);
      return (v) => fold(v) === want;
    }
    case "prefix": {
      const want = fold(pattern.value);
      return (v) => fold(v).startsWith(want);
    }
    case "suffix": {
      const want = fold(pattern.value);
      return (v) => fold(v).endsWith(want);
    }
    case "contains": {
      const want = fold(pattern.value);
      return (v) => fold(v).includes(want);
    }
    case "safeRegex": {
      let regex: RegExp;
      try {
        regex = new RegExp(`^(?:${pattern.value.regex})$`, "u");
      } catch (error) {
        throw new ConnectError(
          `${field}.safe_regex: ${error instanceof Error ? error.message : String(error)}`,
          Code.InvalidArgument,
        );
      }
      return (v) => regex.test(v);
    }
    default:
      throw new ConnectError(`${field}: unsupported or missing string match pattern`, Code.InvalidArgument);
  }
}

/** A predicate on node metadata for a StructMatcher: the value at `path` must match `value`. */
function compileStructMatcher(matcher: StructMatcher, field: string): (metadata: JsonValue | undefined) => boolean {
  const path: string[] = [];
  for (const segment of matcher.path) {
    if (segment.segment.case !== "key")
      throw new ConnectError(`${field}.path: every segment needs a key`, Code.InvalidArgument);
    path.push(segment.segment.value);
  }
  if (path.length === 0) throw new ConnectError(`${field}.path is empty`, Code.InvalidArgument);
  if (!matcher.value) throw new ConnectError(`${field}.value is required`, Code.InvalidArgument);
  const value = compileValueMatcher(matcher.value, `${field}.value`);
  return (metadata) => {
    let at: JsonValue | undefined = metadata;
    for (const key of path) {
      at = at !== null && typeof at === "object" && !Array.isArray(at) ? at[key] : undefined;
      if (at === undefined) break;
    }
    return value(at);
  };
}

/** A predicate for a ValueMatcher on a JSON value (`undefined`: the path is absent). */
function compileValueMatcher(matcher: ValueMatcher, field: string): (value: JsonValue | undefined) => boolean {
  const pattern = matcher.matchPattern;
  switch (pattern.case) {
    case "nullMatch":
      return (v) => v === null;
    case "doubleMatch": {
      const d = pattern.value.matchPattern;
      if (d.case === "exact") return (v) => v === d.value;
      if (d.case === "range") {
        const { start, end } = d.value;
        // DoubleRange is [start, end).
        return (v) => typeof v === "number" && v >= start && v < end;
      }
      throw new ConnectError(`${field}.double_match: missing pattern`, Code.InvalidArgument);
    }
    case "stringMatch": {
      const match = compileStringMatcher(pattern.value, `${field}.string_match`);
      return (v) => typeof v === "string" && match(v);
    }
    case "boolMatch":
      return (v) => v === pattern.value;
    case "presentMatch":
      // As Envoy: `present_match: false` matches nothing, not "absent".
      return (v) => pattern.value && v !== undefined;
    case "listMatch": {
      const inner = pattern.value.matchPattern;
      if (inner.case !== "oneOf") throw new ConnectError(`${field}.list_match: missing one_of`, Code.InvalidArgument);
      const element = compileValueMatcher(inner.value, `${field}.list_match.one_of`);
      return (v) => Array.isArray(v) && v.some((e) => element(e));
    }
    case "orMatch": {
      const any = pattern.value.valueMatchers.map((m, i) => compileValueMatcher(m, `${field}.or_match[${i}]`));
      return (v) => any.some((m) => m(v));
    }
    default:
      throw new ConnectError(`${field}: missing match pattern`, Code.InvalidArgument);
  }
}
