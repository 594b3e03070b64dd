import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";

/**
 * Which node group a downstream node belongs to. Nodes of one group share one
 * upstream stream and one snapshot, so every node of a group must be meant to
 * get the same configuration.
 */
export type NodeGroupOf = (node: Node | undefined) => string;

/** Groups nodes by `node.cluster` (Envoy's --service-cluster); nodes without one share the group `default`. */
export const groupByCluster: NodeGroupOf = (node) => node?.cluster || "default";

/** Puts every node in its own group: one upstream stream per node id (no fan-out; for comparison). */
export const groupById: NodeGroupOf = (node) => node?.id || "default";
