import { IdHash, type NodeHash, XdsError } from "@nebucloud/xds-core";
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
import { SnapshotCache, type SnapshotCacheOptions } from "./snapshot-cache.js";

/** Options of {@link ShardedCache}: a {@link SnapshotCache}'s, plus the shard count. */
export interface ShardedCacheOptions extends SnapshotCacheOptions {
  /** How many shards node keys hash into. Default 16. */
  readonly shards?: number;
}

/** FNV-1a: cheap, stable across processes, good enough to spread node keys. */
function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * A {@link SnapshotCache} split into shards by node key. Node.js has no locks
 * to contend, so the shards bound the work an update causes instead: each
 * shard has its own watch index, an update touches only its shard, and
 * {@link setSnapshots} spreads a fleet-wide update over event-loop turns, one
 * shard per turn, so that other streams keep being served in between.
 */
export class ShardedCache implements Cache {
  readonly #shards: SnapshotCache[];
  readonly #nodeHash: NodeHash;

  constructor(options: ShardedCacheOptions = {}) {
    const count = options.shards ?? 16;
    if (!Number.isInteger(count) || count < 1) {
      // Else every node key would hash to a missing shard (x % 0 is NaN).
      throw new XdsError("invalid_config", `shards must be a positive integer, not ${count}`, {
        field: "shards",
        reason: "expected an integer >= 1",
      });
    }
    this.#nodeHash = options.nodeHash ?? IdHash;
    this.#shards = Array.from({ length: count }, () => new SnapshotCache(options));
  }

  /** How many shards there are. */
  get shardCount(): number {
    return this.#shards.length;
  }

  /** The node key a node's snapshot is stored under. */
  nodeKey(node: Node | undefined): string {
    return this.#nodeHash.key(node);
  }

  /** The shard index of a node key. */
  shardOf(nodeKey: string): number {
    return hashKey(nodeKey) % this.#shards.length;
  }

  #shard(nodeKey: string): SnapshotCache {
    return this.#shards[this.shardOf(nodeKey)] as SnapshotCache;
  }

  /** Sets one node key's snapshot; only its shard's watches are visited. */
  setSnapshot(nodeKey: string, snapshot: Snapshot): void {
    this.#shard(nodeKey).setSnapshot(nodeKey, snapshot);
  }

  /**
   * Sets the same snapshot for many node keys, one shard per event-loop turn.
   * Resolves once every shard has it.
   */
  async setSnapshots(nodeKeys: Iterable<string>, snapshot: Snapshot): Promise<void> {
    const byShard = new Map<number, string[]>();
    for (const key of nodeKeys) {
      const index = this.shardOf(key);
      let keys = byShard.get(index);
      if (!keys) {
        keys = [];
        byShard.set(index, keys);
      }
      keys.push(key);
    }
    for (const [index, keys] of byShard) {
      const shard = this.#shards[index] as SnapshotCache;
      for (const key of keys) shard.setSnapshot(key, snapshot);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** The snapshot stored for a node key, if any (asks only its shard). */
  getSnapshot(nodeKey: string): Snapshot | undefined {
    return this.#shard(nodeKey).getSnapshot(nodeKey);
  }

  /** Forgets a node key's snapshot; its open watches stay open, unanswered. */
  clearSnapshot(nodeKey: string): void {
    this.#shard(nodeKey).clearSnapshot(nodeKey);
  }

  /** How many snapshots were set across every shard. */
  snapshotCount(): number {
    return this.#shards.reduce((total, shard) => total + shard.snapshotCount(), 0);
  }

  /** Open watches, for one node key or in all shards. */
  numWatches(nodeKey?: string): number {
    if (nodeKey !== undefined) return this.#shard(nodeKey).numWatches(nodeKey);
    return this.#shards.reduce((total, shard) => total + shard.numWatches(), 0);
  }

  createWatch(request: SotwRequest, state: SubscriptionState, respond: Respond<SotwResponse>): Watch {
    return this.#shard(this.#nodeHash.key(request.node)).createWatch(request, state, respond);
  }

  createDeltaWatch(request: DeltaRequest, state: DeltaSubscriptionState, respond: Respond<DeltaResponse>): Watch {
    return this.#shard(this.#nodeHash.key(request.node)).createDeltaWatch(request, state, respond);
  }

  fetch(request: SotwRequest): SotwResponse {
    return this.#shard(this.#nodeHash.key(request.node)).fetch(request);
  }

  status(): NodeStatus[] {
    return this.#shards.flatMap((shard) => shard.status());
  }

  /** Stops every shard's timers. */
  close(): void {
    for (const shard of this.#shards) shard.close();
  }
}
