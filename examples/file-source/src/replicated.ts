import type { Snapshot } from "@nebucloud/xds-cache";
import { SnapshotCache } from "@nebucloud/xds-cache";
import { nodeHash } from "@nebucloud/xds-core";
import { EtcdSnapshotStore, type StoreReadiness, type StoreStatus } from "@nebucloud/xds-etcd";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { type GroupRule, groupOf, rulesFromMeta, rulesMeta } from "./node-groups.js";

/** Options of {@link openReplicated}. */
export interface ReplicatedOptions {
  /** `etcd://host:port/prefix`. */
  readonly url: string;
  /** Campaign to be the writer (false: a replica that never writes). */
  readonly candidate: boolean;
  readonly leaseTtlSeconds: number;
  readonly identity?: string;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/** The file-source's side of an etcd store: the cache it serves, and how it publishes and reports. */
export interface Replicated {
  /** What the xDS server serves: what etcd holds, keyed by the published node groups. */
  readonly cache: SnapshotCache;
  /** The group a node is served as, by the rules the writer published. */
  groupOf(node: Node | undefined): string;
  /** Offers a reload's snapshots and group rules; committed while this process is the writer. */
  publish(snapshots: ReadonlyMap<string, Snapshot>, rules: readonly GroupRule[]): void;
  status(): StoreStatus;
  /** `/readyz`: ready while the replica is in step with etcd. */
  readiness(): StoreReadiness;
  close(): Promise<void>;
}

/**
 * Serves from an etcd store instead of straight from the files: every process
 * (the writer too) serves what it reads back from etcd, so all replicas serve
 * the same versions, and node groups follow the rules the writer published
 * with its snapshots. Throws an XdsError `invalid_config` for a bad URL.
 */
export function openReplicated(options: ReplicatedOptions): Replicated {
  let rules: GroupRule[] = [];
  const cache = new SnapshotCache({ nodeHash: nodeHash((node) => groupOf(rules, node)) });
  const store = EtcdSnapshotStore.open({
    url: options.url,
    target: cache,
    candidate: options.candidate,
    leaseTtlSeconds: options.leaseTtlSeconds,
    ...(options.identity ? { identity: options.identity } : {}),
    log: options.log,
    // A malformed rule list throws here, so that state is not applied at all.
    onMeta: (meta) => {
      rules = rulesFromMeta(meta);
    },
  });
  return {
    cache,
    groupOf: (node) => groupOf(rules, node),
    publish: (snapshots, groupRules) => store.publish({ snapshots, meta: rulesMeta(groupRules) }),
    status: () => store.status(),
    readiness: () => store.readiness(),
    close: async () => {
      await store.close();
      cache.close();
    },
  };
}
