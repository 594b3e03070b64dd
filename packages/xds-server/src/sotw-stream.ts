import { create } from "@bufbuild/protobuf";
import { type Cache, covers, type SotwResponse, type Watch } from "@nebucloud/xds-cache";
import { defaultResourceTypes, type ResourceTypeRegistry, sendRank } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  type DiscoveryRequest,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { anyOf, responseSources, wrappedAny } from "./discovery-response.js";
import { checkRequest, legacyWildcardTypes } from "./request-checks.js";
import { type SharedNames, sharedNames } from "./shared-subscriptions.js";
import { without } from "./version-map.js";

const noNames = sharedNames([]);

/** What a stream reports about one type, for CSDS, metrics and status pages. */
export interface TypeStatus {
  /** The type URL this status is for. */
  readonly typeUrl: string;
  /** Whether the client subscribes to every resource of the type. */
  readonly wildcard: boolean;
  /** The names the client subscribed to explicitly. */
  readonly subscribed: readonly string[];
  /** Version of the last response sent. */
  readonly sentVersion: string;
  /** Version the client last acknowledged. */
  readonly ackedVersion: string;
  /** The client's error text when it rejected the last response. */
  readonly nack:
    | {
        /** The version the client rejected. */
        readonly version: string;
        /** The client's error_detail message. */
        readonly message: string;
      }
    | undefined;
  /** Name -> version the client holds. */
  readonly returned: ReadonlyMap<string, string>;
}

/** Hooks a SotW stream calls; all optional. */
export interface SotwStreamHooks {
  /** A request arrived (after the protocol checks); `node` is the stream's node. */
  onRequest?(request: DiscoveryRequest, node: Node): void;
  /** A response is about to be written. */
  onResponse?(response: DiscoveryResponse, node: Node): void;
  /** The client accepted `version` of a type. */
  onAck?(typeUrl: string, version: string, node: Node): void;
  /** The client rejected `version` of a type with `message` (its error_detail). */
  onNack?(typeUrl: string, version: string, message: string, node: Node): void;
  /** A request whose nonce is not the last one sent for its type: ignored. */
  onStale?(request: DiscoveryRequest): void;
}

/** Options of {@link SotwStream}. */
export interface SotwStreamOptions {
  /** The cache the stream opens its watches on. */
  readonly cache: Cache;
  /**
   * Called when a response becomes ready; the transport then takes responses
   * with {@link SotwStream.takeNext} as fast as the client reads them.
   */
  readonly onPending: () => void;
  /** Per-type services serve one type; ADS (undefined) serves all and requires type_url. */
  readonly typeUrl?: string | undefined;
  /** The resource types served. Default: the core's default registry. */
  readonly types?: ResourceTypeRegistry;
  /** What the stream reports as it goes (metrics, callbacks). */
  readonly hooks?: SotwStreamHooks;
  /** Most resource names one request may carry. Default 10 000. */
  readonly maxNamesPerRequest?: number;
}

/** A response built for a type and not yet taken for writing. */
interface PendingResponse {
  readonly message: DiscoveryResponse;
  readonly version: string;
  /** What the client will hold once it acknowledges it. */
  readonly returned: ReadonlyMap<string, string>;
}

interface TypeState {
  readonly typeUrl: string;
  wildcard: boolean;
  /** Whether the client ever named resources (ends the legacy wildcard). */
  named: boolean;
  /** The explicit names, shared with every stream that asks for the same (see shared-subscriptions.ts). */
  names: SharedNames;
  subscribed: ReadonlySet<string>;
  /** What the client holds; never changed in place (the cache may share it among streams). */
  returned: ReadonlyMap<string, string>;
  nackedVersion: string | undefined;
  nackMessage: string | undefined;
  nonce: string;
  sentVersion: string;
  ackedVersion: string;
  /** What the client will hold once it acknowledges the last response. */
  pendingReturned: ReadonlyMap<string, string> | undefined;
  /** See {@link SubscriptionState.resumed}: true until the first response or dropped name. */
  resumed: boolean;
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
  /** Built, not yet written, by type: at most one each, the newest. */
  readonly #pending = new Map<string, PendingResponse>();
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
        names: noNames,
        subscribed: noNames.set,
        returned: new Map(),
        nackedVersion: undefined,
        nackMessage: undefined,
        nonce: "",
        sentVersion: "",
        ackedVersion: "",
        pendingReturned: undefined,
        resumed: request.versionInfo !== "",
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
        if (state.pendingReturned) state.returned = state.pendingReturned;
        this.#options.hooks?.onAck?.(typeUrl, state.sentVersion, node);
      }
      state.pendingReturned = undefined;
    }
    this.#subscribe(state, request.resourceNames, first);
    state.watch?.cancel();
    // A response not yet written was built for the old subscription (go-control-plane #1498).
    this.#pending.delete(typeUrl);
    state.watch = this.#options.cache.createWatch(
      { typeUrl, node, resourceNames: state.names.list, versionInfo: request.versionInfo },
      {
        wildcard: state.wildcard,
        subscribed: state.subscribed,
        returned: state.returned,
        nackedVersion: state.nackedVersion,
        resumed: state.resumed,
      },
      (response) => this.#respond(state, response),
    );
  }

  #subscribe(state: TypeState, names: readonly string[], first: boolean): void {
    // An ACK repeats the names of the request before it: nothing changes, and
    // a thousand endpoint names need not be interned and checked again.
    if (!first && !state.wildcard && names.length > 0 && sameNames(names, state.names.list)) return;
    const explicit = names.includes("*") ? names.filter((n) => n !== "*") : names;
    const before = { wildcard: state.wildcard, subscribed: state.subscribed };
    if (names.includes("*")) state.wildcard = true;
    else if (first && names.length === 0 && legacyWildcardTypes.has(state.typeUrl)) state.wildcard = true;
    else if (names.length > 0 || state.named) state.wildcard = false;
    // Once a client has named anything, `*` included, an empty list means
    // "nothing" rather than the legacy wildcard (xDS protocol, wildcard rules).
    if (names.length > 0) state.named = true;
    state.names = sharedNames(explicit);
    state.subscribed = state.names.set;
    // The client drops what it no longer subscribes to, also what only an
    // unsubscribed `*` or glob covered: forget we sent it, so a later
    // subscription sends it again.
    const subscription = state;
    state.returned = without(state.returned, (name) => !covers(subscription, name));
    // A resumed client that drops a name drops its copy too: from here on its
    // version no longer says what it holds.
    if (state.resumed && dropsAny(before, state)) state.resumed = false;
  }

  #respond(state: TypeState, response: SotwResponse): void {
    if (this.#closed) return;
    state.watch = undefined;
    const message = create(DiscoveryResponseSchema, { versionInfo: response.version, typeUrl: response.typeUrl });
    // Assigned, not passed to create(): create() would visit every Any of every
    // stream's response, and they are finished (shared) messages already.
    message.resources = response.resources.map((r) =>
      r.ttlMs !== undefined || response.heartbeat ? wrappedAny(r, response.heartbeat) : anyOf(r),
    );
    responseSources.set(message, {
      kind: "sotw",
      resources: response.resources,
      heartbeat: response.heartbeat,
      // Every subscribed resource is in it: the version says exactly what it holds.
      shareKey:
        response.resources.length === response.returned.size
          ? `${response.typeUrl}\0${response.version}\0${response.heartbeat}`
          : undefined,
    });
    this.#pending.set(state.typeUrl, { message, version: response.version, returned: response.returned });
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
    let next: PendingResponse | undefined;
    for (const pending of this.#pending.values()) {
      if (!next || sendRank(pending.message.typeUrl) < sendRank(next.message.typeUrl)) next = pending;
    }
    if (!next) return undefined;
    const { message } = next;
    this.#pending.delete(message.typeUrl);
    // The nonce is given as the response is written, not when it is built: a
    // request the client sends before it could see this response is then not
    // stale, and a subscription change in it replaces a response still unsent
    // (go-control-plane #1498) instead of being ignored.
    message.nonce = String(++this.#nonce);
    const state = this.#states.get(message.typeUrl);
    if (state) {
      state.nonce = message.nonce;
      state.sentVersion = next.version;
      state.pendingReturned = next.returned;
      state.resumed = false;
    }
    if (this.#node) this.#options.hooks?.onResponse?.(message, this.#node);
    return message;
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

/** Whether a request's names are exactly an explicit list (no `*`, no duplicates), in order. */
function sameNames(names: readonly string[], list: readonly string[]): boolean {
  if (names === list) return true;
  if (names.length !== list.length) return false;
  for (let i = 0; i < names.length; i++) if (names[i] !== list[i]) return false;
  return true;
}

/** Whether `after` no longer covers something `before` did. */
function dropsAny(
  before: { wildcard: boolean; subscribed: ReadonlySet<string> },
  after: { wildcard: boolean; subscribed: ReadonlySet<string> },
): boolean {
  if (before.wildcard && !after.wildcard) return true;
  for (const name of before.subscribed) if (!after.subscribed.has(name) && !covers(after, name)) return true;
  return false;
}
