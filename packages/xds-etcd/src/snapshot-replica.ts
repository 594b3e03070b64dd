import { Snapshot } from "@nebucloud/xds-cache";
import { defaultResourceTypes, Resource, type ResourceTypeRegistry, XdsError } from "@nebucloud/xds-core";
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from "etcd3";
import { cancelWatcher } from "./etcd-client.js";
import { decodeManifest, decodeState, type JsonValue, type Manifest, type StateDocument } from "./store-documents.js";
import type { StoreLayout } from "./store-layout.js";
import { messageOf, type StoreLog, silentLog, sleep } from "./store-log.js";

/** Where a replica puts what it reads: a SnapshotCache, a ShardedCache, or anything with these two methods. */
export interface SnapshotTarget {
  /** Serves `snapshot` to the nodes of `nodeKey`. */
  setSnapshot(nodeKey: string, snapshot: Snapshot): void;
  /** Stops serving `nodeKey` (it is no longer published). */
  clearSnapshot(nodeKey: string): void;
}

/** What {@link SnapshotReplica.status} reports, for `/readyz` and status pages. */
export interface ReplicaStatus {
  /** Whether the replica has applied a state and its watch on etcd is up: what it serves is current. */
  readonly connected: boolean;
  /** Whether a state has been applied at least once (it is serving something). */
  readonly synced: boolean;
  /** The etcd revision of the state being served ("" before the first). */
  readonly revision: string;
  /** Who published the state being served. */
  readonly writer: string;
  /** When the state being served was published (ISO 8601). */
  readonly publishedAt: string;
  /** When this replica applied it (ISO 8601). */
  readonly appliedAt: string | undefined;
  /** Since when etcd has been unreachable (ISO 8601), while it is. */
  readonly disconnectedSince: string | undefined;
  /** The last problem: etcd unreachable, a state that could not be applied. */
  readonly lastError: string | undefined;
  /** Node keys being served. */
  readonly nodeKeys: number;
  /** Full lists so far: the first sync, and one after each compaction or broken watch. */
  readonly resyncs: number;
}

/** Options of {@link SnapshotReplica}. */
export interface SnapshotReplicaOptions {
  /** The etcd client; the caller owns it. */
  readonly client: Etcd3;
  /** The store's keys. */
  readonly layout: StoreLayout;
  /** Receives the snapshots. */
  readonly target: SnapshotTarget;
  /** Resource types the store may hold. Default: Envoy's. A type this registry lacks makes a state unappliable. */
  readonly types?: ResourceTypeRegistry;
  /** Called with the state's metadata before its snapshots are set (so node keys can follow it). */
  readonly onMeta?: (meta: JsonValue) => void;
  /** Called after each state is applied. */
  readonly onApplied?: (status: ReplicaStatus) => void;
  /** Where the replica reports. Default: nowhere. */
  readonly log?: StoreLog;
}

/** A list of everything under the prefix, or a watch event, in revision order. */
type Change =
  | { readonly kind: "list"; readonly kvs: readonly IKeyValue[]; readonly revision: string }
  | { readonly kind: "events"; readonly response: IWatchResponse };

/** Thrown inside the replica when only a full list can repair its view. */
class NeedsResync extends Error {}

/**
 * Keeps a cache equal to what a store's writer published: lists the prefix
 * once, then watches it from the next revision and applies each committed
 * state whole (every node key at once, never half an update). Resources are
 * decoded once per content and shared among node keys, and a state whose
 * manifest is shared by many node keys builds one Snapshot for all of them.
 *
 * When etcd is unreachable the cache keeps serving the last state applied and
 * {@link status} says so; the watch resumes from the revision it saw when etcd
 * returns, or lists everything again when that revision was compacted. A state
 * that cannot be applied (a resource type this process does not know, a
 * corrupt object) is reported and the previous one keeps serving.
 */
export class SnapshotReplica {
  readonly #options: SnapshotReplicaOptions;
  readonly #types: ResourceTypeRegistry;
  /** Resource bytes seen on the watch and not decoded yet, by hash. */
  readonly #bytes = new Map<string, Uint8Array>();
  readonly #manifests = new Map<string, Manifest>();
  /** Decoded resources by type, name, hash and TTL: shared by every snapshot naming them. */
  #resources = new Map<string, Resource>();
  /** Snapshots by manifest hash. */
  #snapshots = new Map<string, Snapshot>();
  /** Node key -> manifest hash being served. */
  #applied = new Map<string, string>();
  #state: { doc: StateDocument; revision: string } | undefined;
  #watcher: Watcher | undefined;
  #queue: Promise<void> = Promise.resolve();
  #connected = false;
  #appliedAt: string | undefined;
  #disconnectedSince: string | undefined;
  #lastError: string | undefined;
  #resyncs = 0;
  #closed = false;
  #started = false;
  /** Bumped by each resync, so that an older one in flight stops. */
  #generation = 0;
  #syncedWaiters: (() => void)[] = [];

  constructor(options: SnapshotReplicaOptions) {
    this.#options = options;
    this.#types = options.types ?? defaultResourceTypes;
  }

  /** Lists and starts watching; retries with backoff until etcd answers. Returns at once. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#resync();
  }

  /** Resolves once a state has been applied (at once if one has). */
  whenSynced(): Promise<void> {
    if (this.#state) return Promise.resolve();
    return new Promise((resolve) => this.#syncedWaiters.push(resolve));
  }

  /** What the replica serves and whether etcd is reachable. */
  status(): ReplicaStatus {
    return {
      connected: this.#connected && this.#state !== undefined,
      synced: this.#state !== undefined,
      revision: this.#state?.revision ?? "",
      writer: this.#state?.doc.writer ?? "",
      publishedAt: this.#state?.doc.publishedAt ?? "",
      appliedAt: this.#appliedAt,
      disconnectedSince: this.#disconnectedSince,
      lastError: this.#lastError,
      nodeKeys: this.#applied.size,
      resyncs: this.#resyncs,
    };
  }

  /** Stops watching. The target keeps what it was given. */
  async close(): Promise<void> {
    this.#closed = true;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    await cancelWatcher(watcher);
  }

  #log(level: "info" | "warn" | "error", message: string): void {
    (this.#options.log ?? silentLog)(level, message);
  }

  #disconnected(reason: string): void {
    if (this.#connected || this.#disconnectedSince === undefined) {
      this.#disconnectedSince ??= new Date().toISOString();
      this.#log("warn", `etcd unreachable (${reason}); serving the last state applied`);
    }
    this.#connected = false;
    this.#lastError = `etcd unreachable: ${reason}`;
  }

  /** Lists the whole prefix and watches from the next revision; retries until it works or the replica closes. */
  async #resync(): Promise<void> {
    const { client, layout } = this.#options;
    const generation = ++this.#generation;
    const current = () => !this.#closed && generation === this.#generation;
    let backoffMs = 200;
    const stale = this.#watcher;
    this.#watcher = undefined;
    await cancelWatcher(stale);
    while (current()) {
      try {
        const listed = await client.getAll().prefix(layout.root).exec();
        const revision = String(listed.header.revision);
        this.#resyncs++;
        this.#enqueue({ kind: "list", kvs: listed.kvs, revision });
        await this.#queue;
        if (!current()) return;
        // Attached at once (not `create()`, which waits for etcd and cannot be
        // abandoned): it is ours to cancel from now on, and it reconnects and
        // resumes by itself.
        const watcher = client
          .watch()
          .prefix(layout.root)
          .startRevision(String(BigInt(revision) + 1n))
          .watcher();
        this.#watcher = watcher;
        watcher.on("data", (response) => this.#enqueue({ kind: "events", response }));
        watcher.on("disconnected", (error) => this.#disconnected(error.message));
        watcher.on("connected", () => {
          if (!this.#connected) this.#log("info", "etcd reachable again; watch resumed");
          this.#connected = true;
          this.#disconnectedSince = undefined;
          if (this.#lastError?.startsWith("etcd unreachable")) this.#lastError = undefined;
        });
        watcher.on("error", (error) => {
          // etcd cancelled the watch: most often its start revision was compacted.
          this.#log("warn", `watch cancelled (${error.message}); listing everything again`);
          // It is cancelled already: forget it rather than cancel it again.
          if (this.#watcher !== watcher) return;
          this.#watcher = undefined;
          void this.#resync();
        });
        this.#connected = true;
        this.#disconnectedSince = undefined;
        if (this.#lastError?.startsWith("etcd unreachable")) this.#lastError = undefined;
        return;
      } catch (error) {
        this.#disconnected(messageOf(error));
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5000);
      }
    }
  }

  #enqueue(change: Change): void {
    this.#queue = this.#queue
      .then(() => this.#handle(change))
      .catch((error: unknown) => {
        if (error instanceof NeedsResync) {
          this.#log("warn", `${error.message}; listing everything again`);
          void this.#resync();
          return;
        }
        this.#lastError = messageOf(error);
        this.#log(
          "error",
          `state not applied, still serving revision ${this.#state?.revision ?? "(none)"}: ${this.#lastError}`,
        );
      });
  }

  async #handle(change: Change): Promise<void> {
    if (this.#closed) return;
    const { layout } = this.#options;
    if (change.kind === "list") {
      let state: { bytes: Uint8Array; revision: string } | undefined;
      this.#manifests.clear();
      this.#bytes.clear();
      for (const kv of change.kvs) {
        const what = layout.classify(kv.key.toString());
        if (what?.kind === "resource") this.#bytes.set(what.hash, kv.value);
        else if (what?.kind === "manifest") this.#manifests.set(what.hash, decodeManifest(kv.value, kv.key.toString()));
        else if (what?.kind === "state") state = { bytes: kv.value, revision: String(kv.mod_revision) };
      }
      if (state) await this.#apply(decodeState(state.bytes, layout.state), state.revision);
      else this.#log("info", `no state under ${layout.state} yet; waiting for a writer`);
      return;
    }
    for (const event of change.response.events) {
      const key = event.kv.key.toString();
      const what = layout.classify(key);
      if (event.type === "Delete") {
        if (what?.kind === "resource") this.#bytes.delete(what.hash);
        else if (what?.kind === "manifest") this.#manifests.delete(what.hash);
        continue;
      }
      if (what?.kind === "resource") {
        this.#bytes.set(what.hash, event.kv.value);
      } else if (what?.kind === "manifest") {
        this.#manifests.set(what.hash, decodeManifest(event.kv.value, key));
      } else if (what?.kind === "state") {
        await this.#apply(decodeState(event.kv.value, key), String(event.kv.mod_revision));
      }
    }
  }

  /** Reads an object as of `revision`: it may have been collected since. */
  async #fetch(key: string, revision: string): Promise<Uint8Array> {
    let bytes: Buffer | null;
    try {
      bytes = await this.#options.client.get(key).revision(revision).buffer();
    } catch (error) {
      if (/compacted/i.test(messageOf(error))) throw new NeedsResync(`revision ${revision} was compacted`);
      throw error;
    }
    if (!bytes)
      throw new XdsError("deserialization", `${key}: named by the state at revision ${revision} but absent`, { key });
    return bytes;
  }

  async #manifest(hash: string, revision: string): Promise<Manifest> {
    let manifest = this.#manifests.get(hash);
    if (!manifest) {
      const key = this.#options.layout.manifest(hash);
      manifest = decodeManifest(await this.#fetch(key, revision), key);
      this.#manifests.set(hash, manifest);
    }
    return manifest;
  }

  /** Builds every snapshot of `doc`, then sets them all; nothing is set when anything fails. */
  async #apply(doc: StateDocument, revision: string): Promise<void> {
    const { layout, target } = this.#options;
    const resources = new Map<string, Resource>();
    const snapshots = new Map<string, Snapshot>();
    for (const hash of new Set(Object.values(doc.snapshots))) {
      const manifest = await this.#manifest(hash, revision);
      let snapshot = this.#snapshots.get(hash);
      const byType: Record<string, Resource[]> = {};
      for (const [typeUrl, entries] of Object.entries(manifest)) {
        const list: Resource[] = [];
        for (const [name, resourceHash, ttlMs] of entries) {
          const id = `${typeUrl}\0${name}\0${resourceHash}\0${ttlMs ?? ""}`;
          let resource = resources.get(id) ?? this.#resources.get(id);
          if (!resource) {
            const key = layout.resource(resourceHash);
            const bytes = this.#bytes.get(resourceHash) ?? (await this.#fetch(key, revision));
            resource = Resource.fromBytes(typeUrl, name, bytes, {
              types: this.#types,
              ...(ttlMs === null ? {} : { ttlMs }),
            });
            if (resource.version !== resourceHash) {
              throw new XdsError("deserialization", `${key}: its bytes hash to ${resource.version}`, {
                key,
                typeUrl,
                names: [name],
              });
            }
          }
          resources.set(id, resource);
          list.push(resource);
        }
        byType[typeUrl] = list;
      }
      snapshot ??= Snapshot.fromResources(byType, { types: this.#types });
      snapshots.set(hash, snapshot);
    }
    this.#options.onMeta?.(doc.meta);
    const applied = new Map(Object.entries(doc.snapshots));
    for (const [nodeKey, hash] of applied) {
      if (this.#applied.get(nodeKey) !== hash) target.setSnapshot(nodeKey, snapshots.get(hash) as Snapshot);
    }
    for (const nodeKey of this.#applied.keys()) if (!applied.has(nodeKey)) target.clearSnapshot(nodeKey);
    this.#applied = applied;
    this.#resources = resources;
    this.#snapshots = snapshots;
    for (const hash of resources.values()) this.#bytes.delete(hash.version);
    this.#state = { doc, revision };
    this.#appliedAt = new Date().toISOString();
    if (!this.#lastError?.startsWith("etcd unreachable")) this.#lastError = undefined;
    this.#log(
      "info",
      `applied the state of revision ${revision} from ${doc.writer || "(unknown writer)"}: ${applied.size} node key(s)`,
    );
    for (const resolve of this.#syncedWaiters.splice(0)) resolve();
    this.#options.onApplied?.(this.status());
  }
}
