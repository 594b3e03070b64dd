/**
 * The prefix every xDS type URL carries. Envoy and gRPC accept only this one.
 */
export const typeUrlPrefix = "type.googleapis.com/";

/**
 * The type URL of every discovery resource, keyed by the message name.
 * Each value is `type.googleapis.com/` followed by the message's full name,
 * which the tests check against the generated descriptors.
 */
export const ResourceTypeUrl = {
  Cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  ClusterLoadAssignment: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  LbEndpoint: "type.googleapis.com/envoy.config.endpoint.v3.LbEndpoint",
  Listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  RouteConfiguration: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  ScopedRouteConfiguration: "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration",
  VirtualHost: "type.googleapis.com/envoy.config.route.v3.VirtualHost",
  Secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
  Runtime: "type.googleapis.com/envoy.service.runtime.v3.Runtime",
  TypedExtensionConfig: "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
  Resource: "type.googleapis.com/envoy.service.discovery.v3.Resource",
} as const;

/** One of the type URLs in {@link ResourceTypeUrl}. */
export type ResourceTypeUrl = (typeof ResourceTypeUrl)[keyof typeof ResourceTypeUrl];

/** The type URL of a message given its full name, e.g. `envoy.config.cluster.v3.Cluster`. */
export function typeUrlOf(typeName: string): string {
  return typeUrlPrefix + typeName;
}

/** The full message name in a type URL: everything after the last `/`. */
export function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}
