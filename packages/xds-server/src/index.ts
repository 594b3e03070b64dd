export type { AdminTlsOptions } from "./admin-access.js";
export type { AdminServer, AdminServerOptions, Readiness } from "./admin-server.js";
export { startAdminServer } from "./admin-server.js";
export type {
  AuthorizationRequest,
  AuthorizerOptions,
  NodeAuthorizer,
  SecretAuthorizer,
} from "./authorization.js";
export { restGatewayService } from "./authorization.js";
export type { ServerCallbacks, StreamInfo } from "./callbacks.js";
export type { DeltaStreamHooks, DeltaStreamOptions } from "./delta-stream.js";
export { DeltaStream } from "./delta-stream.js";
export { anyOf, wrapped, wrappedAny } from "./discovery-response.js";
export { perTypeServices } from "./discovery-services.js";
export { HealthStatus, ServingStatus } from "./health-service.js";
export type { Logger } from "./logger.js";
export { silentLogger } from "./logger.js";
export type { LrsOptions } from "./lrs-service.js";
export { ServerMetrics } from "./metrics.js";
export type { Peer } from "./peer.js";
export { anonymousPeer, peerKey } from "./peer.js";
export type { NodeRequestHandler, RestGatewayOptions } from "./rest-gateway.js";
export { restDiscoveryPaths, restGateway } from "./rest-gateway.js";
export type { SotwStreamHooks, SotwStreamOptions, TypeStatus } from "./sotw-stream.js";
export { SotwStream } from "./sotw-stream.js";
export type { SpiffeGrant } from "./spiffe-authorizer.js";
export { spiffeNodeAuthorizer } from "./spiffe-authorizer.js";
export type { StreamView } from "./stream-registry.js";
export type { ServerParts, ServiceRegistration, TlsOptions, XdsServerHandle } from "./xds-server.js";
export { XdsServer, XdsServerBuilder } from "./xds-server.js";
