import { XdsError } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type {
  Cache,
  DeltaRequest,
  DeltaResponse,
  DeltaSubscriptionState,
  NodeStatus,
  Respond,
  SotwRequest,
  SotwResponse,
  SubscriptionState,
  Watch,
} from "./cache.js";

/** Options of {@link MuxCache}. */
export interface MuxCacheOptions {
  /** Key -> cache. */
  readonly caches: Readonly<Record<string, Cache>>;
  /**
   * Picks the key of the cache that answers a request. Default: the request's
   * type URL, so `caches` can be keyed by type URL.
   */
  readonly classify?: (request: SotwRequest | DeltaRequest) => string;
}

/**
 * Routes each request to one of several caches (go-control-plane's
 * `MuxCache`), e.g. a LinearCache for endpoints and a SnapshotCache for the
 * rest. A request that no cache takes is an XdsError `unknown_type`.
 */
export class MuxCache implements Cache {
  readonly #caches: Readonly<Record<string, Cache>>;
  readonly #classify: (request: SotwRequest | DeltaRequest) => string;

  constructor(options: MuxCacheOptions) {
    this.#caches = options.caches;
    this.#classify = options.classify ?? ((request) => request.typeUrl);
  }

  #pick(request: SotwRequest | DeltaRequest): Cache {
    const key = this.#classify(request);
    const cache = Object.hasOwn(this.#caches, key) ? this.#caches[key] : undefined;
    if (!cache) {
      throw new XdsError(
        "unknown_type",
        `no cache serves ${JSON.stringify(request.typeUrl)} (key ${JSON.stringify(key)})`,
        {
          typeUrl: request.typeUrl,
          key,
        },
      );
    }
    return cache;
  }

  /** The node key of the cache that serves `typeUrl`; `node.id` where that cache keys nothing by node. */
  nodeKey(node: Node | undefined, typeUrl = ""): string {
    const cache = this.#pick({ typeUrl, node });
    return cache.nodeKey ? cache.nodeKey(node, typeUrl) : (node?.id ?? "");
  }

  createWatch(request: SotwRequest, state: SubscriptionState, respond: Respond<SotwResponse>): Watch {
    return this.#pick(request).createWatch(request, state, respond);
  }

  createDeltaWatch(request: DeltaRequest, state: DeltaSubscriptionState, respond: Respond<DeltaResponse>): Watch {
    return this.#pick(request).createDeltaWatch(request, state, respond);
  }

  fetch(request: SotwRequest): SotwResponse {
    return this.#pick(request).fetch(request);
  }

  status(): NodeStatus[] {
    return Object.values(this.#caches).flatMap((cache) => cache.status());
  }
}
