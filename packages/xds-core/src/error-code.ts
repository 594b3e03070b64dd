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
  /** Not an error. */
  Ok: 0,
  /** The caller cancelled the call. */
  Cancelled: 1,
  /** An error with no better code. */
  Unknown: 2,
  /** The request is malformed, whatever the server's state. */
  InvalidArgument: 3,
  /** The deadline passed before the call completed. */
  DeadlineExceeded: 4,
  /** Something the request names does not exist. */
  NotFound: 5,
  /** What the request would create exists already. */
  AlreadyExists: 6,
  /** The caller may not do this. */
  PermissionDenied: 7,
  /** A limit or quota was reached. */
  ResourceExhausted: 8,
  /** The system is not in the state the call needs. */
  FailedPrecondition: 9,
  /** The call was aborted, typically by a conflict. */
  Aborted: 10,
  /** A value is past the valid range. */
  OutOfRange: 11,
  /** The method is not implemented or not enabled. */
  Unimplemented: 12,
  /** An invariant broke: a bug. */
  Internal: 13,
  /** The service cannot answer now; retrying (elsewhere) may succeed. */
  Unavailable: 14,
  /** Unrecoverable data loss or corruption. */
  DataLoss: 15,
  /** The caller has no valid credentials. */
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
