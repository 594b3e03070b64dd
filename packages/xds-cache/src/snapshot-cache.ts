import { FullStateTypes, IdHash, type NodeHash, type Resource, XdsError } from "@nebucloud/xds-core";
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
import type { Snapshot } from "./snapshot.js";
import { answerDelta, answerSotw, fetchState, selectResources } from "./subscription.js";

/** Options of {@link SnapshotCache}. */
export interface SnapshotCacheOptions {
  /**
   * go-control-plane's ADS mode: a named SotW request is answered only once it
   * names every resource of its type in the snapshot, so that an Envoy which
   * subscribes to everything gets a consistent set. The held watch stays open
   * and is answered when a later request or snapshot completes it. Default
   * false: proxyless gRPC clients subscribe to subsets and must never be held.
   */
  readonly ads?: boolean;
  /** Which snapshot a node reads. Default {@link IdHash} (node.id). */
  readonly nodeHash?: NodeHash;
  /**
   * Open watches per node (`node.id`), counted apart for every node even where
   * many share a node key, so one client cannot lock a whole node group out;
   * past it createWatch throws `watch_limit_exceeded`. Default 1000.
   */
  readonly maxWatchesPerNode?: number;
  /** Clear the snapshot of a node key that has had no watch for this long. Default: never. */
  readonly snapshotTtlMs?: number;
  /** How often resources with a TTL are heartbeated. Default 10 s. */
  readonly heartbeatIntervalMs?: number;
  /**
   * Watches answered per event-loop turn when a snapshot change reaches many
   * watches; the rest follow on later turns so that no update blocks other
   * streams for long. Default 256.
   */
  readonly fanOutBatch?: number;
  /** Receives errors a respond callback threw (they never stop other watches). */
  readonly onError?: (error: unknown) => void;
}

interface SotwEntry {
  readonly kind: "sotw";
  readonly request: SotwRequest;
  readonly state: SubscriptionState;
  readonly respond: Respond<SotwResponse>;
  open: boolean;
}

interface DeltaEntry {
  readonly kind: "delta";
  readonly request: DeltaRequest;
  readonly state: DeltaSubscriptionState;
  readonly respond: Respond<DeltaResponse>;
  open: boolean;
}

type Entry = SotwEntry | DeltaEntry;

interface NodeEntry {
  readonly key: string;
  node: Node | undefined;
  snapshot: Snapshot | undefined;
  /** Open watches by type URL. */
  readonly watches: Map<string, Set<Entry>>;
  count: number;
  /** Open watches by node id: what the watch limit counts. */
  readonly perNode: Map<string, number>;
  lastRequestTime: number;
  /** Last time a watch opened or closed: what snapshot expiry measures. */
  lastActive: number;
}

const closed: Watch = { cancel() {} };

/**
 * Snapshots by node key, answering SotW and delta watches from them
 * (go-control-plane's `SnapshotCache`). Setting a snapshot answers only the open
 * watches of that node key whose type changed, never a scan of every watch.
 * Snapshots are shared, not copied, among node keys. Single-threaded like all
 * of Node.js: call from any callback, but respond callbacks must not call back
 * into the same watch.
 */
export class SnapshotCache implements Cache {
  readonly #ads: boolean;
  readonly #nodeHash: NodeHash;
  readonly #maxWatches: number;
  readonly #fanOutBatch: number;
  readonly #onError: (error: unknown) => void;
  readonly #snapshotTtlMs: number | undefined;
  readonly #nodes = new Map<string, NodeEntry>();
  /** Node keys whose snapshot holds a resource with a TTL: the only ones heartbeats visit. */
  readonly #ttlNodes = new Set<string>();
  readonly #timers: NodeJS.Timeout[] = [];
  #snapshotsSet = 0;
  /**
   * Snapshots by content, held weakly: node keys given equal snapshots (a
   * source that builds one per node from fresh messages) share one, so a
   * thousand identical snapshots cost what one does.
   */
  readonly #byContent = new Map<string, WeakRef<Snapshot>>();
  readonly #forget = new FinalizationRegistry<string>((key) => {
    if (this.#byContent.get(key)?.deref() === undefined) this.#byContent.delete(key);
  });

  constructor(options: SnapshotCacheOptions = {}) {
    this.#ads = options.ads ?? false;
    this.#nodeHash = options.nodeHash ?? IdHash;
    this.#maxWatches = options.maxWatchesPerNode ?? 1000;
    this.#fanOutBatch = options.fanOutBatch ?? 256;
    const onError = options.onError ?? (() => {});
    this.#onError = (error) => {
      try {
        onError(error);
      } catch {
        // A handler that throws must not stop the other watches either.
      }
    };
    this.#snapshotTtlMs = options.snapshotTtlMs;
    const heartbeat = setInterval(() => this.#heartbeat(), options.heartbeatIntervalMs ?? 10_000);
    heartbeat.unref();
    this.#timers.push(heartbeat);
    if (this.#snapshotTtlMs !== undefined) {
      const sweep = setInterval(() => this.#expire(), Math.max(1000, Math.floor(this.#snapshotTtlMs / 2)));
      sweep.unref();
      this.#timers.push(sweep);
    }
  }

  /** The node key a node's snapshot is stored under. */
  nodeKey(node: Node | undefined): string {
    return this.#nodeHash.key(node);
  }

  /**
   * Stores `snapshot` for a node key and answers the open watches of that key
   * whose type's version changed. The snapshot is kept by reference; when an
   * equal one (same resources, versions and TTLs) is stored already, that one
   * is kept instead, so {@link getSnapshot} may return an equal, earlier
   * instance. Computes the snapshot's versions (each resource is encoded and
   * hashed once).
   */
  setSnapshot(nodeKey: string, given: Snapshot): void {
    this.#snapshotsSet++;
    const { snapshot, hasTtl } = this.#intern(given);
    const entry = this.#entry(nodeKey);
    const previous = entry.snapshot;
    entry.snapshot = snapshot;
    if (hasTtl) {
      this.#ttlNodes.add(nodeKey);
    } else {
      this.#ttlNodes.delete(nodeKey);
    }
    const affected: Entry[] = [];
    for (const [typeUrl, watches] of entry.watches) {
      if (previous && previous.version(typeUrl) === snapshot.version(typeUrl)) continue;
      for (const watch of watches) affected.push(watch);
    }
    this.#answerInBatches(entry, affected);
  }

  /** The stored snapshot equal to `snapshot` (or `snapshot`, now stored), and whether any resource has a TTL. */
  #intern(snapshot: Snapshot): { snapshot: Snapshot; hasTtl: boolean } {
    const { key, hasTtl } = describeContent(snapshot);
    const existing = this.#byContent.get(key)?.deref();
    if (existing) return { snapshot: existing, hasTtl };
    this.#byContent.set(key, new WeakRef(snapshot));
    this.#forget.register(snapshot, key);
    return { snapshot, hasTtl };
  }

  /** The snapshot stored for a node key, if any. */
  getSnapshot(nodeKey: string): Snapshot | undefined {
    return this.#nodes.get(nodeKey)?.snapshot;
  }

  /** Forgets a node key's snapshot; its open watches stay open, unanswered. */
  clearSnapshot(nodeKey: string): void {
    const entry = this.#nodes.get(nodeKey);
    if (!entry) return;
    entry.snapshot = undefined;
    this.#ttlNodes.delete(nodeKey);
    if (entry.count === 0) this.#nodes.delete(nodeKey);
  }

  /** Node keys that have a snapshot. */
  nodeKeys(): string[] {
    return [...this.#nodes.values()].filter((n) => n.snapshot).map((n) => n.key);
  }

  /** How many times {@link setSnapshot} was called: what `xds_server_snapshots_total` reports. */
  snapshotCount(): number {
    return this.#snapshotsSet;
  }

  /** Open watches, for one node key or in all. */
  numWatches(nodeKey?: string): number {
    if (nodeKey !== undefined) return this.#nodes.get(nodeKey)?.count ?? 0;
    let total = 0;
    for (const entry of this.#nodes.values()) total += entry.count;
    return total;
  }

  createWatch(request: SotwRequest, state: SubscriptionState, respond: Respond<SotwResponse>): Watch {
    const entry = this.#touch(request.node);
    const watch: SotwEntry = { kind: "sotw", request, state, respond, open: true };
    if (this.#tryAnswer(entry, watch)) return closed;
    return this.#open(entry, request.typeUrl, watch);
  }

  createDeltaWatch(request: DeltaRequest, state: DeltaSubscriptionState, respond: Respond<DeltaResponse>): Watch {
    const entry = this.#touch(request.node);
    const watch: DeltaEntry = { kind: "delta", request, state, respond, open: true };
    if (this.#tryAnswer(entry, watch)) return closed;
    return this.#open(entry, request.typeUrl, watch);
  }

  fetch(request: SotwRequest): SotwResponse {
    const nodeKey = this.nodeKey(request.node);
    const snapshot = this.#nodes.get(nodeKey)?.snapshot;
    if (!snapshot) {
      throw new XdsError("node_not_found", `no snapshot for node key ${JSON.stringify(nodeKey)}`, {
        nodeId: request.node?.id ?? "",
        nodeKey,
      });
    }
    const response = answerSotw(request, fetchState(request), snapshot.resources(request.typeUrl), true);
    if (!response) {
      throw new XdsError("version_up_to_date", `the client already has version ${request.versionInfo}`, {
        typeUrl: request.typeUrl,
        version: request.versionInfo,
      });
    }
    return response;
  }

  status(): NodeStatus[] {
    return [...this.#nodes.values()].map((entry) => ({
      nodeKey: entry.key,
      node: entry.node,
      watches: entry.count,
      lastRequestTime: entry.lastRequestTime,
      versions: new Map(entry.snapshot?.typeUrls().map((t) => [t, entry.snapshot?.version(t) ?? ""]) ?? []),
    }));
  }

  /** Stops the heartbeat and expiry timers. Watches stay as they are. */
  close(): void {
    for (const timer of this.#timers) clearInterval(timer);
  }

  #entry(nodeKey: string): NodeEntry {
    let entry = this.#nodes.get(nodeKey);
    if (!entry) {
      const now = Date.now();
      entry = {
        key: nodeKey,
        node: undefined,
        snapshot: undefined,
        watches: new Map(),
        count: 0,
        perNode: new Map(),
        lastRequestTime: 0,
        lastActive: now,
      };
      this.#nodes.set(nodeKey, entry);
    }
    return entry;
  }

  #touch(node: Node | undefined): NodeEntry {
    const entry = this.#entry(this.nodeKey(node));
    entry.node = node;
    entry.lastRequestTime = entry.lastActive = Date.now();
    return entry;
  }

  #open(entry: NodeEntry, typeUrl: string, watch: Entry): Watch {
    const nodeId = watch.request.node?.id ?? "";
    const open = entry.perNode.get(nodeId) ?? 0;
    if (open >= this.#maxWatches) {
      throw new XdsError(
        "watch_limit_exceeded",
        `node ${JSON.stringify(nodeId)} has ${open} open watches, the limit (maxWatchesPerNode)`,
        { nodeKey: entry.key, nodeId, limit: this.#maxWatches, typeUrl },
      );
    }
    entry.perNode.set(nodeId, open + 1);
    let set = entry.watches.get(typeUrl);
    if (!set) {
      set = new Set();
      entry.watches.set(typeUrl, set);
    }
    set.add(watch);
    entry.count++;
    return {
      cancel: () => {
        if (!watch.open) return;
        this.#close(entry, typeUrl, watch);
      },
    };
  }

  #close(entry: NodeEntry, typeUrl: string, watch: Entry): void {
    watch.open = false;
    const set = entry.watches.get(typeUrl);
    if (set?.delete(watch)) {
      entry.count--;
      const nodeId = watch.request.node?.id ?? "";
      const open = (entry.perNode.get(nodeId) ?? 1) - 1;
      if (open === 0) entry.perNode.delete(nodeId);
      else entry.perNode.set(nodeId, open);
      if (set.size === 0) entry.watches.delete(typeUrl);
    }
    entry.lastActive = Date.now();
    // A node key with neither a snapshot nor a watch is forgotten, so clients
    // inventing node ids cannot grow the cache without bound.
    if (entry.count === 0 && !entry.snapshot && this.#nodes.get(entry.key) === entry) this.#nodes.delete(entry.key);
  }

  /**
   * Answers `watch` from the node's snapshot if it can; true when answered. A
   * registered watch is closed before its callback runs, so a callback that
   * cancels or reopens watches sees consistent state.
   */
  #tryAnswer(entry: NodeEntry, watch: Entry, registered = false): boolean {
    const snapshot = entry.snapshot;
    if (!snapshot) return false;
    const typeUrl = watch.request.typeUrl;
    const all = snapshot.resources(typeUrl);
    let deliver: () => void;
    try {
      if (watch.kind === "sotw") {
        if (this.#ads && !watch.state.wildcard && !namesEverything(watch.state, all)) return false;
        const response = answerSotw(watch.request, watch.state, all, FullStateTypes.has(typeUrl));
        if (!response) return false;
        deliver = () => watch.respond(response);
      } else {
        const response = answerDelta(watch.request, watch.state, all, snapshot.version(typeUrl));
        if (!response) return false;
        deliver = () => watch.respond(response);
      }
    } catch (error) {
      this.#onError(error);
      return false;
    }
    if (registered) this.#close(entry, typeUrl, watch);
    else watch.open = false;
    try {
      deliver();
    } catch (error) {
      this.#onError(error);
    }
    return true;
  }

  #answerInBatches(entry: NodeEntry, watches: Entry[], start = 0): void {
    const end = Math.min(watches.length, start + this.#fanOutBatch);
    for (let i = start; i < end; i++) {
      const watch = watches[i] as Entry;
      if (watch.open) this.#tryAnswer(entry, watch, true);
    }
    if (end < watches.length) setImmediate(() => this.#answerInBatches(entry, watches, end));
  }

  #heartbeat(): void {
    // Iterate over copies: a callback that reopens its watch (re-adding the type
    // to entry.watches) must not be heartbeated again in the same pass.
    for (const nodeKey of [...this.#ttlNodes]) {
      const entry = this.#nodes.get(nodeKey);
      const snapshot = entry?.snapshot;
      if (!entry || !snapshot) continue;
      for (const [typeUrl, watches] of [...entry.watches]) {
        for (const watch of [...watches]) {
          if (!watch.open) continue;
          const selected = selectResources(watch.state, snapshot.resources(typeUrl));
          // Delta: only what the client holds at this version (anything else goes out whole as a change).
          const live: Resource[] = [...selected.values()].filter(
            (r) => r.ttlMs !== undefined && (watch.kind === "sotw" || watch.state.versions.get(r.name) === r.version),
          );
          if (live.length === 0) continue;
          this.#close(entry, typeUrl, watch);
          try {
            if (watch.kind === "sotw") {
              watch.respond({
                request: watch.request,
                typeUrl,
                version: watch.request.versionInfo,
                resources: live,
                returned: watch.state.returned,
                heartbeat: true,
              });
            } else {
              watch.respond({
                request: watch.request,
                typeUrl,
                systemVersion: snapshot.version(typeUrl),
                resources: live,
                removed: [],
                nextVersions: watch.state.versions,
                heartbeat: true,
              });
            }
          } catch (error) {
            this.#onError(error);
          }
        }
      }
    }
  }

  #expire(): void {
    if (this.#snapshotTtlMs === undefined) return;
    const cutoff = Date.now() - this.#snapshotTtlMs;
    for (const entry of [...this.#nodes.values()]) {
      if (entry.count === 0 && entry.lastActive < cutoff) {
        this.#nodes.delete(entry.key);
        this.#ttlNodes.delete(entry.key);
      }
    }
  }
}

/** ADS hold: does a named subscription cover every resource of the type? */
function namesEverything(state: SubscriptionState, all: ReadonlyMap<string, Resource>): boolean {
  // No shortcut on subscribed.size: one `prefix/*` glob may cover many resources.
  return selectResources(state, all).size === all.size;
}

/**
 * What makes two snapshots serve the same (per type, the content version and
 * the TTLs), and whether any resource has a TTL: one pass over the resources.
 */
function describeContent(snapshot: Snapshot): { key: string; hasTtl: boolean } {
  const parts: string[] = [];
  let hasTtl = false;
  for (const typeUrl of [...snapshot.typeUrls()].sort()) {
    parts.push(typeUrl, snapshot.version(typeUrl));
    const ttls: string[] = [];
    for (const resource of snapshot.resources(typeUrl).values()) {
      if (resource.ttlMs !== undefined) ttls.push(`${resource.name}\0${resource.ttlMs}`);
    }
    if (ttls.length > 0) hasTtl = true;
    parts.push(...ttls.sort());
  }
  return { key: parts.join("\n"), hasTtl };
}
