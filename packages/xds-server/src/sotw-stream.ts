import { create } from "@bufbuild/protobuf";
import type { Cache, SotwResponse, Watch } from "@nebucloud/xds-cache";
import { defaultResourceTypes, type ResourceTypeRegistry, sendRank } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  type DiscoveryRequest,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { anyOf, wrappedAny } from "./discovery-response.js";
import { checkRequest, legacyWildcardTypes } from "./request-checks.js";

/** What a stream reports about one type, for CSDS, metrics and status pages. */
export interface TypeStatus {
  readonly typeUrl: string;
  readonly wildcard: boolean;
  readonly subscribed: readonly string[];
  /** Version of the last response sent. */
  readonly sentVersion: string;
  /** Version the client last acknowledged. */
  readonly ackedVersion: string;
  /** The client's error text when it rejected the last response. */
  readonly nack: { readonly version: string; readonly message: string } | undefined;
  /** Name -> version the client holds. */
  readonly returned: ReadonlyMap<string, string>;
}

/** Hooks a SotW stream calls; all optional. */
export interface SotwStreamHooks {
  onRequest?(request: DiscoveryRequest, node: Node): void;
  onResponse?(response: DiscoveryResponse, node: Node): void;
  onAck?(typeUrl: string, version: string, node: Node): void;
  onNack?(typeUrl: string, version: string, message: string, node: Node): void;
  /** A request whose nonce is not the last one sent for its type: ignored. */
  onStale?(request: DiscoveryRequest): void;
}

/** Options of {@link SotwStream}. */
export interface SotwStreamOptions {
  readonly cache: Cache;
  /**
   * Called when a response becomes ready; the transport then takes responses
   * with {@link SotwStream.takeNext} as fast as the client reads them.
   */
  readonly onPending: () => void;
  /** Per-type services serve one type; ADS (undefined) serves all and requires type_url. */
  readonly typeUrl?: string | undefined;
  readonly types?: ResourceTypeRegistry;
  readonly hooks?: SotwStreamHooks;
  /** Most resource names one request may carry. Default 10 000. */
  readonly maxNamesPerRequest?: number;
}

interface TypeState {
  readonly typeUrl: string;
  wildcard: boolean;
  /** Whether the client ever named resources (ends the legacy wildcard). */
  named: boolean;
  subscribed: Set<string>;
  returned: Map<string, string>;
  nackedVersion: string | undefined;
  nackMessage: string | undefined;
  nonce: string;
  sentVersion: string;
  ackedVersion: string;
  /** What the client will hold once it acknowledges the last response. */
  pendingReturned: ReadonlyMap<string, string> | undefined;
  watch: Watch | undefined;
}

/**
 * The state machine of one state-of-the-world stream (ADS or one type),
 * independent of the transport: requests in, responses out through `send`.
 * It validates requests, ignores stale nonces, records ACKs and NACKs, keeps
 * each type's subscription, and holds one cache watch per type.
 */
export class SotwStream {
  readonly #options: SotwStreamOptions;
  readonly #types: ResourceTypeRegistry;
  readonly #states = new Map<string, TypeState>();
  readonly #pending = new Map<string, DiscoveryResponse>();
  #node: Node | undefined;
  #nonce = 0;
  #closed = false;

  constructor(options: SotwStreamOptions) {
    this.#options = options;
    this.#types = options.types ?? defaultResourceTypes;
  }

  /** The node from the stream's first request. */
  get node(): Node | undefined {
    return this.#node;
  }

  /**
   * Handles one request. Throws an XdsError for a request that breaks the
   * protocol (no node id, no or unknown type URL, too many names); the caller
   * ends the stream with its gRPC status.
   */
  handle(request: DiscoveryRequest): void {
    if (this.#closed) return;
    const { node, typeUrl } = checkRequest({
      streamNode: this.#node,
      requestNode: request.node,
      requestTypeUrl: request.typeUrl,
      serviceTypeUrl: this.#options.typeUrl,
      types: this.#types,
      nameCount: request.resourceNames.length,
      namesField: "resource_names",
      maxNames: this.#options.maxNamesPerRequest ?? 10_000,
    });
    this.#node = node;
    this.#options.hooks?.onRequest?.(request, node);
    let state = this.#states.get(typeUrl);
    const first = !state;
    if (!state) {
      state = {
        typeUrl,
        wildcard: false,
        named: false,
        subscribed: new Set(),
        returned: new Map(),
        nackedVersion: undefined,
        nackMessage: undefined,
        nonce: "",
        sentVersion: "",
        ackedVersion: "",
        pendingReturned: undefined,
        watch: undefined,
      };
      this.#states.set(typeUrl, state);
    }
    // A nonce that is not the last one sent for this type answers an older
    // response: the client will send another request for the newest one.
    if (state.nonce !== "" && request.responseNonce !== state.nonce) {
      this.#options.hooks?.onStale?.(request);
      return;
    }
    if (state.nonce !== "") {
      if (request.errorDetail) {
        state.nackedVersion = state.sentVersion;
        state.nackMessage = request.errorDetail.message;
        this.#options.hooks?.onNack?.(typeUrl, state.sentVersion, request.errorDetail.message, node);
      } else {
        state.ackedVersion = state.sentVersion;
        state.nackedVersion = undefined;
        state.nackMessage = undefined;
        if (state.pendingReturned) state.returned = new Map(state.pendingReturned);
        this.#options.hooks?.onAck?.(typeUrl, state.sentVersion, node);
      }
      state.pendingReturned = undefined;
    }
    this.#subscribe(state, request.resourceNames, first);
    state.watch?.cancel();
    // A response not yet written was built for the old subscription (go-control-plane #1498).
    this.#pending.delete(typeUrl);
    state.watch = this.#options.cache.createWatch(
      { typeUrl, node, resourceNames: request.resourceNames, versionInfo: request.versionInfo },
      {
        wildcard: state.wildcard,
        subscribed: state.subscribed,
        returned: state.returned,
        nackedVersion: state.nackedVersion,
      },
      (response) => this.#respond(state, response),
    );
  }

  #subscribe(state: TypeState, names: readonly string[], first: boolean): void {
    const explicit = names.filter((n) => n !== "*");
    if (names.includes("*")) state.wildcard = true;
    else if (first && names.length === 0 && legacyWildcardTypes.has(state.typeUrl)) state.wildcard = true;
    else if (names.length > 0 || state.named) state.wildcard = false;
    if (explicit.length > 0) state.named = true;
    const next = new Set(explicit);
    for (const name of state.subscribed) {
      // The client drops what it unsubscribed from; forget we sent it.
      if (!next.has(name)) state.returned.delete(name);
    }
    state.subscribed = next;
  }

  #respond(state: TypeState, response: SotwResponse): void {
    if (this.#closed) return;
    state.watch = undefined;
    const nonce = String(++this.#nonce);
    const message = create(DiscoveryResponseSchema, {
      versionInfo: response.version,
      typeUrl: response.typeUrl,
      nonce,
      resources: response.resources.map((r) =>
        r.ttlMs !== undefined || response.heartbeat ? wrappedAny(r, response.heartbeat) : anyOf(r),
      ),
    });
    state.nonce = nonce;
    state.sentVersion = response.version;
    state.pendingReturned = response.returned;
    this.#pending.set(state.typeUrl, message);
    this.#options.onPending();
  }

  /**
   * The next response to write, or `undefined` when none is ready. Responses
   * ready at once come in make-before-break order (clusters before endpoints,
   * listeners before routes); a stream whose client reads slowly holds at most
   * one unsent response per type, the newest.
   */
  takeNext(): DiscoveryResponse | undefined {
    if (this.#closed) return undefined;
    let next: DiscoveryResponse | undefined;
    for (const response of this.#pending.values()) {
      if (!next || sendRank(response.typeUrl) < sendRank(next.typeUrl)) next = response;
    }
    if (!next) return undefined;
    this.#pending.delete(next.typeUrl);
    if (this.#node) this.#options.hooks?.onResponse?.(next, this.#node);
    return next;
  }

  /** What the stream holds per type. */
  status(): TypeStatus[] {
    return [...this.#states.values()].map((s) => ({
      typeUrl: s.typeUrl,
      wildcard: s.wildcard,
      subscribed: [...s.subscribed],
      sentVersion: s.sentVersion,
      ackedVersion: s.ackedVersion,
      nack: s.nackMessage === undefined ? undefined : { version: s.nackedVersion ?? "", message: s.nackMessage },
      returned: s.returned,
    }));
  }

  /** Cancels every watch; nothing is sent afterwards. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const state of this.#states.values()) state.watch?.cancel();
    this.#pending.clear();
  }
}
