/**
 * Why an xDS operation failed. Each code says which facts an {@link XdsError}
 * with it carries in `details`.
 */
export const XdsErrorCode = {
  /** A named resource is not in the snapshot. details: typeUrl, names. */
  ResourceNotFound: "resource_not_found",
  /** The client already has this version (REST 304). details: typeUrl, version. */
  VersionUpToDate: "version_up_to_date",
  /** No snapshot is set for the node. details: nodeId, nodeKey. */
  NodeNotFound: "node_not_found",
  /** The node opened more watches than allowed. details: nodeKey, limit. */
  WatchLimitExceeded: "watch_limit_exceeded",
  /** The stream or watch is closed. details: typeUrl. */
  ChannelClosed: "channel_closed",
  /** A resource could not be encoded. details: typeUrl, name. */
  Serialization: "serialization",
  /** Bytes could not be decoded. details: typeUrl. */
  Deserialization: "deserialization",
  /** A configuration value is invalid. details: field, reason. */
  InvalidConfig: "invalid_config",
  /** A request breaks the protocol. details: field, reason. */
  InvalidRequest: "invalid_request",
  /** A type URL no registered resource type has. details: typeUrl. */
  UnknownType: "unknown_type",
  /** A request was refused because the caller may not make it. details: nodeId. */
  PermissionDenied: "permission_denied",
  /** A limit was reached. details: limit, reason. */
  ResourceExhausted: "resource_exhausted",
  /** A bug: anything else. */
  Internal: "internal",
} as const;

/** One of {@link XdsErrorCode}'s values. */
export type XdsErrorCode = (typeof XdsErrorCode)[keyof typeof XdsErrorCode];

/** gRPC status codes (the numbers every gRPC implementation uses). */
export const GrpcStatus = {
  Ok: 0,
  Cancelled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;

/** One of {@link GrpcStatus}'s values. */
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const statusByCode: Record<XdsErrorCode, GrpcStatus> = {
  resource_not_found: GrpcStatus.NotFound,
  version_up_to_date: GrpcStatus.FailedPrecondition,
  node_not_found: GrpcStatus.NotFound,
  watch_limit_exceeded: GrpcStatus.ResourceExhausted,
  channel_closed: GrpcStatus.Unavailable,
  serialization: GrpcStatus.Internal,
  deserialization: GrpcStatus.InvalidArgument,
  invalid_config: GrpcStatus.InvalidArgument,
  invalid_request: GrpcStatus.InvalidArgument,
  unknown_type: GrpcStatus.InvalidArgument,
  permission_denied: GrpcStatus.PermissionDenied,
  resource_exhausted: GrpcStatus.ResourceExhausted,
  internal: GrpcStatus.Internal,
};

/** The gRPC status a server answers with for an error of this code. */
export function grpcStatusOf(code: XdsErrorCode): GrpcStatus {
  return statusByCode[code];
}
