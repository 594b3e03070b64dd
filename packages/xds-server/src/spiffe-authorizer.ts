import type { NodeAuthorizer } from "./authorization.js";

/**
 * What one SPIFFE id may speak for: node keys (the cache's node groups) and,
 * optionally, node ids too. An entry ending in `*` is a prefix (`"edge-*"`);
 * `"*"` matches anything. Where both lists are given, both must match.
 */
export interface SpiffeGrant {
  /** Node keys the identity may read (with IdHash, the default, a node's key is its id). */
  readonly nodeKeys?: readonly string[];
  /** Node ids the identity may claim. */
  readonly nodeIds?: readonly string[];
}

/**
 * A {@link NodeAuthorizer} for mTLS with SPIFFE identities: `map` lists, for
 * each SPIFFE id (`spiffe://trust-domain/path`, a URI SAN of the verified
 * client certificate), what it may speak for. A list of strings is the node
 * keys it may read: the key the cache stores a node's resources under, so no
 * other node field (`cluster`, metadata...) can move a caller into another
 * node group. A {@link SpiffeGrant} binds node ids as well. A caller whose
 * certificate carries none of the map's ids, or no certificate at all, is
 * refused on every service. Only `spiffe://` URI SANs are looked up, so a CN
 * never counts as a SPIFFE id. The map is read when called: keep it immutable.
 *
 * @example spiffeNodeAuthorizer({ "spiffe://prod/envoy/edge": ["edge-*"], "spiffe://prod/grpc/api": { nodeKeys: ["api"], nodeIds: ["api-*"] } })
 */
export function spiffeNodeAuthorizer(map: Readonly<Record<string, readonly string[] | SpiffeGrant>>): NodeAuthorizer {
  return (peer, node, request) =>
    peer.uriSans.some((identity) => {
      if (!identity.startsWith("spiffe://") || !Object.hasOwn(map, identity)) return false;
      const entry = map[identity];
      const grant: SpiffeGrant = Array.isArray(entry) ? { nodeKeys: entry } : ((entry as SpiffeGrant) ?? {});
      if (!grant.nodeKeys && !grant.nodeIds) return false;
      const keyOk = !grant.nodeKeys || grant.nodeKeys.some((p) => globMatches(p, request.nodeKey));
      const idOk = !grant.nodeIds || grant.nodeIds.some((p) => globMatches(p, node.id));
      return keyOk && idOk;
    });
}

/** `pattern` with a trailing `*` matches by prefix; otherwise exactly. */
export function globMatches(pattern: string, value: string): boolean {
  return pattern.endsWith("*") ? value.startsWith(pattern.slice(0, -1)) : value === pattern;
}
