export { canonicalBinary } from "./canonical-encoding.js";
export type { CacheConfigInput, ServerConfigInput } from "./config.js";
export { CacheConfig, parseConfig, ServerConfig } from "./config.js";
export { GrpcStatus, grpcStatusOf, XdsErrorCode } from "./error-code.js";
export type { NodeHash } from "./node-key.js";
export { ClusterHash, IdHash, nodeHash } from "./node-key.js";
export type { ResourceOptions } from "./resource.js";
export { Resource, resourceEncodingCount } from "./resource.js";
export type { References, ResourceType } from "./resource-type.js";
export {
  createResourceTypeRegistry,
  defaultResourceTypes,
  edsServiceName,
  httpConnectionManagers,
  messageRegistry,
  ResourceTypeRegistry,
} from "./resource-type.js";
export { checkSecretMaterial, type SecretMaterialProblem } from "./secret-material.js";
export { AdsSendOrder, FullStateTypes, sendRank, TypeUrl } from "./type-url.js";
export { assertValid, type ValidateOptions, type Violation, validateResource } from "./validate.js";
export { versionOf } from "./version.js";
export type { XdsErrorDetails } from "./xds-error.js";
export { XdsError } from "./xds-error.js";
