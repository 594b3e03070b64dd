export type {
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
export type { LinearCacheOptions } from "./linear-cache.js";
export { LinearCache } from "./linear-cache.js";
export type { MuxCacheOptions } from "./mux-cache.js";
export { MuxCache } from "./mux-cache.js";
export type { ShardedCacheOptions } from "./sharded-cache.js";
export { ShardedCache } from "./sharded-cache.js";
export type { ConsistencyProblem, ResourceInput, SnapshotOptions } from "./snapshot.js";
export { Snapshot } from "./snapshot.js";
export type { SnapshotCacheOptions } from "./snapshot-cache.js";
export { SnapshotCache } from "./snapshot-cache.js";
export { answerDelta, answerSotw, covers, immutableNameSet, selectResources, Wildcard } from "./subscription.js";
