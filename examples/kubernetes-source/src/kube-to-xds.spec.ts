import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { TypeUrl } from "@nebucloud/xds-core";
import type { ClusterLoadAssignment } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { HttpConnectionManagerSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb";
import {
  clusterLoadAssignment,
  clusterName,
  listenerName,
  readyEndpoints,
  servicePorts,
  toSnapshot,
  translate,
} from "./kube-to-xds.js";
import { service, slice } from "./test-support/fixtures.js";

/** The (zone, weight, host:port list) of each locality of an assignment. */
function localities(cla: ClusterLoadAssignment) {
  return cla.endpoints.map((locality) => ({
    zone: locality.locality?.zone,
    weight: locality.loadBalancingWeight,
    hosts: locality.lbEndpoints.map((lb) => {
      if (lb.hostIdentifier.case !== "endpoint") throw new Error("not an endpoint");
      const address = lb.hostIdentifier.value.address?.address;
      if (address?.case !== "socketAddress") throw new Error("not a socket address");
      const port = address.value.portSpecifier;
      return `${address.value.address}:${port.case === "portValue" ? port.value : "?"}`;
    }),
  }));
}

const greeter = service("greeter-service");
const greeterSlice = slice("greeter-endpointslice");
const grpcPort = greeter.spec?.ports?.[0];
if (!grpcPort) throw new Error("the greeter fixture has ports");

describe("naming", () => {
  it("names clusters and assignments <namespace>/<service>:<port>", () => {
    assert.equal(clusterName("shop", "greeter", 50051), "shop/greeter:50051");
  });

  it("names listeners and routes <service>.<namespace>:<port>, the host of xds:///greeter.shop:50051", () => {
    assert.equal(listenerName("shop", "greeter", 50051), "greeter.shop:50051");
  });

  it("gives every TCP Service port its four resources, named by the Service port (not the target port)", () => {
    const resources = translate([greeter], [greeterSlice]);
    assert.deepEqual(
      resources.clusters.map((c) => c.name),
      ["shop/greeter:50051", "shop/greeter:9090"],
    );
    assert.deepEqual(
      resources.endpoints.map((e) => e.clusterName),
      ["shop/greeter:50051", "shop/greeter:9090"],
    );
    assert.deepEqual(
      resources.listeners.map((l) => l.name),
      ["greeter.shop:50051", "greeter.shop:9090"],
    );
    assert.deepEqual(
      resources.routes.map((r) => r.name),
      ["greeter.shop:50051", "greeter.shop:9090"],
    );
  });

  it("links listener -> route -> cluster -> assignment so that a gRPC client finds its endpoints", () => {
    const resources = translate([greeter], [greeterSlice]);
    const listener = resources.listeners[0];
    const hcm =
      listener?.apiListener?.apiListener && anyUnpack(listener.apiListener.apiListener, HttpConnectionManagerSchema);
    assert.ok(hcm, "the api_listener holds an HTTP connection manager");
    assert.equal(hcm.routeSpecifier.case, "rds");
    assert.equal(hcm.routeSpecifier.value?.routeConfigName, "greeter.shop:50051");
    assert.deepEqual(
      hcm.httpFilters.map((f) => [f.name, f.configType.case]),
      [["envoy.filters.http.router", "typedConfig"]],
    );
    const route = resources.routes[0]?.virtualHosts[0]?.routes[0]?.action;
    assert.equal(route?.case, "route");
    assert.deepEqual(route?.value.clusterSpecifier, { case: "cluster", value: "shop/greeter:50051" });
    const cluster = resources.clusters[0];
    assert.equal(cluster?.edsClusterConfig?.edsConfig?.configSourceSpecifier.case, "ads");
    // No eds service name: the assignment is looked up by the cluster's own name.
    assert.equal(cluster?.edsClusterConfig?.serviceName, "");
  });

  it("makes a consistent snapshot whose versions depend on content, not on input order", () => {
    const checkout = service("checkout-service");
    const checkoutSlice = slice("checkout-endpointslice");
    const a = toSnapshot([greeter, checkout], [greeterSlice, checkoutSlice]);
    const b = toSnapshot([checkout, greeter], [checkoutSlice, greeterSlice]);
    assert.deepEqual(a.problems(), []);
    for (const type of [TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Route, TypeUrl.Listener]) {
      assert.equal(a.version(type), b.version(type), type);
    }
    assert.equal(a.resources(TypeUrl.Cluster).size, 3);
  });
});

describe("which ports and services", () => {
  it("skips UDP and SCTP ports and keeps ports with no protocol (TCP by default)", () => {
    const svc = service("greeter-service");
    svc.spec = {
      ports: [
        { name: "dns", port: 53, protocol: "UDP" },
        { name: "sctp", port: 9999, protocol: "SCTP" },
        { name: "plain", port: 80 },
      ],
    };
    assert.deepEqual(
      servicePorts(svc).map((p) => p.name),
      ["plain"],
    );
  });

  it("skips ExternalName Services: they have no endpoints", () => {
    const resources = translate([service("legacy-billing-service")], []);
    assert.equal(resources.clusters.length, 0);
  });

  it("gives a Service without any EndpointSlice a cluster with an empty assignment", () => {
    const resources = translate([greeter], []);
    assert.equal(resources.clusters.length, 2);
    assert.deepEqual(resources.endpoints[0]?.endpoints, []);
  });
});

describe("ready endpoints only", () => {
  it("drops endpoints whose conditions.ready is false", () => {
    const endpoints = readyEndpoints(greeter, grpcPort, [greeterSlice]);
    assert.deepEqual(
      endpoints.map((e) => e.address),
      ["10.244.1.12", "10.244.2.7"],
    );
    assert.ok(!endpoints.some((e) => e.address === "10.244.1.15"), "the not-ready pod is left out");
  });

  it("keeps endpoints with no conditions or no ready condition (the API says: unknown means ready)", () => {
    const s = slice("greeter-endpointslice");
    s.endpoints = [
      { addresses: ["10.0.0.1"] },
      { addresses: ["10.0.0.2"], conditions: {} },
      { addresses: ["10.0.0.3"], conditions: { ready: false, serving: true, terminating: true } },
    ];
    assert.deepEqual(
      readyEndpoints(greeter, grpcPort, [s]).map((e) => e.address),
      ["10.0.0.1", "10.0.0.2"],
    );
  });

  it("uses the EndpointSlice port whose name matches the Service port, i.e. the target port", () => {
    const [metricsPort] = servicePorts(greeter).filter((p) => p.name === "metrics");
    assert.ok(metricsPort);
    assert.deepEqual(
      readyEndpoints(greeter, grpcPort, [greeterSlice]).map((e) => e.port),
      [8080, 8080],
    );
    assert.deepEqual(
      readyEndpoints(greeter, metricsPort, [greeterSlice]).map((e) => e.port),
      [9090, 9090],
    );
  });

  it("ignores slices of other Services, other namespaces, FQDN slices, and unmatched ports", () => {
    const other = slice("greeter-endpointslice");
    other.metadata = { ...other.metadata, labels: { "kubernetes.io/service-name": "checkout" } };
    const elsewhere = slice("greeter-endpointslice");
    elsewhere.metadata = { ...elsewhere.metadata, namespace: "staging" };
    const fqdn = slice("greeter-endpointslice");
    fqdn.addressType = "FQDN";
    fqdn.endpoints = [{ addresses: ["greeter.example.com"] }];
    const noPort = slice("greeter-endpointslice");
    noPort.ports = [{ name: "http", port: 80, protocol: "TCP" }];
    assert.deepEqual(readyEndpoints(greeter, grpcPort, [other, elsewhere, fqdn, noPort]), []);
  });

  it("lists an address:port found in two slices once, with each endpoint's first address", () => {
    const second = slice("greeter-endpointslice");
    second.metadata = { ...second.metadata, name: "greeter-9fz3w" };
    second.endpoints = [
      { addresses: ["10.244.2.7", "10.244.2.8"], zone: "europe-west1-c" },
      { addresses: ["10.244.4.2", "10.244.4.3"], zone: "europe-west1-d" },
    ];
    assert.deepEqual(
      readyEndpoints(greeter, grpcPort, [greeterSlice, second]).map((e) => `${e.address}:${e.port}`),
      ["10.244.1.12:8080", "10.244.2.7:8080", "10.244.4.2:8080"],
    );
  });
});

describe("localities and weights", () => {
  it("puts each zone in its own locality, from the endpoint's zone", () => {
    const cla = clusterLoadAssignment("shop/greeter:50051", readyEndpoints(greeter, grpcPort, [greeterSlice]));
    assert.equal(cla.clusterName, "shop/greeter:50051");
    assert.deepEqual(localities(cla), [
      { zone: "europe-west1-b", weight: 1, hosts: ["10.244.1.12:8080"] },
      { zone: "europe-west1-c", weight: 1, hosts: ["10.244.2.7:8080"] },
    ]);
  });

  it("weights every locality by its endpoint count, so that each endpoint gets an equal share", () => {
    const s: V1EndpointSlice = {
      ...slice("greeter-endpointslice"),
      endpoints: [
        { addresses: ["10.0.1.1"], zone: "z-a" },
        { addresses: ["10.0.1.2"], zone: "z-a" },
        { addresses: ["10.0.1.3"], zone: "z-a" },
        { addresses: ["10.0.2.1"], zone: "z-b" },
        { addresses: ["10.0.9.9"] },
      ],
    };
    const cla = clusterLoadAssignment("c", readyEndpoints(greeter, grpcPort, [s]));
    assert.deepEqual(
      localities(cla).map(({ zone, weight }) => ({ zone, weight })),
      [
        { zone: "", weight: 1 },
        { zone: "z-a", weight: 3 },
        { zone: "z-b", weight: 1 },
      ],
    );
    for (const locality of cla.endpoints)
      assert.ok((locality.loadBalancingWeight ?? 0) > 0, "gRPC drops weightless localities");
  });

  it("has no locality at all when no endpoint is ready", () => {
    const s = slice("greeter-endpointslice");
    for (const endpoint of s.endpoints) endpoint.conditions = { ready: false };
    assert.deepEqual(clusterLoadAssignment("c", readyEndpoints(greeter, grpcPort, [s])).endpoints, []);
  });

  it("places IPv6 endpoints with their address as given", () => {
    const s: V1EndpointSlice = {
      ...slice("greeter-endpointslice"),
      addressType: "IPv6",
      endpoints: [{ addresses: ["fd00:10:244::c"], zone: "z-a" }],
    };
    const svc: V1Service = service("greeter-service");
    assert.deepEqual(localities(clusterLoadAssignment("c", readyEndpoints(svc, grpcPort, [s]))), [
      { zone: "z-a", weight: 1, hosts: ["fd00:10:244::c:8080"] },
    ]);
  });
});
