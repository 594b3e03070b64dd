import type { Cache, SotwResponse } from "@nebucloud/xds-cache";
import { TypeUrl, versionOf, XdsError } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";

/** Whether the stream's caller may receive the Secret `name` for `node`. */
export type SecretFilter = (node: Node, name: string) => boolean;

/**
 * A view of `cache` in which a node's Secret subscriptions are narrowed to the
 * names `allowed` lets it have (see `AuthorizerOptions.secretAuthorizer`).
 * Every other type passes through untouched. Made per call, since what a
 * caller may have depends on who it is. Throws an XdsError
 * `permission_denied` for a wildcard or glob Secret subscription.
 */
export function guardSecrets(cache: Cache, allowed: SecretFilter): Cache {
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
  const guarded: Cache = {
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
  if (cache.nodeKey) {
    const nodeKey = cache.nodeKey.bind(cache);
    return { ...guarded, nodeKey };
  }
  return guarded;
}
