/**
 * Control-plane replicas sharing snapshots through etcd: a {@link WriterElection}
 * picks one writer, its {@link SnapshotPublisher} commits each update in one
 * transaction, and every replica's {@link SnapshotReplica} applies it to its
 * cache. {@link EtcdSnapshotStore} puts the three together.
 * @packageDocumentation
 */
export { cancelWatcher, connectEtcd, type EtcdConnectOptions, type EtcdTls } from "./etcd-client.js";
export {
  EtcdSnapshotStore,
  type EtcdSnapshotStoreOptions,
  type StoreReadiness,
  type StoreStatus,
} from "./etcd-snapshot-store.js";
export {
  type PublishedState,
  type PublisherStatus,
  SnapshotPublisher,
  type SnapshotPublisherOptions,
} from "./snapshot-publisher.js";
export {
  type ReplicaStatus,
  SnapshotReplica,
  type SnapshotReplicaOptions,
  type SnapshotTarget,
} from "./snapshot-replica.js";
export type { JsonValue, Manifest, ManifestEntry, StateDocument } from "./store-documents.js";
export { type StoreKey, StoreLayout } from "./store-layout.js";
export type { StoreLog } from "./store-log.js";
export { defaultPrefix, parseStoreUrl, type StoreLocation } from "./store-url.js";
export { type Leadership, WriterElection, type WriterElectionOptions } from "./writer-election.js";
