import { ResourceTypeUrl } from "@nebucloud/xds-proto";

/**
 * The type URL of every xDS resource, by the short name operators use.
 * `Endpoint` is EDS's ClusterLoadAssignment; `LbEndpoint` is LEDS.
 */
export const TypeUrl = {
  /** CDS: `envoy.config.cluster.v3.Cluster`. */
  Cluster: ResourceTypeUrl.Cluster,
  /** EDS: `envoy.config.endpoint.v3.ClusterLoadAssignment`, named by cluster (or EDS service name). */
  Endpoint: ResourceTypeUrl.ClusterLoadAssignment,
  /** LEDS: `envoy.config.endpoint.v3.LbEndpoint`. */
  LbEndpoint: ResourceTypeUrl.LbEndpoint,
  /** LDS: `envoy.config.listener.v3.Listener`. */
  Listener: ResourceTypeUrl.Listener,
  /** RDS: `envoy.config.route.v3.RouteConfiguration`. */
  Route: ResourceTypeUrl.RouteConfiguration,
  /** SRDS: `envoy.config.route.v3.ScopedRouteConfiguration`. */
  ScopedRoute: ResourceTypeUrl.ScopedRouteConfiguration,
  /** VHDS: `envoy.config.route.v3.VirtualHost`. */
  VirtualHost: ResourceTypeUrl.VirtualHost,
  /** SDS: `envoy.extensions.transport_sockets.tls.v3.Secret`. */
  Secret: ResourceTypeUrl.Secret,
  /** RTDS: `envoy.service.runtime.v3.Runtime`. */
  Runtime: ResourceTypeUrl.Runtime,
  /** ECDS: `envoy.config.core.v3.TypedExtensionConfig`. */
  ExtensionConfig: ResourceTypeUrl.TypedExtensionConfig,
  /** `envoy.service.discovery.v3.Resource`: the wrapper that carries a TTL. */
  Resource: ResourceTypeUrl.Resource,
} as const;

/** A type URL: one of {@link TypeUrl}'s or a type a user registered. */
export type TypeUrl = string;

/**
 * The order in which an ADS server sends the responses it has ready at once.
 *
 * The order matters: Envoy's make-before-break relies on a cluster arriving
 * before the endpoints that fill it (or it warms an empty cluster) and a
 * listener before the routes it names (or the routes are dropped as unused),
 * and on removals being applied last. go-control-plane keeps the same order in
 * `pkg/cache/types.ResponseType`.
 */
export const AdsSendOrder: readonly string[] = Object.freeze([
  TypeUrl.Cluster,
  TypeUrl.Endpoint,
  TypeUrl.LbEndpoint,
  TypeUrl.Listener,
  TypeUrl.Route,
  TypeUrl.ScopedRoute,
  TypeUrl.VirtualHost,
  TypeUrl.Secret,
  TypeUrl.Runtime,
  TypeUrl.ExtensionConfig,
]);

/**
 * Types whose SotW responses carry every resource of the type, so that a name
 * missing from a response means the resource was removed (Envoy's LDS and CDS;
 * the xDS protocol's "full state" types). Every other type is answered with
 * only the resources that changed.
 */
export const FullStateTypes: ReadonlySet<string> = new Set([TypeUrl.Cluster, TypeUrl.Listener]);

/** Where `typeUrl` stands in {@link AdsSendOrder}; types a user registered come after Envoy's. */
export function sendRank(typeUrl: string): number {
  const rank = AdsSendOrder.indexOf(typeUrl);
  return rank < 0 ? AdsSendOrder.length : rank;
}
