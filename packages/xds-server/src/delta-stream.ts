import { create } from "@bufbuild/protobuf";
import { type Cache, covers, type DeltaResponse, type Watch } from "@nebucloud/xds-cache";
import { defaultResourceTypes, type ResourceTypeRegistry, sendRank } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { responseSources, wrapped } from "./discovery-response.js";
import { checkRequest, legacyWildcardTypes } from "./request-checks.js";
import type { TypeStatus } from "./sotw-stream.js";
import { without } from "./version-map.js";

/** Hooks a delta stream calls; all optional. */
export interface DeltaStreamHooks {
  /** A request arrived (after the protocol checks); `node` is the stream's node. */
  onRequest?(request: DeltaDiscoveryRequest, node: Node): void;
  /** A response is about to be written. */
  onResponse?(response: DeltaDiscoveryResponse, node: Node): void;
  /** The client accepted the response sent with `nonce`. */
  onAck?(typeUrl: string, nonce: string, node: Node): void;
  /** The client rejected the response sent with `nonce`, with `message` (its error_detail). */
  onNack?(typeUrl: string, nonce: string, message: string, node: Node): void;
  /** A request whose nonce is not the last one sent for its type: ignored. */
  onStale?(request: DeltaDiscoveryRequest): void;
}

/** Options of {@link DeltaStream}. */
export interface DeltaStreamOptions {
  /** The cache the stream opens its watches on. */
  readonly cache: Cache;
  /** Called when a response becomes ready; take it with {@link DeltaStream.takeNext}. */
  readonly onPending: () => void;
  /** Per-type services serve one type; ADS (undefined) serves all and requires type_url. */
  readonly typeUrl?: string | undefined;
  /** The resource types served. Default: the core's default registry. */
  readonly types?: ResourceTypeRegistry;
  /** What the stream reports as it goes (metrics, callbacks). */
  readonly hooks?: DeltaStreamHooks;
  /** Most resource names one request may subscribe or unsubscribe. Default 10 000. */
  readonly maxNamesPerRequest?: number;
}

interface DeltaTypeState {
  readonly typeUrl: string;
  wildcard: boolean;
  subscribed: Set<string>;
  /** What the client holds; never changed in place (the cache may share it among streams). */
  versions: ReadonlyMap<string, string>;
  nonce: string;
  systemVersion: string;
  ackedNonce: string;
  nackMessage: string | undefined;
  watch: Watch | undefined;
}

/**
 * The state machine of one incremental (delta) stream: subscriptions by
 * resource_names_subscribe/unsubscribe (with `*` and legacy wildcard),
 * initial_resource_versions on (re)connect, removed_resources when a name goes
 * away, ACK and NACK by nonce, and one cache watch per type.
 */
export class DeltaStream {
  readonly #options: DeltaStreamOptions;
  readonly #types: ResourceTypeRegistry;
  readonly #states = new Map<string, DeltaTypeState>();
  readonly #pending = new Map<string, DeltaDiscoveryResponse>();
  #node: Node | undefined;
  #nonce = 0;
  #closed = false;

  constructor(options: DeltaStreamOptions) {
    this.#options = options;
    this.#types = options.types ?? defaultResourceTypes;
  }

  /** The node from the stream's first request. */
  get node(): Node | undefined {
    return this.#node;
  }

  /** Handles one request; throws an XdsError for one that breaks the protocol. */
  handle(request: DeltaDiscoveryRequest): void {
    if (this.#closed) return;
    const count = request.resourceNamesSubscribe.length + request.resourceNamesUnsubscribe.length;
    const { node, typeUrl } = checkRequest({
      streamNode: this.#node,
      requestNode: request.node,
      requestTypeUrl: request.typeUrl,
      serviceTypeUrl: this.#options.typeUrl,
      types: this.#types,
      nameCount: count,
      namesField: "resource_names_subscribe",
      maxNames: this.#options.maxNamesPerRequest ?? 10_000,
    });
    this.#node = node;
    this.#options.hooks?.onRequest?.(request, node);
    let state = this.#states.get(typeUrl);
    const initial = !state;
    if (!state) {
      state = {
        typeUrl,
        // Legacy wildcard: the first request of LDS/CDS names nothing.
        wildcard: request.resourceNamesSubscribe.length === 0 && legacyWildcardTypes.has(typeUrl),
        subscribed: new Set(),
        versions: new Map(Object.entries(request.initialResourceVersions)),
        nonce: "",
        systemVersion: "",
        ackedNonce: "",
        nackMessage: undefined,
        watch: undefined,
      };
      this.#states.set(typeUrl, state);
    } else if (request.responseNonce !== "") {
      if (request.responseNonce !== state.nonce) {
        this.#options.hooks?.onStale?.(request);
        // A stale ACK may still carry subscription changes; those must apply.
        if (count === 0) return;
      } else if (request.errorDetail) {
        state.nackMessage = request.errorDetail.message;
        this.#options.hooks?.onNack?.(typeUrl, request.responseNonce, request.errorDetail.message, node);
      } else {
        state.ackedNonce = request.responseNonce;
        state.nackMessage = undefined;
        this.#options.hooks?.onAck?.(typeUrl, request.responseNonce, node);
      }
      // An ACK or NACK that changes no subscription leaves the watch the last
      // response re-armed as it is: nothing it was made from has changed, and
      // a thousand held names need not be checked again.
      if (count === 0 && state.watch) return;
    }
    const forget = new Set<string>();
    for (const name of request.resourceNamesSubscribe) {
      if (name === "*") state.wildcard = true;
      else {
        state.subscribed.add(name);
        // "The server must still provide those resources": the client may have
        // forgotten one the server believes it holds (discovery.proto,
        // resource_names_subscribe). On a stream's first request,
        // initial_resource_versions says what it holds instead.
        if (!initial && !name.endsWith("/*")) forget.add(name);
      }
    }
    for (const name of request.resourceNamesUnsubscribe) {
      if (name === "*") state.wildcard = false;
      else {
        state.subscribed.delete(name);
        // The client drops what it unsubscribed from; a later subscribe must resend it.
        forget.add(name);
      }
    }
    // The client drops what it no longer subscribes to, also what only an
    // unsubscribed `*` or glob covered: forget it, so a later subscribe resends it.
    const subscription = state;
    state.versions = without(state.versions, (name) => forget.has(name) || !covers(subscription, name));
    state.watch?.cancel();
    state.watch = undefined;
    this.#pruneUnsent(state);
    const current = state;
    const watch = this.#options.cache.createDeltaWatch(
      { typeUrl, node },
      { wildcard: state.wildcard, subscribed: state.subscribed, versions: state.versions },
      (response) => this.#respond(current, response),
    );
    // Answered at once: #respond already re-armed the watch, and the one
    // returned here is spent. Keeping it would leak the re-armed one.
    state.watch ??= watch;
  }

  /**
   * A response built for the old subscription and not yet written: what it
   * carries for names the client just unsubscribed from must not reach it
   * (go-control-plane #1498), and the rest must, since the stream already
   * counts it as sent. Dropping it whole would lose those resources.
   */
  #pruneUnsent(state: DeltaTypeState): void {
    const unsent = this.#pending.get(state.typeUrl);
    if (!unsent) return;
    const kept = unsent.resources.filter((r) => covers(state, r.name));
    if (kept.length === unsent.resources.length) return;
    unsent.resources = kept;
    // Its resource list changed: it is encoded from the message, not from its source.
    responseSources.delete(unsent);
    if (kept.length === 0 && unsent.removedResources.length === 0) this.#pending.delete(state.typeUrl);
  }

  #respond(state: DeltaTypeState, response: DeltaResponse): void {
    if (this.#closed) return;
    state.watch = undefined;
    const message = create(DeltaDiscoveryResponseSchema, {
      systemVersionInfo: response.systemVersion,
      typeUrl: response.typeUrl,
      removedResources: [...response.removed],
    });
    // Assigned, not passed to create() (see SotwStream): the wrappers are finished messages.
    message.resources = response.resources.map((r) => wrapped(r, response.heartbeat === true));
    state.systemVersion = response.systemVersion;
    // Like go-control-plane, assume the client applies what it is sent; a NACK
    // does not roll back, and the next change is sent on top.
    state.versions = response.nextVersions;
    const unsent = this.#pending.get(state.typeUrl);
    if (unsent) mergeInto(message, unsent);
    else
      responseSources.set(message, {
        kind: "delta",
        resources: response.resources,
        heartbeat: response.heartbeat === true,
        shareKey: response.heartbeat === true ? undefined : response.shareKey,
      });
    this.#pending.set(state.typeUrl, message);
    // Re-arm the watch at once: delta needs no ACK before the next change.
    const current = state;
    const watch = this.#options.cache.createDeltaWatch(
      { typeUrl: state.typeUrl, node: this.#node },
      { wildcard: state.wildcard, subscribed: state.subscribed, versions: state.versions },
      (next) => this.#respond(current, next),
    );
    // As in handle: an immediate answer re-armed it again inside this call.
    state.watch ??= watch;
    this.#options.onPending();
  }

  /**
   * The next response to write, or `undefined` when none is ready. Responses
   * ready at once come in make-before-break order: additions and changes
   * first (clusters before endpoints, listeners before routes), removals last,
   * once no other type has a change waiting; a response with both is split.
   * A stream whose client reads slowly holds at most one unsent response per
   * type, merging newer changes into it. Nonces are given here, as responses
   * are written.
   */
  takeNext(): DeltaDiscoveryResponse | undefined {
    if (this.#closed) return undefined;
    let next: DeltaDiscoveryResponse | undefined;
    for (const response of this.#pending.values()) {
      if (!next) next = response;
      else if (response.resources.length > 0 !== next.resources.length > 0) {
        if (response.resources.length > 0) next = response;
      } else if (sendRank(response.typeUrl) < sendRank(next.typeUrl)) next = response;
    }
    if (!next) return undefined;
    let message = next;
    const chosen = next;
    const othersChange = [...this.#pending.values()].some((r) => r !== chosen && r.resources.length > 0);
    if (next.resources.length > 0 && next.removedResources.length > 0 && othersChange) {
      // Send the changes now; the removals stay pending until the other types' changes are out.
      message = create(DeltaDiscoveryResponseSchema, {
        systemVersionInfo: next.systemVersionInfo,
        typeUrl: next.typeUrl,
        resources: next.resources,
      });
      const source = responseSources.get(next);
      if (source) responseSources.set(message, source);
      responseSources.delete(next);
      next.resources = [];
    } else {
      this.#pending.delete(next.typeUrl);
    }
    message.nonce = String(++this.#nonce);
    const state = this.#states.get(message.typeUrl);
    if (state) state.nonce = message.nonce;
    if (this.#node) this.#options.hooks?.onResponse?.(message, this.#node);
    return message;
  }

  /** What the stream holds per type. */
  status(): TypeStatus[] {
    return [...this.#states.values()].map((s) => ({
      typeUrl: s.typeUrl,
      wildcard: s.wildcard,
      subscribed: [...s.subscribed],
      sentVersion: s.systemVersion,
      ackedVersion: s.ackedNonce === s.nonce ? s.systemVersion : "",
      nack: s.nackMessage === undefined ? undefined : { version: s.systemVersion, message: s.nackMessage },
      returned: s.versions,
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

/**
 * Folds an unsent response into the newer one: the client must still receive
 * what the older one carried, since the stream already counts it as sent.
 */
function mergeInto(newer: DeltaDiscoveryResponse, older: DeltaDiscoveryResponse): void {
  const byName = new Map(older.resources.map((r) => [r.name, r]));
  for (const name of newer.removedResources) byName.delete(name);
  for (const resource of newer.resources) {
    // A heartbeat must not replace the body of the same version still unsent.
    const unsent = byName.get(resource.name);
    if (!resource.resource && unsent?.resource && unsent.version === resource.version) continue;
    byName.set(resource.name, resource);
  }
  const removed = new Set(older.removedResources.filter((name) => !byName.has(name)));
  for (const name of newer.removedResources) removed.add(name);
  newer.resources = [...byName.values()];
  newer.removedResources = [...removed];
}
