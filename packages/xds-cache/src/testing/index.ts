/**
 * Test helpers of `@nebucloud/xds-cache`: builders of small, valid Envoy
 * resources. Import from `@nebucloud/xds-cache/testing`.
 */
export type {
  HostPort,
  MakeClusterOptions,
  MakeEndpointsOptions,
  MakeExtensionConfigOptions,
  MakeHttpListenerOptions,
  MakeRouteOptions,
  MakeSecretOptions,
} from "./builders.js";
export {
  makeApiListener,
  makeCluster,
  makeEndpoints,
  makeExtensionConfig,
  makeHttpListener,
  makeRoute,
  makeRuntime,
  makeScopedRoute,
  makeSecret,
} from "./builders.js";
