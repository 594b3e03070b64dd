import type { Cache, SotwResponse } from "@nebucloud/xds-cache";
import { TypeUrl, versionOf, XdsError } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type { Peer } from "./peer.js";

/**
 * Decides whether the client on the other end of a call (its address and, under
 * mTLS, its certificate's identities) may speak for `node`. Called once per xDS
 * stream with the node of its first request, and once per Fetch or REST
 * request. `false` (or a rejected promise) refuses the call: nothing is served.
 * May be called concurrently for different calls.
 */
export type NodeAuthorizer = (peer: Peer, node: Node) => boolean | Promise<boolean>;

/**
 * Decides whether `node` may receive the Secret named `secretName`. Called
 * synchronously for every Secret name a node subscribes to, each time its
 * subscription changes, so keep it cheap.
 */
export type SecretAuthorizer = (node: Node, secretName: string) => boolean;

/** Options of {@link XdsServerBuilder.withAuthorizer}. */
export interface AuthorizerOptions {
  /**
   * Narrows which Secrets (SDS) a node receives, beyond the snapshot of its
   * node key. A Secret the node may not have is treated as one that does not
   * exist for it: it is left out of responses, whatever the node subscribes
   * to, so a refusal reveals nothing. A wildcard (`*`) or prefix-glob
   * (`prefix/*`) Secret subscription is refused with PERMISSION_DENIED, since
   * it cannot be checked name by name; Envoy subscribes to secrets by name.
   * Revoking a secret stops further updates of it; a client keeps what it
   * already holds. With `SnapshotCache({ ads: true })` a node that may not see
   * every Secret of its snapshot is held forever on SDS (the ADS hold waits
   * for every name): give such nodes snapshots with only their secrets.
   */
  readonly secretAuthorizer?: SecretAuthorizer;
}

/**
 * A {@link NodeAuthorizer} for mTLS with SPIFFE identities: `map` lists, for
 * each SPIFFE id (`spiffe://trust-domain/path`, a URI SAN of the client
 * certificate), the node ids it may claim; an entry ending in `*` is a prefix
 * (`"edge-*"` allows `edge-1`, `edge-eu-2`...; `"*"` allows any node id). A
 * client whose certificate carries none of the map's ids, or no certificate
 * (plain TCP, TLS without client certificates), is refused. Only identities
 * starting with `spiffe://` are looked up, so a certificate's CN never counts
 * as a SPIFFE id. The map is read when called: keep it immutable.
 *
 * @example spiffeNodeAuthorizer({ "spiffe://prod/envoy/edge": ["edge-*"], "spiffe://prod/grpc/api": ["api-1"] })
 */
export function spiffeNodeAuthorizer(map: Readonly<Record<string, readonly string[]>>): NodeAuthorizer {
  return (peer, node) =>
    peer.identities.some(
      (identity) =>
        identity.startsWith("spiffe://") &&
        Object.hasOwn(map, identity) &&
        (map[identity] ?? []).some((allowed) => nodeIdMatches(allowed, node.id)),
    );
}

function nodeIdMatches(pattern: string, nodeId: string): boolean {
  return pattern.endsWith("*") ? nodeId.startsWith(pattern.slice(0, -1)) : nodeId === pattern;
}

/**
 * Runs `authorize` for a call and throws an XdsError `permission_denied`
 * naming the node id when it refuses. What the authorizer throws is passed on
 * (an XdsError keeps its status; anything else becomes INTERNAL), so a broken
 * authorizer never lets a call through.
 * @internal
 */
export async function requireAuthorized(authorize: NodeAuthorizer, peer: Peer, node: Node): Promise<void> {
  if (await authorize(peer, node)) return;
  throw new XdsError("permission_denied", `this client may not speak for node ${JSON.stringify(node.id)}`, {
    nodeId: node.id,
  });
}

/**
 * A view of `cache` in which a node's Secret subscriptions are narrowed to the
 * names `allowed` lets it have (see {@link AuthorizerOptions.secretAuthorizer}).
 * Every other type passes through untouched. Throws an XdsError
 * `permission_denied` for a wildcard or glob Secret subscription.
 * @internal
 */
export function guardSecrets(cache: Cache, allowed: SecretAuthorizer): Cache {
  const narrow = (node: Node | undefined, wildcard: boolean, names: Iterable<string>): Set<string> => {
    const nodeId = node?.id ?? "";
    const list = [...names];
    if (wildcard || list.some((name) => name === "*" || name.endsWith("/*"))) {
      throw new XdsError(
        "permission_denied",
        `node ${JSON.stringify(nodeId)}: a wildcard or prefix Secret subscription is refused; subscribe to secrets by name`,
        { nodeId, typeUrl: TypeUrl.Secret },
      );
    }
    return new Set(list.filter((name) => node !== undefined && allowed(node, name)));
  };
  return {
    createWatch(request, state, respond) {
      if (request.typeUrl !== TypeUrl.Secret) return cache.createWatch(request, state, respond);
      const subscribed = narrow(request.node, state.wildcard, state.subscribed);
      return cache.createWatch({ ...request, resourceNames: [...subscribed] }, { ...state, subscribed }, respond);
    },
    createDeltaWatch(request, state, respond) {
      if (request.typeUrl !== TypeUrl.Secret) return cache.createDeltaWatch(request, state, respond);
      const subscribed = narrow(request.node, state.wildcard, state.subscribed);
      return cache.createDeltaWatch(request, { ...state, subscribed }, respond);
    },
    fetch(request) {
      if (request.typeUrl !== TypeUrl.Secret) return cache.fetch(request);
      // A fetch that names nothing asks for every secret.
      const names = narrow(request.node, request.resourceNames.length === 0, request.resourceNames);
      if (names.size > 0) return cache.fetch({ ...request, resourceNames: [...names] });
      // Nothing it may see: answer as for names that do not exist.
      const empty: SotwResponse = {
        request,
        typeUrl: request.typeUrl,
        version: versionOf([]),
        resources: [],
        returned: new Map(),
        heartbeat: false,
      };
      if (request.versionInfo === empty.version) {
        throw new XdsError("version_up_to_date", `the client already has version ${request.versionInfo}`, {
          typeUrl: request.typeUrl,
          version: request.versionInfo,
        });
      }
      return empty;
    },
    status: () => cache.status(),
  };
}
