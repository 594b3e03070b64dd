import {
  defaultResourceTypes,
  FullStateTypes,
  Resource,
  type ResourceTypeRegistry,
  XdsError,
} from "@nebucloud/xds-core";
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
import type { ResourceInput } from "./snapshot.js";
import { answerDelta, answerSotw, covers, fetchState } from "./subscription.js";

/** Options of {@link LinearCache}. */
export interface LinearCacheOptions {
  /**
   * Resources the cache starts with. They do not bump the version: the cache
   * starts at `versionPrefix + "0"` whatever it holds. Duplicate names are an
   * XdsError `invalid_config`. Default: none.
   */
  readonly initialResources?: Iterable<ResourceInput>;
  /** Prepended to the batch counter in {@link LinearCache.version}. Default `""`. */
  readonly versionPrefix?: string;
  /**
   * Where the type comes from, used to wrap bare messages and to check at
   * construction that the type URL is known. Default: the core's
   * `defaultResourceTypes`.
   */
  readonly types?: ResourceTypeRegistry;
  /**
   * Receives what a respond callback threw. A throwing callback never stops
   * other watches from being answered and never reaches the caller of an
   * update or of `createWatch`. Default: the error is dropped.
   */
  readonly onError?: (error: unknown) => void;
}

/** What every open watch has, whatever its protocol. */
interface Entry {
  /** Exact names whose change may change the answer (indexed by name). */
  readonly names: readonly string[];
  /** In the broad set: a wildcard or glob subscription, checked with {@link covers}. */
  readonly broad: boolean;
  readonly state: { readonly wildcard: boolean; readonly subscribed: ReadonlySet<string> };
  open: boolean;
}

interface SotwEntry extends Entry {
  readonly request: SotwRequest;
  readonly state: SubscriptionState;
  readonly respond: Respond<SotwResponse>;
}

interface DeltaEntry extends Entry {
  readonly request: DeltaRequest;
  readonly state: DeltaSubscriptionState;
  readonly respond: Respond<DeltaResponse>;
}

const isGlob = (name: string) => name.endsWith("/*");

/**
 * Open watches indexed by the names that can change their answer: exact names
 * map to their watches, and wildcard or glob watches sit in one broad set that
 * is filtered with {@link covers}. An update reaches only the watches of the
 * names it touches plus the broad ones that cover them: no scan of every watch.
 */
class WatchIndex<E extends Entry> {
  readonly #byName = new Map<string, Set<E>>();
  readonly #broad = new Set<E>();
  readonly #open = new Set<E>();

  get size(): number {
    return this.#open.size;
  }

  /** Index entries, for leak checks: name keys plus broad watches. */
  get indexed(): number {
    return this.#byName.size + this.#broad.size;
  }

  add(entry: E): void {
    this.#open.add(entry);
    if (entry.broad) this.#broad.add(entry);
    for (const name of entry.names) {
      let set = this.#byName.get(name);
      if (!set) {
        set = new Set();
        this.#byName.set(name, set);
      }
      set.add(entry);
    }
  }

  /** Removes the entry from every index; idempotent. */
  remove(entry: E): void {
    entry.open = false;
    if (!this.#open.delete(entry)) return;
    this.#broad.delete(entry);
    for (const name of entry.names) {
      const set = this.#byName.get(name);
      if (!set) continue;
      set.delete(entry);
      if (set.size === 0) this.#byName.delete(name);
    }
  }

  /** The open watches whose answer a change of `touched` may change. */
  candidates(touched: ReadonlySet<string>): E[] {
    const found = new Set<E>();
    for (const name of touched) {
      const set = this.#byName.get(name);
      if (set) for (const entry of set) found.add(entry);
    }
    for (const entry of this.#broad) {
      if (found.has(entry)) continue;
      if (entry.state.wildcard) {
        found.add(entry);
        continue;
      }
      for (const name of touched) {
        if (covers(entry.state, name)) {
          found.add(entry);
          break;
        }
      }
    }
    return [...found];
  }
}

const answered: Watch = Object.freeze({ cancel() {} });

/**
 * A cache for one resource type whose resources are updated one by one or in
 * batches, go-control-plane's `LinearCache`: every node sees the same
 * resources, and an update reaches only the watches that subscribe to the
 * names it touches (or to everything, or to a `prefix/*` glob covering them).
 * Suited to EDS and other large, often-changing types.
 *
 * Versions:
 * - {@link version} is `versionPrefix` + a counter that starts at 0 and grows
 *   by one per batch that changes something. It is the delta
 *   `system_version_info` and what {@link status} reports.
 * - SotW responses do not carry it: their `version` is the content hash
 *   `answerSotw` computes over exactly what the client will hold. That keeps
 *   the invariant that a client holding the current resources is never
 *   answered again (a counter would change on unrelated updates), and makes
 *   versions agree across restarts and replicas (a restarted counter would
 *   reuse old versions for new content, Contour #5482).
 *
 * Concurrency: meant for one event loop. Methods are synchronous; respond
 * callbacks run inside `createWatch`/`createDeltaWatch` (when the cache can
 * answer at once) and inside the update methods, never inside `cancel`. A
 * callback may call back into the cache (open a watch, cancel one, even
 * update resources): the cache's state is complete before any callback runs,
 * and a watch answered or cancelled meanwhile is skipped.
 */
export class LinearCache implements Cache {
  /** The one type URL this cache serves. */
  readonly typeUrl: string;
  readonly #fullState: boolean;
  readonly #versionPrefix: string;
  readonly #types: ResourceTypeRegistry;
  readonly #onError: (error: unknown) => void;
  readonly #resources = new Map<string, Resource>();
  readonly #sotw = new WatchIndex<SotwEntry>();
  readonly #delta = new WatchIndex<DeltaEntry>();
  #counter = 0;
  #lastNode: Node | undefined;
  #lastRequestTime = 0;

  /**
   * A cache for `typeUrl`. Throws an XdsError `unknown_type` when the registry
   * does not know the type, `invalid_config` when an initial resource is of
   * another type or two share a name.
   */
  constructor(typeUrl: string, options: LinearCacheOptions = {}) {
    this.typeUrl = typeUrl;
    this.#types = options.types ?? defaultResourceTypes;
    this.#types.require(typeUrl);
    this.#fullState = FullStateTypes.has(typeUrl);
    this.#versionPrefix = options.versionPrefix ?? "";
    this.#onError = options.onError ?? (() => {});
    if (options.initialResources) {
      for (const resource of this.#prepare(options.initialResources).values()) {
        this.#resources.set(resource.name, resource);
      }
    }
  }

  /** Batches that changed something (the version counter): what `xds_server_snapshots_total` reports. */
  snapshotCount(): number {
    return this.#counter;
  }

  /** `versionPrefix` + the number of batches that changed something. */
  version(): string {
    return `${this.#versionPrefix}${this.#counter}`;
  }

  /** A copy of the resources the cache holds, by name. */
  getResources(): ReadonlyMap<string, Resource> {
    return new Map(this.#resources);
  }

  /** Open SotW watches. */
  numWatches(): number {
    return this.#sotw.size;
  }

  /** Open delta watches. */
  numDeltaWatches(): number {
    return this.#delta.size;
  }

  /**
   * Index entries held for open watches (names plus broad watches); 0 once
   * every watch is answered or cancelled. A diagnostic for leak checks.
   */
  indexSize(): number {
    return this.#sotw.indexed + this.#delta.indexed;
  }

  /**
   * Sets one resource, named `name`: a {@link Resource} (whose name must be
   * `name`) or a bare message (wrapped under `name`). One batch: see
   * {@link updateResources}.
   */
  updateResource(name: string, resource: ResourceInput): void {
    this.updateResources([this.#wrap(resource, name)], []);
  }

  /** Deletes one resource; nothing happens when it does not exist. One batch: see {@link updateResources}. */
  deleteResource(name: string): void {
    this.updateResources([], [name]);
  }

  /**
   * Sets `updates` and deletes `deletes` as one batch: all or nothing (inputs
   * are validated and encoded before anything changes), one version bump, one
   * notification pass over the watches of the touched names. A resource equal
   * (same encoding and TTL) to the one held and a delete of a missing name
   * change nothing; a batch of only those neither bumps the version nor
   * notifies. Throws an XdsError `invalid_config` for a resource of another
   * type, a name given twice in `updates`, or a name both updated and deleted.
   */
  updateResources(updates: Iterable<ResourceInput>, deletes: Iterable<string>): void {
    const prepared = this.#prepare(updates);
    const deleted = new Set(deletes);
    for (const name of deleted) {
      if (prepared.has(name)) {
        throw new XdsError("invalid_config", `${JSON.stringify(name)} is both updated and deleted in one batch`, {
          typeUrl: this.typeUrl,
          names: [name],
        });
      }
    }
    this.#apply(prepared, deleted);
  }

  /**
   * Replaces every resource with `resources`: what is missing is deleted. One
   * batch: see {@link updateResources}.
   */
  setResources(resources: Iterable<ResourceInput>): void {
    const prepared = this.#prepare(resources);
    const deleted = new Set<string>();
    for (const name of this.#resources.keys()) if (!prepared.has(name)) deleted.add(name);
    this.#apply(prepared, deleted);
  }

  /**
   * Opens a SotW watch. Answers at once (calling `respond` before returning)
   * when `answerSotw` has something for the client; otherwise the watch waits
   * for an update of a name it covers. Throws an XdsError `unknown_type` for
   * another type URL.
   */
  createWatch(request: SotwRequest, state: SubscriptionState, respond: Respond<SotwResponse>): Watch {
    this.#check(request.typeUrl);
    this.#seen(request.node);
    const response = answerSotw(request, state, this.#resources, this.#fullState);
    if (response) {
      this.#deliver(respond, response);
      return answered;
    }
    const entry: SotwEntry = { ...indexing(state, []), state, request, respond, open: true };
    this.#sotw.add(entry);
    return { cancel: () => this.#sotw.remove(entry) };
  }

  /**
   * Opens a delta watch, answered as {@link createWatch} is with `answerDelta`
   * and `systemVersion` = {@link version}. Names the client holds
   * (`state.versions`) are watched too, so that their deletion is sent. Throws
   * an XdsError `unknown_type` for another type URL.
   */
  createDeltaWatch(request: DeltaRequest, state: DeltaSubscriptionState, respond: Respond<DeltaResponse>): Watch {
    this.#check(request.typeUrl);
    this.#seen(request.node);
    const response = answerDelta(request, state, this.#resources, this.version());
    if (response) {
      this.#deliver(respond, response);
      return answered;
    }
    const entry: DeltaEntry = { ...indexing(state, state.versions.keys()), state, request, respond, open: true };
    this.#delta.add(entry);
    return { cancel: () => this.#delta.remove(entry) };
  }

  /**
   * Answers a REST request with every resource it names (all of them when it
   * names none), even when that is none. Throws an XdsError
   * `version_up_to_date` (details: typeUrl, version) when `request.versionInfo`
   * is already the content version of that set, `unknown_type` for another
   * type URL.
   */
  fetch(request: SotwRequest): SotwResponse {
    this.#check(request.typeUrl);
    // Full state: a REST client holds nothing between calls but its version.
    const response = answerSotw(request, fetchState(request), this.#resources, true);
    if (!response) {
      throw new XdsError("version_up_to_date", `${this.typeUrl} is at version ${request.versionInfo} already`, {
        typeUrl: this.typeUrl,
        version: request.versionInfo,
      });
    }
    return response;
  }

  /**
   * One entry for the whole cache (every node sees the same resources): node
   * key `""`, the node of the last watch opened, open SotW plus delta watches,
   * and {@link version} for the type.
   */
  status(): NodeStatus[] {
    return [
      {
        nodeKey: "",
        node: this.#lastNode,
        watches: this.#sotw.size + this.#delta.size,
        lastRequestTime: this.#lastRequestTime,
        versions: new Map([[this.typeUrl, this.version()]]),
      },
    ];
  }

  #check(typeUrl: string): void {
    if (typeUrl !== this.typeUrl) {
      throw new XdsError("unknown_type", `this LinearCache serves ${this.typeUrl}, not ${typeUrl}`, { typeUrl });
    }
  }

  #seen(node: Node | undefined): void {
    if (node) this.#lastNode = node;
    this.#lastRequestTime = Date.now();
  }

  #wrap(input: ResourceInput, name?: string): Resource {
    let resource: Resource;
    if (input instanceof Resource) {
      resource = input;
    } else {
      resource = Resource.from(this.typeUrl, input, {
        ...(name === undefined ? {} : { name }),
        types: this.#types,
      });
    }
    if (resource.typeUrl !== this.typeUrl) {
      throw new XdsError(
        "invalid_config",
        `resource ${resource.name} of ${resource.typeUrl} given to ${this.typeUrl}`,
        {
          typeUrl: this.typeUrl,
          names: [resource.name],
        },
      );
    }
    if (name !== undefined && resource.name !== name) {
      throw new XdsError("invalid_config", `resource ${resource.name} given as ${JSON.stringify(name)}`, {
        typeUrl: this.typeUrl,
        names: [name, resource.name],
      });
    }
    return resource;
  }

  /** Wraps and checks every input, and encodes each once, before anything changes. */
  #prepare(inputs: Iterable<ResourceInput>): Map<string, Resource> {
    const prepared = new Map<string, Resource>();
    for (const input of inputs) {
      const resource = this.#wrap(input);
      if (prepared.has(resource.name)) {
        throw new XdsError(
          "invalid_config",
          `two ${this.typeUrl} resources are named ${JSON.stringify(resource.name)}`,
          {
            typeUrl: this.typeUrl,
            names: [resource.name],
          },
        );
      }
      void resource.version; // serialization errors surface here, not halfway through a batch
      prepared.set(resource.name, resource);
    }
    return prepared;
  }

  #apply(updates: ReadonlyMap<string, Resource>, deletes: ReadonlySet<string>): void {
    const touched = new Set<string>();
    for (const [name, resource] of updates) {
      const held = this.#resources.get(name);
      if (held && held.version === resource.version && held.ttlMs === resource.ttlMs) continue;
      this.#resources.set(name, resource);
      touched.add(name);
    }
    for (const name of deletes) {
      if (this.#resources.delete(name)) touched.add(name);
    }
    if (touched.size === 0) return;
    this.#counter++;
    this.#notify(touched);
  }

  #notify(touched: ReadonlySet<string>): void {
    // Candidates are collected before any callback runs; one answered or
    // cancelled by a callback meanwhile is skipped.
    for (const entry of this.#sotw.candidates(touched)) {
      if (!entry.open) continue;
      const response = answerSotw(entry.request, entry.state, this.#resources, this.#fullState);
      if (!response) continue;
      this.#sotw.remove(entry);
      this.#deliver(entry.respond, response);
    }
    for (const entry of this.#delta.candidates(touched)) {
      if (!entry.open) continue;
      const response = answerDelta(entry.request, entry.state, this.#resources, this.version());
      if (!response) continue;
      this.#delta.remove(entry);
      this.#deliver(entry.respond, response);
    }
  }

  #deliver<R>(respond: Respond<R>, response: R): void {
    try {
      respond(response);
    } catch (error) {
      try {
        this.#onError(error);
      } catch {
        // An error handler that throws must not stop the other watches either.
      }
    }
  }
}

/**
 * Where a watch goes in a {@link WatchIndex}: a wildcard watch only in the
 * broad set; otherwise its exact names (and `held`, the names the client
 * holds) by name, and in the broad set too when it has a glob.
 */
function indexing(
  state: { readonly wildcard: boolean; readonly subscribed: ReadonlySet<string> },
  held: Iterable<string>,
): { names: string[]; broad: boolean } {
  if (state.wildcard) return { names: [], broad: true };
  const names = new Set<string>(held);
  let broad = false;
  for (const name of state.subscribed) {
    if (isGlob(name)) broad = true;
    else names.add(name);
  }
  return { names: [...names], broad };
}
