import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";

/**
 * Maps a node to the key its snapshot is stored under (go-control-plane's
 * `NodeHash`). Nodes with the same key share a snapshot.
 */
export interface NodeHash {
  /** The key of a node's snapshot; must be a pure function of the node (called on every watch). */
  key(node: Node | undefined): string;
}

/** Keys nodes by `node.id` (the default). */
export const IdHash: NodeHash = { key: (node) => node?.id ?? "" };

/** Keys nodes by `node.cluster`, so that every node of a service cluster shares a snapshot. */
export const ClusterHash: NodeHash = { key: (node) => node?.cluster ?? "" };

/** A {@link NodeHash} from any function of the node. */
export function nodeHash(fn: (node: Node | undefined) => string): NodeHash {
  return { key: fn };
}
