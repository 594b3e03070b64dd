/**
 * Pure translation from Kubernetes Services and EndpointSlices to xDS
 * resources for proxyless gRPC clients (and Envoy). No I/O: the informers in
 * `source.ts` feed these functions and put the result in a snapshot.
 *
 * Per TCP port of a Service (ExternalName services have no endpoints and are
 * skipped):
 *
 * | resource              | name                           | what                                            |
 * | --------------------- | ------------------------------ | ----------------------------------------------- |
 * | Cluster               | `<namespace>/<service>:<port>` | EDS over ADS, round robin                       |
 * | ClusterLoadAssignment | `<namespace>/<service>:<port>` | ready endpoints, one locality per zone          |
 * | RouteConfiguration    | `<service>.<namespace>:<port>` | one virtual host, every path to the cluster     |
 * | Listener              | `<service>.<namespace>:<port>` | api_listener for `xds:///<service>.<namespace>:<port>` |
 *
 * `<port>` is the Service's port (what clients dial), not the target port:
 * the endpoints carry the EndpointSlice port whose name matches the Service
 * port's name.
 */
import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { V1EndpointSlice, V1Service, V1ServicePort } from "@kubernetes/client-node";
import { Snapshot } from "@nebucloud/xds-cache";
import { TypeUrl } from "@nebucloud/xds-core";
import {
  type Cluster,
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  ClusterSchema,
} from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ApiVersion } from "@nebucloud/xds-proto/envoy/config/core/v3/config_source_pb";
import {
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
} from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { type Listener, ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import { type RouteConfiguration, RouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";
import { RouterSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/http/router/v3/router_pb";
import { HttpConnectionManagerSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb";

/** The label an EndpointSlice names its Service with. */
export const serviceNameLabel = "kubernetes.io/service-name";

/** The Cluster and ClusterLoadAssignment name of a Service port: `<namespace>/<service>:<port>`. */
export function clusterName(namespace: string, service: string, port: number): string {
  return `${namespace}/${service}:${port}`;
}

/**
 * The Listener and RouteConfiguration name of a Service port:
 * `<service>.<namespace>:<port>`, the host:port of the gRPC target
 * `xds:///<service>.<namespace>:<port>`.
 */
export function listenerName(namespace: string, service: string, port: number): string {
  return `${service}.${namespace}:${port}`;
}

/** One endpoint of a Service port: an address, the target port, and the zone it runs in ("" if unknown). */
export interface ReadyEndpoint {
  readonly address: string;
  readonly port: number;
  readonly zone: string;
}

/** The ports of a Service that get xDS resources: TCP ones (protocol unset means TCP); none for ExternalName. */
export function servicePorts(service: V1Service): V1ServicePort[] {
  if (service.spec?.type === "ExternalName") return [];
  return (service.spec?.ports ?? []).filter((port) => (port.protocol ?? "TCP") === "TCP");
}

/**
 * The ready endpoints of one Service port, from the EndpointSlices of that
 * Service (label `kubernetes.io/service-name`, same namespace). An endpoint is
 * ready unless `conditions.ready` is false (unset means ready, as the API says).
 * Only IPv4 and IPv6 slices count (gRPC cannot use FQDN endpoints); the slice
 * port is the one whose name matches the Service port's name. Each endpoint
 * contributes its first address (the API says its addresses are fungible); an
 * address:port in two slices (as during a slice handover) is listed once.
 * Sorted by zone, address and port, so equal input gives an equal result.
 */
export function readyEndpoints(
  service: V1Service,
  port: V1ServicePort,
  slices: readonly V1EndpointSlice[],
): ReadyEndpoint[] {
  const name = service.metadata?.name;
  const namespace = service.metadata?.namespace;
  const found = new Map<string, ReadyEndpoint>();
  for (const slice of slices) {
    if (slice.metadata?.namespace !== namespace || slice.metadata?.labels?.[serviceNameLabel] !== name) continue;
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const slicePort = (slice.ports ?? []).find(
      (p) => (p.name ?? "") === (port.name ?? "") && (p.protocol ?? "TCP") === "TCP",
    );
    if (slicePort?.port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      const address = endpoint.addresses?.[0];
      if (!address) continue;
      const key = `${address}:${slicePort.port}`;
      if (!found.has(key)) found.set(key, { address, port: slicePort.port, zone: endpoint.zone ?? "" });
    }
  }
  return [...found.values()].sort(
    (a, b) => compare(a.zone, b.zone) || compare(a.address, b.address) || a.port - b.port,
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A ClusterLoadAssignment named `name` with one locality per zone (zone as
 * given, region unset: EndpointSlices carry no region). Every locality has a
 * load_balancing_weight, as gRPC ignores localities without one: the number of
 * endpoints in it, so that each endpoint gets an equal share whatever its zone.
 * No endpoints gives an assignment with no localities (clients fail fast).
 */
export function clusterLoadAssignment(name: string, endpoints: readonly ReadyEndpoint[]): ClusterLoadAssignment {
  const byZone = new Map<string, ReadyEndpoint[]>();
  for (const endpoint of endpoints) {
    const list = byZone.get(endpoint.zone) ?? [];
    list.push(endpoint);
    byZone.set(endpoint.zone, list);
  }
  return create(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: [...byZone.entries()]
      .sort(([a], [b]) => compare(a, b))
      .map(([zone, list]) => ({
        locality: { zone },
        loadBalancingWeight: list.length,
        lbEndpoints: list.map((endpoint) => ({
          hostIdentifier: {
            case: "endpoint" as const,
            value: {
              address: {
                address: {
                  case: "socketAddress" as const,
                  value: {
                    address: endpoint.address,
                    portSpecifier: { case: "portValue" as const, value: endpoint.port },
                  },
                },
              },
            },
          },
        })),
      })),
  });
}

/** A config source that fetches over the ADS stream the resource came on. */
const ads = { configSourceSpecifier: { case: "ads" as const, value: {} }, resourceApiVersion: ApiVersion.V3 };

/** An EDS cluster named `name` taking its endpoints over ADS, round robin, 1 s connect timeout. */
export function edsCluster(name: string): Cluster {
  return create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    connectTimeout: { seconds: 1n },
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
    edsClusterConfig: { edsConfig: ads },
  });
}

/** A RouteConfiguration named `name` with one virtual host (every domain) sending every path to `cluster`. */
export function routeTo(name: string, cluster: string): RouteConfiguration {
  return create(RouteConfigurationSchema, {
    name,
    virtualHosts: [
      {
        name,
        domains: ["*"],
        routes: [
          {
            match: { pathSpecifier: { case: "prefix", value: "/" } },
            action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: cluster } } },
          },
        ],
      },
    ],
  });
}

/**
 * A Listener named `name` with no address, whose api_listener is an HTTP
 * connection manager taking route `route` over ADS and ending with the router
 * filter: what a proxyless gRPC client dialing `xds:///<name>` asks for.
 */
export function apiListener(name: string, route: string): Listener {
  const hcm = create(HttpConnectionManagerSchema, {
    statPrefix: name,
    routeSpecifier: { case: "rds", value: { routeConfigName: route, configSource: ads } },
    httpFilters: [
      {
        name: "envoy.filters.http.router",
        configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) },
      },
    ],
  });
  return create(ListenerSchema, { name, apiListener: { apiListener: anyPack(HttpConnectionManagerSchema, hcm) } });
}

/** Every xDS resource for a set of Services and EndpointSlices, by type. */
export interface XdsResources {
  readonly clusters: Cluster[];
  readonly endpoints: ClusterLoadAssignment[];
  readonly routes: RouteConfiguration[];
  readonly listeners: Listener[];
}

/**
 * The resources of every Service port (see the table at the top of this
 * file), sorted by name. Services without a name or namespace are skipped.
 */
export function translate(services: readonly V1Service[], slices: readonly V1EndpointSlice[]): XdsResources {
  const out: XdsResources = { clusters: [], endpoints: [], routes: [], listeners: [] };
  const sorted = [...services].sort((a, b) =>
    compare(`${a.metadata?.namespace}/${a.metadata?.name}`, `${b.metadata?.namespace}/${b.metadata?.name}`),
  );
  for (const service of sorted) {
    const name = service.metadata?.name;
    const namespace = service.metadata?.namespace;
    if (!name || !namespace) continue;
    for (const port of servicePorts(service)) {
      const cluster = clusterName(namespace, name, port.port);
      const listener = listenerName(namespace, name, port.port);
      out.clusters.push(edsCluster(cluster));
      out.endpoints.push(clusterLoadAssignment(cluster, readyEndpoints(service, port, slices)));
      out.routes.push(routeTo(listener, cluster));
      out.listeners.push(apiListener(listener, listener));
    }
  }
  return out;
}

/**
 * A consistent snapshot of {@link translate}'s resources: every cluster's
 * endpoints, every listener's route. Its per-type versions are content hashes,
 * so an unchanged cluster state gives the same versions and no push.
 */
export function toSnapshot(services: readonly V1Service[], slices: readonly V1EndpointSlice[]): Snapshot {
  const resources = translate(services, slices);
  const snapshot = Snapshot.fromResources({
    [TypeUrl.Cluster]: resources.clusters,
    [TypeUrl.Endpoint]: resources.endpoints,
    [TypeUrl.Route]: resources.routes,
    [TypeUrl.Listener]: resources.listeners,
  });
  snapshot.consistent();
  return snapshot;
}
