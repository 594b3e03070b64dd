import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Message } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { httpConnectionManagers, Resource, TypeUrl } from "@nebucloud/xds-core";
import { Cluster_DiscoveryType } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ApiVersion } from "@nebucloud/xds-proto/envoy/config/core/v3/config_source_pb";
import { RouterSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/http/router/v3/router_pb";
import {
  makeApiListener,
  makeCluster,
  makeEndpoints,
  makeExtensionConfig,
  makeHttpListener,
  makeRoute,
  makeRuntime,
  makeScopedRoute,
  makeSecret,
} from "./index.js";

/** The references of `message` as a resource of `typeUrl`, as plain entries. */
const referencesOf = (typeUrl: string, message: Message) => [...Resource.from(typeUrl, message).references];

/** Whether `message` encodes as a resource of `typeUrl` (the cache will need its bytes). */
const encodes = (typeUrl: string, message: Message) => Resource.from(typeUrl, message).bytes.length > 0;

describe("makeCluster", () => {
  it("builds an EDS cluster that references the endpoints of its own name", () => {
    assert.deepEqual(referencesOf(TypeUrl.Cluster, makeCluster("c")), [[TypeUrl.Endpoint, ["c"]]]);
  });

  it("builds an EDS cluster that references its edsServiceName when given one", () => {
    assert.deepEqual(referencesOf(TypeUrl.Cluster, makeCluster("c", { edsServiceName: "c-eds" })), [
      [TypeUrl.Endpoint, ["c-eds"]],
    ]);
  });

  it("takes EDS over ADS with the v3 API by default", () => {
    const eds = makeCluster("c").edsClusterConfig?.edsConfig;
    assert.equal(eds?.configSourceSpecifier.case, "ads");
    assert.equal(eds?.resourceApiVersion, ApiVersion.V3);
  });

  it("sets a connect timeout of one second", () => {
    assert.deepEqual(
      { seconds: makeCluster("c").connectTimeout?.seconds, nanos: makeCluster("c").connectTimeout?.nanos },
      { seconds: 1n, nanos: 0 },
    );
  });

  it("is named by its name", () => {
    assert.equal(Resource.from(TypeUrl.Cluster, makeCluster("backend")).name, "backend");
  });

  it("builds a STATIC cluster without references holding the endpoints it is given", () => {
    const cluster = makeCluster("s", { type: "static", endpoints: [{ host: "10.0.0.1", port: 80 }] });
    assert.equal(cluster.clusterDiscoveryType.value, Cluster_DiscoveryType.STATIC);
    assert.equal(cluster.loadAssignment?.endpoints[0]?.lbEndpoints.length, 1);
    assert.deepEqual(referencesOf(TypeUrl.Cluster, cluster), []);
  });

  it("builds a STRICT_DNS cluster without references", () => {
    const cluster = makeCluster("d", { type: "strict_dns", endpoints: [{ host: "backend.local", port: 80 }] });
    assert.equal(cluster.clusterDiscoveryType.value, Cluster_DiscoveryType.STRICT_DNS);
    assert.deepEqual(referencesOf(TypeUrl.Cluster, cluster), []);
  });

  it("builds a cluster that encodes", () => {
    assert.ok(encodes(TypeUrl.Cluster, makeCluster("c")));
  });
});

describe("makeEndpoints", () => {
  it("builds a ClusterLoadAssignment named by its cluster", () => {
    assert.equal(Resource.from(TypeUrl.Endpoint, makeEndpoints("c", 1)).name, "c");
  });

  it("holds the addresses it is given, in order", () => {
    const cla = makeEndpoints("c", [
      { host: "10.0.0.1", port: 8080 },
      { host: "10.0.0.2", port: 9090 },
    ]);
    const addresses = cla.endpoints[0]?.lbEndpoints.map((lb) => {
      const address = lb.hostIdentifier.case === "endpoint" ? lb.hostIdentifier.value.address?.address : undefined;
      return address?.case === "socketAddress" ? `${address.value.address}:${address.value.portSpecifier.value}` : "";
    });
    assert.deepEqual(addresses, ["10.0.0.1:8080", "10.0.0.2:9090"]);
  });

  it("builds as many endpoints as a count asks for, at distinct addresses", () => {
    const names = makeEndpoints("c", 5).endpoints[0]?.lbEndpoints.map(
      (lb) => Resource.from(TypeUrl.LbEndpoint, lb).name,
    );
    assert.equal(new Set(names).size, 5);
  });

  it("puts every endpoint in one locality", () => {
    assert.equal(makeEndpoints("c", 3).endpoints.length, 1);
  });

  it("sets the locality's load_balancing_weight, which gRPC clients require", () => {
    assert.equal(makeEndpoints("c", 1).endpoints[0]?.loadBalancingWeight, 1);
  });

  it("sets the locality it is given", () => {
    const locality = makeEndpoints("c", 1, { locality: { region: "eu", zone: "eu-1" } }).endpoints[0]?.locality;
    assert.deepEqual({ region: locality?.region, zone: locality?.zone }, { region: "eu", zone: "eu-1" });
  });

  it("sets a locality when given none", () => {
    assert.ok(makeEndpoints("c", 1).endpoints[0]?.locality?.zone);
  });

  it("sets the locality weight it is given", () => {
    assert.equal(makeEndpoints("c", 1, { weight: 7 }).endpoints[0]?.loadBalancingWeight, 7);
  });

  it("builds endpoints without references", () => {
    assert.deepEqual(referencesOf(TypeUrl.Endpoint, makeEndpoints("c", 2)), []);
  });

  it("builds endpoints that encode", () => {
    assert.ok(encodes(TypeUrl.Endpoint, makeEndpoints("c", 2)));
  });
});

describe("makeRoute", () => {
  it("builds a route configuration named by its name", () => {
    assert.equal(Resource.from(TypeUrl.Route, makeRoute("r", { cluster: "c" })).name, "r");
  });

  it("routes prefix / of every domain to the cluster", () => {
    const vh = makeRoute("r", { cluster: "c" }).virtualHosts[0];
    const route = vh?.routes[0];
    assert.deepEqual(vh?.domains, ["*"]);
    assert.deepEqual(route?.match?.pathSpecifier, { case: "prefix", value: "/" });
    assert.equal(route?.action.case === "route" ? route.action.value.clusterSpecifier.value : undefined, "c");
  });

  it("matches the domains it is given", () => {
    assert.deepEqual(makeRoute("r", { cluster: "c", domains: ["example.com"] }).virtualHosts[0]?.domains, [
      "example.com",
    ]);
  });

  it("uses the virtual hosts it is given", () => {
    const route = makeRoute("r", {
      virtualHosts: [
        { name: "a", domains: ["a.example"] },
        { name: "b", domains: ["*"] },
      ],
    });
    assert.deepEqual(
      route.virtualHosts.map((vh) => vh.name),
      ["a", "b"],
    );
  });

  it("throws when given neither a cluster nor virtual hosts", () => {
    assert.throws(() => makeRoute("r", {}), TypeError);
  });

  it("builds a route configuration without references", () => {
    assert.deepEqual(referencesOf(TypeUrl.Route, makeRoute("r", { cluster: "c" })), []);
  });
});

describe("makeHttpListener", () => {
  it("builds a listener that references its route", () => {
    assert.deepEqual(referencesOf(TypeUrl.Listener, makeHttpListener("l", "r")), [[TypeUrl.Route, ["r"]]]);
  });

  it("listens on 0.0.0.0:10000 by default", () => {
    const address = makeHttpListener("l", "r").address?.address;
    const socket = address?.case === "socketAddress" ? address.value : undefined;
    assert.equal(socket?.address, "0.0.0.0");
    assert.equal(socket?.portSpecifier.value, 10_000);
  });

  it("listens on the address and port it is given", () => {
    const address = makeHttpListener("l", "r", { address: "127.0.0.1", port: 8080 }).address?.address;
    const socket = address?.case === "socketAddress" ? address.value : undefined;
    assert.equal(socket?.address, "127.0.0.1");
    assert.equal(socket?.portSpecifier.value, 8080);
  });

  it("takes its route from RDS over ADS", () => {
    const [hcm] = httpConnectionManagers(makeHttpListener("l", "r"));
    assert.equal(hcm?.routeSpecifier.case, "rds");
    assert.equal(
      hcm?.routeSpecifier.case === "rds"
        ? hcm.routeSpecifier.value.configSource?.configSourceSpecifier.case
        : undefined,
      "ads",
    );
  });

  it("ends its HTTP filters with the router, configured by a typed Router", () => {
    const [hcm] = httpConnectionManagers(makeHttpListener("l", "r"));
    const last = hcm?.httpFilters.at(-1);
    assert.equal(last?.name, "envoy.filters.http.router");
    assert.ok(last?.configType.case === "typedConfig" && anyUnpack(last.configType.value, RouterSchema));
  });

  it("builds a listener that encodes", () => {
    assert.ok(encodes(TypeUrl.Listener, makeHttpListener("l", "r")));
  });
});

describe("makeApiListener", () => {
  it("builds a listener that references its route", () => {
    assert.deepEqual(referencesOf(TypeUrl.Listener, makeApiListener("svc:50051", "r")), [[TypeUrl.Route, ["r"]]]);
  });

  it("holds its HTTP connection manager in api_listener, without an address or filter chains", () => {
    const listener = makeApiListener("svc:50051", "r");
    assert.ok(listener.apiListener?.apiListener);
    assert.equal(listener.address, undefined);
    assert.equal(listener.filterChains.length, 0);
  });

  it("ends its HTTP filters with the router, configured by a typed Router", () => {
    const [hcm] = httpConnectionManagers(makeApiListener("svc:50051", "r"));
    const last = hcm?.httpFilters.at(-1);
    assert.equal(last?.name, "envoy.filters.http.router");
    assert.ok(last?.configType.case === "typedConfig" && anyUnpack(last.configType.value, RouterSchema));
  });
});

describe("makeSecret", () => {
  it("builds a secret named by its name, without references", () => {
    const resource = Resource.from(TypeUrl.Secret, makeSecret("cert"));
    assert.equal(resource.name, "cert");
    assert.deepEqual([...resource.references], []);
  });

  it("holds a TLS certificate with the chain and key it is given", () => {
    const secret = makeSecret("cert", { certificateChain: "CHAIN", privateKey: "KEY" });
    assert.equal(secret.type.case, "tlsCertificate");
    const tls = secret.type.case === "tlsCertificate" ? secret.type.value : undefined;
    assert.equal(tls?.certificateChain?.specifier.value, "CHAIN");
    assert.equal(tls?.privateKey?.specifier.value, "KEY");
  });
});

describe("makeRuntime", () => {
  it("builds a runtime named by its name, without references", () => {
    const resource = Resource.from(TypeUrl.Runtime, makeRuntime("rt", { a: 1 }));
    assert.equal(resource.name, "rt");
    assert.deepEqual([...resource.references], []);
  });

  it("holds the fields it is given in its layer", () => {
    assert.deepEqual(makeRuntime("rt", { "feature.x": true, ratio: 0.5 }).layer, { "feature.x": true, ratio: 0.5 });
  });

  it("builds a runtime that encodes", () => {
    assert.ok(encodes(TypeUrl.Runtime, makeRuntime("rt", { nested: { b: 1, a: "x" } })));
  });
});

describe("makeExtensionConfig", () => {
  it("builds an extension config named by its name, without references", () => {
    const resource = Resource.from(TypeUrl.ExtensionConfig, makeExtensionConfig("ext"));
    assert.equal(resource.name, "ext");
    assert.deepEqual([...resource.references], []);
  });

  it("configures the router by default", () => {
    const any = makeExtensionConfig("ext").typedConfig;
    assert.ok(any && anyUnpack(any, RouterSchema));
  });
});

describe("makeScopedRoute", () => {
  it("builds a scoped route that references its route", () => {
    assert.deepEqual(referencesOf(TypeUrl.ScopedRoute, makeScopedRoute("s", "r", "k")), [[TypeUrl.Route, ["r"]]]);
  });

  it("is named by its name", () => {
    assert.equal(Resource.from(TypeUrl.ScopedRoute, makeScopedRoute("s", "r", "k")).name, "s");
  });

  it("has one string key fragment for a string key", () => {
    assert.deepEqual(
      makeScopedRoute("s", "r", "tenant-a").key?.fragments.map((f) => f.type.value),
      ["tenant-a"],
    );
  });

  it("has one string key fragment per element of an array key", () => {
    assert.deepEqual(
      makeScopedRoute("s", "r", ["a", "b"]).key?.fragments.map((f) => f.type.value),
      ["a", "b"],
    );
  });
});
