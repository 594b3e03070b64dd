import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { anyPack, type Duration, DurationSchema } from "@bufbuild/protobuf/wkt";
import {
  createResourceTypeRegistry,
  defaultResourceTypes,
  edsServiceName,
  httpConnectionManagers,
  Resource,
  ResourceTypeRegistry,
  TypeUrl,
  XdsError,
} from "@nebucloud/xds-core";
import { Cluster_DiscoveryType, ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { LbEndpointSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_components_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import {
  type FilterChain,
  FilterChainSchema,
} from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_components_pb";
import { ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import { RouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";
import { ScopedRouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/scoped_route_pb";
import { RouterSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/http/router/v3/router_pb";
import {
  type HttpConnectionManager,
  HttpConnectionManagerSchema,
} from "@nebucloud/xds-proto/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb";
import { TcpProxySchema } from "@nebucloud/xds-proto/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb";

const DurationUrl = "type.googleapis.com/google.protobuf.Duration";

function edsCluster(name: string, serviceName = "") {
  return create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName, edsConfig: { configSourceSpecifier: { case: "ads", value: {} } } },
  });
}

function rdsHcm(routeConfigName: string): HttpConnectionManager {
  return create(HttpConnectionManagerSchema, {
    statPrefix: "http",
    routeSpecifier: {
      case: "rds",
      value: { routeConfigName, configSource: { configSourceSpecifier: { case: "ads", value: {} } } },
    },
    httpFilters: [
      {
        name: "envoy.filters.http.router",
        configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) },
      },
    ],
  });
}

function chainWith(hcm: HttpConnectionManager): FilterChain {
  return create(FilterChainSchema, {
    filters: [
      {
        name: "envoy.filters.network.http_connection_manager",
        configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, hcm) },
      },
    ],
  });
}

const routesOf = (typeUrl: string, message: Parameters<typeof Resource.from>[1]) =>
  Resource.from(typeUrl, message).references.get(TypeUrl.Route);

describe("ResourceTypeRegistry", () => {
  it("starts empty when built directly", () => {
    assert.deepEqual(new ResourceTypeRegistry().typeUrls(), []);
  });

  it("throws unknown_type naming the type URL when require() is asked for a type it does not hold", () => {
    const url = "type.googleapis.com/example.Nope";
    assert.throws(
      () => defaultResourceTypes.require(url),
      (error: unknown) =>
        error instanceof XdsError &&
        error.code === "unknown_type" &&
        error.details.typeUrl === url &&
        error.message.includes(url),
    );
  });

  it("returns undefined from get() for a type it does not hold", () => {
    assert.equal(defaultResourceTypes.get("type.googleapis.com/example.Nope"), undefined);
  });

  it("holds a type a user registered, under its type URL", () => {
    const types = new ResourceTypeRegistry().register({
      typeUrl: DurationUrl,
      schema: DurationSchema,
      name: (d: Duration) => `${d.seconds}s`,
    });
    assert.ok(types.has(DurationUrl));
    assert.equal(types.require(DurationUrl).schema, DurationSchema);
  });

  it("lists type URLs in registration order", () => {
    const types = new ResourceTypeRegistry()
      .register({ typeUrl: "b", schema: DurationSchema, name: () => "" })
      .register({ typeUrl: "a", schema: DurationSchema, name: () => "" });
    assert.deepEqual(types.typeUrls(), ["b", "a"]);
  });

  it("replaces a type registered again under the same URL", () => {
    const types = createResourceTypeRegistry().register({
      typeUrl: TypeUrl.Cluster,
      schema: ClusterSchema,
      name: () => "renamed",
    });
    assert.equal(Resource.from(TypeUrl.Cluster, edsCluster("c"), { types }).name, "renamed");
  });

  it("serves a user-registered type through Resource.from, named by its name function", () => {
    const types = createResourceTypeRegistry().register({
      typeUrl: DurationUrl,
      schema: DurationSchema,
      name: (d: Duration) => `${d.seconds}s`,
    });
    const resource = Resource.from(DurationUrl, create(DurationSchema, { seconds: 5n }), { types });
    assert.equal(resource.name, "5s");
    assert.equal(resource.version.length, 64);
    assert.deepEqual([...resource.references], []);
  });

  it("does not add a type registered on another registry to the default one", () => {
    createResourceTypeRegistry().register({ typeUrl: DurationUrl, schema: DurationSchema, name: () => "" });
    assert.equal(defaultResourceTypes.has(DurationUrl), false);
  });
});

describe("resource names", () => {
  it("names a cluster by its name", () => {
    assert.equal(Resource.from(TypeUrl.Cluster, edsCluster("backend")).name, "backend");
  });

  it("names a ClusterLoadAssignment by its cluster_name", () => {
    const cla = create(ClusterLoadAssignmentSchema, { clusterName: "backend" });
    assert.equal(Resource.from(TypeUrl.Endpoint, cla).name, "backend");
  });

  it("names an LbEndpoint by its socket address and port", () => {
    const endpoint = create(LbEndpointSchema, {
      hostIdentifier: {
        case: "endpoint",
        value: {
          address: {
            address: {
              case: "socketAddress",
              value: { address: "10.0.0.1", portSpecifier: { case: "portValue", value: 8080 } },
            },
          },
        },
      },
    });
    assert.equal(Resource.from(TypeUrl.LbEndpoint, endpoint).name, "10.0.0.1:8080");
  });

  it("takes the name given in the options over the type's name function", () => {
    assert.equal(Resource.from(TypeUrl.Cluster, edsCluster("backend"), { name: "other" }).name, "other");
  });
});

describe("cluster references", () => {
  it("has an EDS cluster refer to the endpoints named by its eds service_name", () => {
    const refs = Resource.from(TypeUrl.Cluster, edsCluster("backend", "backend-eds")).references;
    assert.deepEqual([...refs], [[TypeUrl.Endpoint, ["backend-eds"]]]);
  });

  it("has an EDS cluster with an empty service_name refer to the endpoints named by its own name", () => {
    const refs = Resource.from(TypeUrl.Cluster, edsCluster("backend")).references;
    assert.deepEqual([...refs], [[TypeUrl.Endpoint, ["backend"]]]);
  });

  it("has an EDS cluster without eds_cluster_config refer to the endpoints named by its own name", () => {
    const cluster = create(ClusterSchema, {
      name: "bare",
      clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    });
    assert.deepEqual([...Resource.from(TypeUrl.Cluster, cluster).references], [[TypeUrl.Endpoint, ["bare"]]]);
  });

  it("gives a STRICT_DNS cluster no references", () => {
    const cluster = create(ClusterSchema, {
      name: "dns",
      clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.STRICT_DNS },
    });
    assert.equal(Resource.from(TypeUrl.Cluster, cluster).references.size, 0);
  });

  it("gives a STATIC cluster no references even when it has eds_cluster_config", () => {
    const cluster = create(ClusterSchema, {
      name: "static",
      clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.STATIC },
      edsClusterConfig: { serviceName: "ignored" },
    });
    assert.equal(edsServiceName(cluster), undefined);
    assert.equal(Resource.from(TypeUrl.Cluster, cluster).references.size, 0);
  });

  it("gives a custom cluster type no references", () => {
    const cluster = create(ClusterSchema, {
      name: "aggregate",
      clusterDiscoveryType: { case: "clusterType", value: { name: "envoy.clusters.aggregate" } },
    });
    assert.equal(Resource.from(TypeUrl.Cluster, cluster).references.size, 0);
  });
});

describe("listener references", () => {
  it("has a listener refer to the RDS route named by the HCM in a filter chain", () => {
    const listener = create(ListenerSchema, { name: "l", filterChains: [chainWith(rdsHcm("r"))] });
    assert.deepEqual(routesOf(TypeUrl.Listener, listener), ["r"]);
  });

  it("has a listener refer to the routes of the HCMs of every filter chain, once each", () => {
    const listener = create(ListenerSchema, {
      name: "l",
      filterChains: [chainWith(rdsHcm("a")), chainWith(rdsHcm("b")), chainWith(rdsHcm("a"))],
    });
    assert.deepEqual(routesOf(TypeUrl.Listener, listener), ["a", "b"]);
  });

  it("has a listener refer to the RDS route named by the HCM in its default filter chain", () => {
    const listener = create(ListenerSchema, { name: "l", defaultFilterChain: chainWith(rdsHcm("fallback")) });
    assert.deepEqual(routesOf(TypeUrl.Listener, listener), ["fallback"]);
  });

  it("has an API listener refer to the RDS route named by its HCM", () => {
    const listener = create(ListenerSchema, {
      name: "grpc.example.com:443",
      apiListener: { apiListener: anyPack(HttpConnectionManagerSchema, rdsHcm("grpc-route")) },
    });
    assert.deepEqual(routesOf(TypeUrl.Listener, listener), ["grpc-route"]);
  });

  it("has a listener refer to the routes of an HCM's inline scoped_route_configurations_list", () => {
    const hcm = create(HttpConnectionManagerSchema, {
      statPrefix: "http",
      routeSpecifier: {
        case: "scopedRoutes",
        value: {
          name: "scopes",
          configSpecifier: {
            case: "scopedRouteConfigurationsList",
            value: {
              scopedRouteConfigurations: [
                { name: "s1", routeConfigurationName: "r1" },
                { name: "s2", routeConfigurationName: "r2" },
              ],
            },
          },
        },
      },
    });
    const listener = create(ListenerSchema, { name: "l", filterChains: [chainWith(hcm)] });
    assert.deepEqual(routesOf(TypeUrl.Listener, listener), ["r1", "r2"]);
  });

  it("gives a listener whose HCM has an inline route_config no references", () => {
    const hcm = create(HttpConnectionManagerSchema, {
      statPrefix: "http",
      routeSpecifier: { case: "routeConfig", value: { name: "inline" } },
    });
    const listener = create(ListenerSchema, { name: "l", filterChains: [chainWith(hcm)] });
    assert.equal(Resource.from(TypeUrl.Listener, listener).references.size, 0);
  });

  it("gives a TCP proxy listener no references", () => {
    const listener = create(ListenerSchema, {
      name: "tcp",
      filterChains: [
        {
          filters: [
            {
              name: "envoy.filters.network.tcp_proxy",
              configType: {
                case: "typedConfig",
                value: anyPack(
                  TcpProxySchema,
                  create(TcpProxySchema, { statPrefix: "tcp", clusterSpecifier: { case: "cluster", value: "c" } }),
                ),
              },
            },
          ],
        },
      ],
    });
    assert.equal(Resource.from(TypeUrl.Listener, listener).references.size, 0);
  });

  it("finds the HCMs of the filter chains, the default chain and the API listener", () => {
    const listener = create(ListenerSchema, {
      name: "l",
      filterChains: [chainWith(rdsHcm("a"))],
      defaultFilterChain: chainWith(rdsHcm("b")),
      apiListener: { apiListener: anyPack(HttpConnectionManagerSchema, rdsHcm("c")) },
    });
    const names = httpConnectionManagers(listener).map((hcm) =>
      hcm.routeSpecifier.case === "rds" ? hcm.routeSpecifier.value.routeConfigName : undefined,
    );
    assert.deepEqual(names, ["a", "b", "c"]);
  });
});

describe("scoped route references", () => {
  it("has a ScopedRouteConfiguration refer to its route_configuration_name", () => {
    const scope = create(ScopedRouteConfigurationSchema, {
      name: "scope",
      routeConfigurationName: "scoped-route",
      key: { fragments: [{ type: { case: "stringKey", value: "tenant-a" } }] },
    });
    assert.deepEqual([...Resource.from(TypeUrl.ScopedRoute, scope).references], [[TypeUrl.Route, ["scoped-route"]]]);
  });

  it("gives a ScopedRouteConfiguration with an inline route configuration no references", () => {
    const scope = create(ScopedRouteConfigurationSchema, {
      name: "scope",
      routeConfiguration: create(RouteConfigurationSchema, { name: "inline" }),
    });
    assert.equal(Resource.from(TypeUrl.ScopedRoute, scope).references.size, 0);
  });
});

describe("route references", () => {
  it("gives a route configuration no references", () => {
    const route = create(RouteConfigurationSchema, { name: "r" });
    assert.equal(Resource.from(TypeUrl.Route, route).references.size, 0);
  });
});
