/**
 * Builders of small, valid Envoy resources for tests, examples and benchmarks.
 * Every builder returns a fresh protobuf-es message built with `create()`, so
 * the result can be wrapped with `Resource.from(TypeUrl.X, message)` or changed
 * before it is wrapped. Names that link resources (a cluster's EDS service
 * name, a listener's route name, a scope's route name) are set so that
 * `Resource.references` reports them.
 */
import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { type Any, anyPack } from "@bufbuild/protobuf/wkt";
import {
  type Cluster,
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  ClusterSchema,
} from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import type { AddressSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/address_pb";
import { ApiVersion, type ConfigSourceSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/config_source_pb";
import {
  type TypedExtensionConfig,
  TypedExtensionConfigSchema,
} from "@nebucloud/xds-proto/envoy/config/core/v3/extension_pb";
import {
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
} from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { type Listener, ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import type { VirtualHostSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_components_pb";
import { type RouteConfiguration, RouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";
import {
  type ScopedRouteConfiguration,
  ScopedRouteConfigurationSchema,
} from "@nebucloud/xds-proto/envoy/config/route/v3/scoped_route_pb";
import { RouterSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/http/router/v3/router_pb";
import {
  type HttpConnectionManager,
  HttpConnectionManager_CodecType,
  HttpConnectionManagerSchema,
} from "@nebucloud/xds-proto/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb";
import { type Secret, SecretSchema } from "@nebucloud/xds-proto/envoy/extensions/transport_sockets/tls/v3/secret_pb";
import { type Runtime, RuntimeSchema } from "@nebucloud/xds-proto/envoy/service/runtime/v3/rtds_pb";

/** A host (IP address or DNS name) and a port. */
export interface HostPort {
  /** An IP address or DNS name. */
  readonly host: string;
  /** A TCP port. */
  readonly port: number;
}

/** The name of Envoy's HTTP connection manager network filter. */
const hcmFilterName = "envoy.filters.network.http_connection_manager";
/** The name of Envoy's router HTTP filter. */
const routerFilterName = "envoy.filters.http.router";

/** A config source that fetches over the ADS stream the resource came on, with the v3 API. */
function adsConfigSource(): MessageInitShape<typeof ConfigSourceSchema> {
  return { configSourceSpecifier: { case: "ads", value: {} }, resourceApiVersion: ApiVersion.V3 };
}

/** A socket address (TCP) for `host`:`port`. */
function socketAddress({ host, port }: HostPort): MessageInitShape<typeof AddressSchema> {
  return {
    address: { case: "socketAddress", value: { address: host, portSpecifier: { case: "portValue", value: port } } },
  };
}

/** Options of {@link makeCluster}. */
export interface MakeClusterOptions {
  /**
   * How the cluster finds its hosts. Default `"eds"`: from the ClusterLoadAssignment
   * named by `edsServiceName` (or the cluster's name), over ADS.
   */
  readonly type?: "eds" | "static" | "strict_dns";
  /** EDS only: the ClusterLoadAssignment name to ask for. Default: none, so the cluster's own name is used. */
  readonly edsServiceName?: string;
  /** STATIC and STRICT_DNS only: the hosts, put in the cluster's load_assignment. Default: none. */
  readonly endpoints?: readonly HostPort[];
}

const discoveryTypes = {
  eds: Cluster_DiscoveryType.EDS,
  static: Cluster_DiscoveryType.STATIC,
  strict_dns: Cluster_DiscoveryType.STRICT_DNS,
} as const;

/**
 * A cluster with a 1 s connect timeout and round-robin balancing. By default an
 * EDS cluster whose endpoints come over ADS (so it references the
 * ClusterLoadAssignment named `options.edsServiceName`, else `name`); with
 * `type: "static"` or `"strict_dns"` its hosts are `options.endpoints`, inline.
 *
 * @example makeCluster("backend") // EDS; pair it with makeEndpoints("backend", 2)
 */
export function makeCluster(name: string, options: MakeClusterOptions = {}): Cluster {
  const type = options.type ?? "eds";
  return create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: discoveryTypes[type] },
    connectTimeout: { seconds: 1n },
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
    ...(type === "eds"
      ? { edsClusterConfig: { edsConfig: adsConfigSource(), serviceName: options.edsServiceName ?? "" } }
      : options.endpoints
        ? { loadAssignment: makeEndpoints(name, options.endpoints) }
        : {}),
  });
}

/** Options of {@link makeEndpoints}. */
export interface MakeEndpointsOptions {
  /** The locality of the endpoints. Default: region `"local"`, zone `"local-a"`. */
  readonly locality?: {
    /** The locality's region. */
    readonly region: string;
    /** The locality's zone. */
    readonly zone: string;
  };
  /** The locality's load_balancing_weight. Default 1. */
  readonly weight?: number;
}

/**
 * The ClusterLoadAssignment (EDS resource) named `clusterName`, with one locality
 * holding the given endpoints. `addresses` is a list of host/port pairs, or a
 * count `n` for `n` endpoints at 127.0.0.1 on ports 10000, 10001, ... The
 * locality has `locality` and `load_balancing_weight` set: gRPC clients ignore
 * a locality without a weight.
 *
 * @example makeEndpoints("backend", [{ host: "10.0.0.1", port: 8080 }])
 */
export function makeEndpoints(
  clusterName: string,
  addresses: readonly HostPort[] | number,
  options: MakeEndpointsOptions = {},
): ClusterLoadAssignment {
  const hosts =
    typeof addresses === "number"
      ? Array.from({ length: addresses }, (_, i): HostPort => ({ host: "127.0.0.1", port: 10_000 + i }))
      : addresses;
  const locality = options.locality ?? { region: "local", zone: "local-a" };
  return create(ClusterLoadAssignmentSchema, {
    clusterName,
    endpoints: [
      {
        locality: { region: locality.region, zone: locality.zone },
        loadBalancingWeight: options.weight ?? 1,
        lbEndpoints: hosts.map((host) => ({
          hostIdentifier: { case: "endpoint" as const, value: { address: socketAddress(host) } },
        })),
      },
    ],
  });
}

/** Options of {@link makeRoute}: either `cluster` (and `domains`) or `virtualHosts`. */
export interface MakeRouteOptions {
  /** The virtual hosts, used as given. Overrides `cluster` and `domains`. */
  readonly virtualHosts?: readonly MessageInitShape<typeof VirtualHostSchema>[];
  /** The cluster the one virtual host sends every request ("/" prefix) to. */
  readonly cluster?: string;
  /** The one virtual host's domains. Default `["*"]`. */
  readonly domains?: readonly string[];
}

/**
 * A RouteConfiguration (RDS resource) named `name`: by default one virtual host
 * (named `name`, matching `options.domains`, default every domain) whose one
 * route sends prefix "/" to `options.cluster`; or the `options.virtualHosts`
 * given. Throws a TypeError when given neither a cluster nor virtual hosts.
 *
 * @example makeRoute("local_route", { cluster: "backend" })
 */
export function makeRoute(name: string, options: MakeRouteOptions): RouteConfiguration {
  if (options.virtualHosts) {
    return create(RouteConfigurationSchema, { name, virtualHosts: [...options.virtualHosts] });
  }
  if (options.cluster === undefined) {
    throw new TypeError(`makeRoute(${JSON.stringify(name)}): give options.cluster or options.virtualHosts`);
  }
  return create(RouteConfigurationSchema, {
    name,
    virtualHosts: [
      {
        name,
        domains: [...(options.domains ?? ["*"])],
        routes: [
          {
            match: { pathSpecifier: { case: "prefix", value: "/" } },
            action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: options.cluster } } },
          },
        ],
      },
    ],
  });
}

/**
 * An HttpConnectionManager that takes route `routeName` from RDS over ADS and
 * ends its HTTP filter chain with the router (with a typed_config, as gRPC
 * requires).
 */
function httpConnectionManager(routeName: string): HttpConnectionManager {
  return create(HttpConnectionManagerSchema, {
    statPrefix: "http",
    codecType: HttpConnectionManager_CodecType.AUTO,
    routeSpecifier: { case: "rds", value: { routeConfigName: routeName, configSource: adsConfigSource() } },
    httpFilters: [
      {
        name: routerFilterName,
        configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) },
      },
    ],
  });
}

/** Options of {@link makeHttpListener}. */
export interface MakeHttpListenerOptions {
  /** The port to listen on. Default 10000. */
  readonly port?: number;
  /** The address to listen on. Default `"0.0.0.0"`. */
  readonly address?: string;
}

/**
 * A Listener (LDS resource) named `name` listening on `options.address`:`options.port`
 * (default 0.0.0.0:10000) with one filter chain whose HTTP connection manager
 * takes route `routeName` from RDS over ADS and ends with the router filter.
 * It references route `routeName`.
 *
 * @example makeHttpListener("ingress", "local_route", { port: 8080 })
 */
export function makeHttpListener(name: string, routeName: string, options: MakeHttpListenerOptions = {}): Listener {
  return create(ListenerSchema, {
    name,
    address: socketAddress({ host: options.address ?? "0.0.0.0", port: options.port ?? 10_000 }),
    filterChains: [
      {
        filters: [
          {
            name: hcmFilterName,
            configType: {
              case: "typedConfig",
              value: anyPack(HttpConnectionManagerSchema, httpConnectionManager(routeName)),
            },
          },
        ],
      },
    ],
  });
}

/**
 * A Listener named `name` with no address, whose api_listener holds an HTTP
 * connection manager taking route `routeName` from RDS over ADS: what a
 * proxyless gRPC client asks for (named by its target, e.g. "svc.ns:50051").
 * It references route `routeName`.
 *
 * @example makeApiListener("greeter.default:50051", "greeter-route")
 */
export function makeApiListener(name: string, routeName: string): Listener {
  return create(ListenerSchema, {
    name,
    apiListener: { apiListener: anyPack(HttpConnectionManagerSchema, httpConnectionManager(routeName)) },
  });
}

/** Options of {@link makeSecret}. */
export interface MakeSecretOptions {
  /** The PEM certificate chain, inline. Default: a placeholder that is not a certificate. */
  readonly certificateChain?: string;
  /** The PEM private key, inline. Default: a placeholder that is not a key. */
  readonly privateKey?: string;
}

/**
 * A Secret (SDS resource) named `name` holding a TLS certificate inline. The
 * default certificate and key are placeholders: enough for caches and servers,
 * which never parse them, but Envoy rejects them; pass real PEM to test TLS.
 *
 * @example makeSecret("server-cert")
 */
export function makeSecret(name: string, options: MakeSecretOptions = {}): Secret {
  return create(SecretSchema, {
    name,
    type: {
      case: "tlsCertificate",
      value: {
        certificateChain: {
          specifier: { case: "inlineString", value: options.certificateChain ?? `test certificate ${name}` },
        },
        privateKey: { specifier: { case: "inlineString", value: options.privateKey ?? `test private key ${name}` } },
      },
    },
  });
}

/**
 * A Runtime (RTDS resource) named `name` whose layer holds `fields`.
 *
 * @example makeRuntime("rtds", { "health_check.min_interval": 5, "upstream.use_http2": true })
 */
export function makeRuntime(name: string, fields: JsonObject): Runtime {
  return create(RuntimeSchema, { name, layer: fields });
}

/** Options of {@link makeExtensionConfig}. */
export interface MakeExtensionConfigOptions {
  /** The extension's configuration. Default: an empty router filter config. */
  readonly typedConfig?: Any;
}

/**
 * A TypedExtensionConfig (ECDS resource) named `name`; by default it configures
 * the router HTTP filter.
 *
 * @example makeExtensionConfig("envoy.filters.http.router")
 */
export function makeExtensionConfig(name: string, options: MakeExtensionConfigOptions = {}): TypedExtensionConfig {
  return create(TypedExtensionConfigSchema, {
    name,
    typedConfig: options.typedConfig ?? anyPack(RouterSchema, create(RouterSchema)),
  });
}

/**
 * A ScopedRouteConfiguration (SRDS resource) named `name` that sends requests
 * whose scope key is `key` (one fragment per string) to route `routeName`.
 * It references route `routeName`.
 *
 * @example makeScopedRoute("tenant-a", "tenant-a-route", "tenant-a")
 */
export function makeScopedRoute(
  name: string,
  routeName: string,
  key: string | readonly string[],
): ScopedRouteConfiguration {
  const fragments = typeof key === "string" ? [key] : key;
  return create(ScopedRouteConfigurationSchema, {
    name,
    routeConfigurationName: routeName,
    key: { fragments: fragments.map((fragment) => ({ type: { case: "stringKey" as const, value: fragment } })) },
  });
}
