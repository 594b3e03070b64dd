import { createClient, type Transport } from "@connectrpc/connect";
import { FullStateTypes, type Resource, sendRank, XdsError } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import type { AdsSession } from "./ads-session.js";
import { ClientEvents, type XdsClientEvents, type XdsClientListener } from "./client-events.js";
import { ClientMetrics } from "./client-metrics.js";
import { type ResolvedClientOptions, resolveClientOptions, type XdsClientOptions } from "./client-options.js";
import { type DecodedResource, decodeDeltaResources, decodeSotwResources } from "./decoded-resource.js";
import { DeltaSession } from "./delta-session.js";
import { KeyedTimers } from "./keyed-timers.js";
import { nodeMessage } from "./node-message.js";
import { RequestQueue } from "./request-queue.js";
import { ResourceStore } from "./resource-store.js";
import { checkedResources } from "./response-check.js";
import { SotwSession } from "./sotw-session.js";
import { StreamLoop } from "./stream-loop.js";
import { type ClientTypeStatus, newTypeState, type TypeState, typeStatus } from "./type-state.js";
import { covers, type Interest, noInterest, type Watcher, type WatchHandler, watches } from "./type-subscription.js";

/** What one accepted response changed. */
interface Changes {
  readonly updated: string[];
  readonly removed: string[];
}

/**
 * An xDS client over one ADS stream (SotW or delta) to one server.
 *
 * Watchers subscribe to resources by type and name (or `*`); watchers of the
 * same names share one subscription, and every change of the union is sent to
 * the server as a new request. Responses are decoded through the resource
 * type registry, checked by the `validate` hook, then ACKed, or NACKed with
 * the hook's text while the resources accepted before stay current.
 *
 * The stream reconnects with exponential backoff and resubscribes everything,
 * resuming from what it holds (SotW: the last accepted version_info; delta:
 * initial_resource_versions). Resources are compared by content, so a server
 * that restarts with the same resources causes no change and no removal.
 *
 * The client connects on the first {@link watch}. It is single-threaded like
 * everything in Node.js: call it from any callback. {@link close} ends it.
 */
export class XdsClient {
  readonly #options: ResolvedClientOptions;
  readonly #node: Node;
  readonly #types = new Map<string, TypeState>();
  readonly #store = new ResourceStore();
  readonly #doesNotExist = new KeyedTimers();
  readonly #ttl = new KeyedTimers();
  readonly #events: ClientEvents;
  readonly #metrics: ClientMetrics | undefined;
  readonly #loop: StreamLoop;
  readonly #dirty = new Set<string>();
  #session: AdsSession | undefined;
  #syncQueued = false;
  #streams = 0;
  #failureReported = false;
  #closed = false;

  /** Checks the options (throws an XdsError `invalid_config` naming the field); connects on the first watch. */
  constructor(options: XdsClientOptions) {
    this.#options = resolveClientOptions(options);
    this.#node = nodeMessage(this.#options.node);
    this.#metrics = this.#options.metrics ? new ClientMetrics(this.#options.metrics) : undefined;
    this.#events = new ClientEvents((error, event) =>
      this.#options.logger.warn({ error: String(error), event }, "an event listener threw"),
    );
    this.#loop = new StreamLoop({
      baseUrl: this.#options.baseUrl,
      address: this.#options.address,
      tls: this.#options.tls,
      backoff: this.#options.backoff,
      handlers: {
        run: (transport, signal, progress) => this.#runStream(transport, signal, progress),
        closed: (error, delayMs, connected) => this.#streamClosed(error, delayMs, connected),
      },
    });
  }

  /** The server as HOST:PORT. */
  get address(): string {
    return this.#options.address;
  }

  /** `sotw` or `delta`. */
  get protocol(): "sotw" | "delta" {
    return this.#options.protocol;
  }

  /** Whether a stream is open now. */
  get connected(): boolean {
    return this.#session !== undefined;
  }

  /**
   * Watches resources of `typeUrl`: the `names` given (opaque strings,
   * xdstp:// names included) or every resource (`"*"`). The handler hears
   * what it watches (see {@link WatchHandler}); resources the client already
   * holds are delivered on the next microtask. Returns a function that ends
   * this watch (idempotent); the server is told when no watcher is left for a
   * name. Throws an XdsError `unknown_type` for a type the registry lacks,
   * `invalid_request` for an empty name list, `channel_closed` after close().
   */
  watch(typeUrl: string, names: readonly string[] | "*", handler: WatchHandler): () => void {
    if (this.#closed) throw new XdsError("channel_closed", "the client is closed", { typeUrl });
    this.#options.types.require(typeUrl);
    if (names !== "*" && names.length === 0) {
      throw new XdsError("invalid_request", `watch ${typeUrl}: give at least one name, or "*"`, {
        typeUrl,
        field: "names",
      });
    }
    const explicit = names === "*" ? [] : names.filter((name) => name !== "*");
    const watcher: Watcher = {
      handler,
      wildcard: names === "*" || names.includes("*"),
      names: new Set(explicit),
      initialized: false,
    };
    const state = this.#state(typeUrl);
    if (state.subscription.add(watcher)) this.#markDirty(typeUrl);
    queueMicrotask(() => this.#deliverInitial(state, watcher));
    this.#loop.start();
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.#unwatch(state, watcher);
    };
  }

  /** The resource `name` of `typeUrl` the client holds, if any. */
  get(typeUrl: string, name: string): Resource | undefined {
    return this.#store.get(typeUrl, name)?.resource;
  }

  /** Every resource of `typeUrl` the client holds, by name (a copy). */
  getAll(typeUrl: string): ReadonlyMap<string, Resource> {
    return new Map([...this.#store.all(typeUrl)].map(([name, cached]) => [name, cached.resource]));
  }

  /** What the client knows per subscribed type, in ADS send order. */
  status(): ClientTypeStatus[] {
    return [...this.#types.values()]
      .sort((a, b) => sendRank(a.typeUrl) - sendRank(b.typeUrl))
      .map((state) => typeStatus(state, this.#store.all(state.typeUrl).size));
  }

  /** Adds a listener for one of {@link XdsClientEvents}; returns a function that removes it. */
  on<K extends keyof XdsClientEvents>(event: K, listener: XdsClientListener<K>): () => void {
    return this.#events.on(event, listener);
  }

  /**
   * Ends the stream, stops reconnecting and clears every timer; watchers hear
   * nothing more. Resolves once nothing is left running. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return this.#loop.close();
    this.#closed = true;
    this.#session?.end();
    await this.#loop.close();
    this.#doesNotExist.cancelAll();
    this.#ttl.cancelAll();
    this.#events.clear();
  }

  // ---- subscriptions

  #state(typeUrl: string): TypeState {
    let state = this.#types.get(typeUrl);
    if (!state) {
      state = newTypeState(typeUrl);
      this.#types.set(typeUrl, state);
    }
    return state;
  }

  #unwatch(state: TypeState, watcher: Watcher): void {
    if (state.subscription.remove(watcher)) this.#markDirty(state.typeUrl);
  }

  #markDirty(typeUrl: string): void {
    this.#dirty.add(typeUrl);
    if (this.#syncQueued) return;
    this.#syncQueued = true;
    // Watches made and ended in one turn go out as one request per type.
    queueMicrotask(() => {
      this.#syncQueued = false;
      if (this.#closed) return;
      const types = [...this.#dirty].sort((a, b) => sendRank(a) - sendRank(b));
      this.#dirty.clear();
      for (const typeUrl of types) {
        const state = this.#state(typeUrl);
        this.#sync(state, this.#trim(state));
      }
    });
  }

  /**
   * Forgets what the type's subscription no longer covers: the server forgets
   * what it sent for names no longer subscribed, so the client must too (and
   * its SotW version_info then no longer says what it holds). Returns the
   * names of the resources dropped.
   */
  #trim(state: TypeState): string[] {
    const interest = state.subscription.interest;
    const dropped = this.#store.retain(state.typeUrl, (name) => covers(interest, name));
    for (const name of dropped) this.#ttl.cancel(timerKey(state.typeUrl, name));
    if (dropped.length > 0) state.version = "";
    for (const name of [...state.doesNotExist]) if (!interest.names.has(name)) state.doesNotExist.delete(name);
    for (const key of this.#doesNotExist.keys(timerKey(state.typeUrl, ""))) {
      if (!interest.names.has(key.slice(state.typeUrl.length + 1))) this.#doesNotExist.cancel(key);
    }
    if (!interest.wildcard) state.responded = false;
    return dropped;
  }

  /** Sends a type's interest on the current stream and starts does-not-exist timers for names it now asks for. */
  #sync(state: TypeState, dropped: readonly string[] = []): void {
    const session = this.#session;
    if (!session) return;
    const asked = session.sync(state.typeUrl, state.subscription.interest, dropped);
    for (const name of asked) this.#startDoesNotExistTimer(state, name);
  }

  #startDoesNotExistTimer(state: TypeState, name: string): void {
    if (this.#store.get(state.typeUrl, name) || state.doesNotExist.has(name)) return;
    this.#doesNotExist.start(timerKey(state.typeUrl, name), this.#options.doesNotExistTimeoutMs, () => {
      if (this.#closed || this.#store.get(state.typeUrl, name)) return;
      if (!state.subscription.interest.names.has(name)) return;
      state.doesNotExist.add(name);
      this.#options.logger.debug({ typeUrl: state.typeUrl, name }, "resource does not exist (timeout)");
      for (const watcher of state.subscription.watchers) {
        if (watcher.names.has(name)) this.#call(() => watcher.handler.onDoesNotExist?.(name));
      }
    });
  }

  #deliverInitial(state: TypeState, watcher: Watcher): void {
    if (this.#closed || !state.subscription.watchers.includes(watcher) || watcher.initialized) return;
    const visible = this.#visible(state, watcher);
    if (visible.size > 0 || (watcher.wildcard && state.responded)) {
      watcher.initialized = true;
      this.#call(() => watcher.handler.onChange(visible));
    }
    for (const name of watcher.names) {
      if (state.doesNotExist.has(name)) this.#call(() => watcher.handler.onDoesNotExist?.(name));
    }
  }

  // ---- the stream

  async #runStream(transport: Transport, signal: AbortSignal, progress: () => void): Promise<void> {
    const ads = createClient(AggregatedDiscoveryService, transport);
    if (this.#streams++ > 0) this.#metrics?.reconnects.inc();
    this.#metrics?.connected.inc();
    this.#failureReported = false;
    this.#options.logger.info({ server: this.#options.address, protocol: this.#options.protocol }, "ADS stream open");
    this.#events.emit("connected", { address: this.#options.address });
    try {
      if (this.#options.protocol === "sotw") {
        const requests = new RequestQueue<DiscoveryRequest>();
        this.#openSession(new SotwSession(requests, this.#node, (t) => this.#types.get(t)?.version ?? ""));
        for await (const response of ads.streamAggregatedResources(requests, { signal })) {
          progress();
          this.#onSotwResponse(response);
        }
      } else {
        const requests = new RequestQueue<DeltaDiscoveryRequest>();
        this.#openSession(new DeltaSession(requests, this.#node, (t, interest) => this.#heldVersions(t, interest)));
        for await (const response of ads.deltaAggregatedResources(requests, { signal })) {
          progress();
          this.#onDeltaResponse(response);
        }
      }
    } finally {
      this.#session?.end();
      this.#session = undefined;
      this.#metrics?.connected.dec();
    }
  }

  #openSession(session: AdsSession): void {
    this.#session = session;
    this.#dirty.clear();
    const states = [...this.#types.values()].sort((a, b) => sendRank(a.typeUrl) - sendRank(b.typeUrl));
    for (const state of states) {
      state.nonce = "";
      this.#sync(state);
    }
  }

  #heldVersions(typeUrl: string, interest: Interest): Record<string, string> {
    const versions: Record<string, string> = {};
    for (const [name, cached] of this.#store.all(typeUrl)) if (covers(interest, name)) versions[name] = cached.version;
    return versions;
  }

  #streamClosed(error: XdsError, delayMs: number, connected: boolean): void {
    // Timers run only while the request is out; resubscribing restarts them.
    this.#doesNotExist.cancelAll();
    const log = connected ? "warn" : "debug";
    this.#options.logger[log](
      { server: this.#options.address, error: error.rawMessage, retryInMs: delayMs },
      "ADS stream closed; reconnecting",
    );
    this.#events.emit("disconnected", { address: this.#options.address, error, retryInMs: delayMs });
    // Watchers hear of an outage once, not on every retry.
    if (this.#failureReported) return;
    this.#failureReported = true;
    for (const state of this.#types.values()) {
      for (const watcher of state.subscription.watchers) this.#call(() => watcher.handler.onError?.(error));
    }
  }

  // ---- responses

  #onSotwResponse(response: DiscoveryResponse): void {
    const { typeUrl, nonce, versionInfo } = response;
    this.#metrics?.responses.inc({ type_url: typeUrl });
    const state = this.#types.get(typeUrl);
    const interest = state?.subscription.interest ?? noInterest;
    const decoded = this.#decode(typeUrl, () => decodeSotwResources(response, this.#options.types));
    if (typeof decoded === "string" || !state) {
      this.#answer(typeUrl, versionInfo, nonce, interest, typeof decoded === "string" ? decoded : undefined);
      return;
    }
    const changes = this.#apply(state, decoded);
    // A response of TTL heartbeats only (no bodies) renews TTLs; it is not a new state of the world.
    const heartbeat = decoded.length > 0 && decoded.every((d) => d.resource === undefined);
    if (FullStateTypes.has(typeUrl) && !heartbeat) {
      // CDS and LDS responses hold every resource subscribed to: one held and missing was removed.
      const present = new Set(decoded.map((d) => d.name));
      for (const name of [...this.#store.all(typeUrl).keys()]) {
        if (!present.has(name) && covers(interest, name) && this.#forget(state, name)) changes.removed.push(name);
      }
    }
    this.#accepted(state, versionInfo, nonce, changes);
  }

  #onDeltaResponse(response: DeltaDiscoveryResponse): void {
    const { typeUrl, nonce, systemVersionInfo } = response;
    this.#metrics?.responses.inc({ type_url: typeUrl });
    const state = this.#types.get(typeUrl);
    const interest = state?.subscription.interest ?? noInterest;
    const decoded = this.#decode(typeUrl, () => decodeDeltaResources(response, this.#options.types));
    if (typeof decoded === "string" || !state) {
      this.#answer(typeUrl, systemVersionInfo, nonce, interest, typeof decoded === "string" ? decoded : undefined);
      return;
    }
    const changes = this.#apply(state, decoded);
    for (const name of response.removedResources) if (this.#forget(state, name)) changes.removed.push(name);
    this.#accepted(state, systemVersionInfo, nonce, changes);
  }

  /** The decoded resources, or the NACK text when they do not decode or the validator refuses one. */
  #decode(typeUrl: string, decode: () => DecodedResource[]): DecodedResource[] | string {
    return checkedResources(typeUrl, decode, this.#options.validate);
  }

  /** ACKs (or NACKs with `rejection`) a response that changes nothing the client holds. */
  #answer(typeUrl: string, version: string, nonce: string, interest: Interest, rejection: string | undefined): void {
    const state = this.#types.get(typeUrl);
    if (rejection === undefined) {
      this.#session?.ack(typeUrl, version, nonce, interest);
      if (state) state.nonce = nonce;
      return;
    }
    this.#metrics?.nacks.inc({ type_url: typeUrl });
    this.#options.logger.warn({ typeUrl, version, error: rejection }, "rejected a response (NACK)");
    this.#session?.nack(typeUrl, nonce, rejection, interest);
    this.#events.emit("nack", { typeUrl, version, nonce, message: rejection });
    if (!state) return;
    state.nonce = nonce;
    state.nack = { version, message: rejection };
    const error = new XdsError("invalid_config", `rejected ${typeUrl} version ${version}: ${rejection}`, {
      typeUrl,
      version,
      reason: rejection,
    });
    for (const watcher of state.subscription.watchers) this.#call(() => watcher.handler.onError?.(error));
  }

  /** Stores what a response carries for names the client watches; returns what changed. */
  #apply(state: TypeState, decoded: readonly DecodedResource[]): Changes {
    const interest = state.subscription.interest;
    const updated: string[] = [];
    for (const item of decoded) {
      if (!covers(interest, item.name)) continue;
      const key = timerKey(state.typeUrl, item.name);
      const held = this.#store.get(state.typeUrl, item.name);
      if (item.resource) {
        if (this.#store.put(state.typeUrl, item.name, item.resource, item.version)) updated.push(item.name);
      } else if (!held) {
        continue; // A heartbeat for something not held renews nothing.
      }
      this.#doesNotExist.cancel(key);
      state.doesNotExist.delete(item.name);
      if (item.ttlMs === undefined) this.#ttl.cancel(key);
      else this.#ttl.start(key, item.ttlMs, () => this.#expire(state, item.name));
    }
    return { updated, removed: [] };
  }

  /** Forgets a resource the server removed; true when it was held. */
  #forget(state: TypeState, name: string): boolean {
    this.#ttl.cancel(timerKey(state.typeUrl, name));
    if (!this.#store.remove(state.typeUrl, name)) return false;
    if (state.subscription.interest.names.has(name)) state.doesNotExist.add(name);
    return true;
  }

  #accepted(state: TypeState, version: string, nonce: string, changes: Changes): void {
    state.version = version;
    state.nonce = nonce;
    state.nack = undefined;
    // Only a response to a wildcard subscription says what all of the type is.
    if (state.subscription.interest.wildcard) state.responded = true;
    this.#session?.ack(state.typeUrl, version, nonce, state.subscription.interest);
    this.#events.emit("ack", { typeUrl: state.typeUrl, version, nonce });
    if (changes.updated.length > 0 || changes.removed.length > 0) {
      this.#events.emit("resources", { typeUrl: state.typeUrl, ...changes });
    }
    this.#notify(state, changes);
  }

  /** A resource whose TTL ran out without a heartbeat is removed, as Envoy does. */
  #expire(state: TypeState, name: string): void {
    if (this.#closed || !this.#forget(state, name)) return;
    this.#options.logger.info({ typeUrl: state.typeUrl, name }, "resource TTL expired");
    const changes = { updated: [], removed: [name] };
    this.#events.emit("resources", { typeUrl: state.typeUrl, ...changes });
    this.#notify(state, changes);
  }

  #notify(state: TypeState, changes: Changes): void {
    for (const watcher of state.subscription.watchers) {
      for (const name of changes.removed) {
        if (watches(watcher, name)) this.#call(() => watcher.handler.onDoesNotExist?.(name));
      }
      const touched =
        changes.updated.some((name) => watches(watcher, name)) ||
        changes.removed.some((name) => watches(watcher, name));
      // A wildcard watcher hears once at first, even when nothing of its type exists.
      if (touched || (watcher.wildcard && !watcher.initialized)) {
        watcher.initialized = true;
        const visible = this.#visible(state, watcher);
        this.#call(() => watcher.handler.onChange(visible));
      }
    }
  }

  /** The resources a watcher watches, by name. */
  #visible(state: TypeState, watcher: Watcher): Map<string, Resource> {
    const visible = new Map<string, Resource>();
    if (watcher.wildcard) {
      for (const [name, cached] of this.#store.all(state.typeUrl)) visible.set(name, cached.resource);
    } else {
      for (const name of watcher.names) {
        const cached = this.#store.get(state.typeUrl, name);
        if (cached) visible.set(name, cached.resource);
      }
    }
    return visible;
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#options.logger.warn({ error: String(error) }, "a watch handler threw");
    }
  }
}

function timerKey(typeUrl: string, name: string): string {
  return `${typeUrl}\0${name}`;
}
