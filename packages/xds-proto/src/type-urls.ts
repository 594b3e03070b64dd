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
  /** CDS: `envoy.config.cluster.v3.Cluster`. */
  Cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  /** EDS: `envoy.config.endpoint.v3.ClusterLoadAssignment`. */
  ClusterLoadAssignment: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  /** LEDS: `envoy.config.endpoint.v3.LbEndpoint`. */
  LbEndpoint: "type.googleapis.com/envoy.config.endpoint.v3.LbEndpoint",
  /** LDS: `envoy.config.listener.v3.Listener`. */
  Listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  /** RDS: `envoy.config.route.v3.RouteConfiguration`. */
  RouteConfiguration: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  /** SRDS: `envoy.config.route.v3.ScopedRouteConfiguration`. */
  ScopedRouteConfiguration: "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration",
  /** VHDS: `envoy.config.route.v3.VirtualHost`. */
  VirtualHost: "type.googleapis.com/envoy.config.route.v3.VirtualHost",
  /** SDS: `envoy.extensions.transport_sockets.tls.v3.Secret`. */
  Secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
  /** RTDS: `envoy.service.runtime.v3.Runtime`. */
  Runtime: "type.googleapis.com/envoy.service.runtime.v3.Runtime",
  /** ECDS: `envoy.config.core.v3.TypedExtensionConfig`. */
  TypedExtensionConfig: "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
  /** The `envoy.service.discovery.v3.Resource` wrapper (TTL, heartbeats, delta). */
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
