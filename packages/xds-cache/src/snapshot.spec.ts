import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Resource, TypeUrl, XdsError } from "@nebucloud/xds-core";
import { Cluster_DiscoveryType, ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import { RouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";
import { HttpConnectionManagerSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb";
import { Snapshot } from "./snapshot.js";

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.Endpoint;
const LDS = TypeUrl.Listener;
const RDS = TypeUrl.Route;

/** An EDS cluster; it asks for the endpoints named `serviceName` (its own name when empty). */
const edsCluster = (name: string, serviceName = "") =>
  create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName },
  });
const endpoints = (name: string, port = 8080) =>
  create(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: [
      {
        lbEndpoints: [
          {
            hostIdentifier: {
              case: "endpoint",
              value: {
                address: {
                  address: {
                    case: "socketAddress",
                    value: { address: "10.0.0.1", portSpecifier: { case: "portValue", value: port } },
                  },
                },
              },
            },
          },
        ],
      },
    ],
  });
/** A listener whose HttpConnectionManager takes its routes from RDS `routeName`. */
const httpListener = (name: string, routeName: string) =>
  create(ListenerSchema, {
    name,
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            configType: {
              case: "typedConfig",
              value: anyPack(
                HttpConnectionManagerSchema,
                create(HttpConnectionManagerSchema, {
                  statPrefix: name,
                  routeSpecifier: { case: "rds", value: { routeConfigName: routeName } },
                }),
              ),
            },
          },
        ],
      },
    ],
  });
const route = (name: string) => create(RouteConfigurationSchema, { name });

/** The XdsError `fn` throws, failing when it throws nothing or something else. */
function thrown(fn: () => unknown): XdsError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof XdsError, `expected an XdsError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected an XdsError, nothing was thrown");
}

describe("Snapshot.fromResources", () => {
  test("accepts bare messages and names them by their type", () => {
    const snapshot = Snapshot.fromResources({ [CDS]: [edsCluster("a"), edsCluster("b")] });
    assert.deepEqual([...snapshot.resources(CDS).keys()].sort(), ["a", "b"]);
    assert.equal(snapshot.resources(CDS).get("a")?.typeUrl, CDS);
  });

  test("accepts Resources and keeps them as given", () => {
    const resource = Resource.from(EDS, endpoints("svc"), { name: "renamed" });
    const snapshot = Snapshot.fromResources({ [EDS]: [resource] });
    assert.equal(snapshot.resources(EDS).get("renamed"), resource);
  });

  test("accepts a mix of messages and Resources in one type", () => {
    const snapshot = Snapshot.fromResources({ [EDS]: [endpoints("a"), Resource.from(EDS, endpoints("b"))] });
    assert.deepEqual([...snapshot.resources(EDS).keys()].sort(), ["a", "b"]);
  });

  test("rejects two resources of one type with the same name as invalid_config", () => {
    const error = thrown(() => Snapshot.fromResources({ [CDS]: [edsCluster("a"), edsCluster("a", "other")] }));
    assert.equal(error.code, "invalid_config");
    assert.deepEqual(error.details.names, ["a"]);
  });

  test("allows the same name in two different types", () => {
    const snapshot = Snapshot.fromResources({ [CDS]: [edsCluster("a")], [EDS]: [endpoints("a")] });
    assert.equal(snapshot.resources(CDS).size, 1);
    assert.equal(snapshot.resources(EDS).size, 1);
  });

  test("rejects a Resource listed under another type URL as invalid_config", () => {
    const error = thrown(() => Snapshot.fromResources({ [CDS]: [Resource.from(EDS, endpoints("a"))] }));
    assert.equal(error.code, "invalid_config");
  });

  test("holds no resources and lists no type for a type it was not given", () => {
    const snapshot = Snapshot.fromResources({ [CDS]: [edsCluster("a")] });
    assert.equal(snapshot.resources(LDS).size, 0);
    assert.deepEqual(snapshot.typeUrls(), [CDS]);
  });
});

describe("Snapshot.version", () => {
  test("is the same for the same resources given in a different order", () => {
    const a = Snapshot.fromResources({ [EDS]: [endpoints("a"), endpoints("b"), endpoints("c")] });
    const b = Snapshot.fromResources({ [EDS]: [endpoints("c"), endpoints("a"), endpoints("b")] });
    assert.equal(a.version(EDS), b.version(EDS));
  });

  test("is the same for equal content built as separate messages", () => {
    const a = Snapshot.fromResources({ [CDS]: [edsCluster("a")] });
    const b = Snapshot.fromResources({ [CDS]: [Resource.from(CDS, edsCluster("a"))] });
    assert.equal(a.version(CDS), b.version(CDS));
  });

  test("changes when one resource's content changes", () => {
    const a = Snapshot.fromResources({ [EDS]: [endpoints("a", 1), endpoints("b", 1)] });
    const b = Snapshot.fromResources({ [EDS]: [endpoints("a", 1), endpoints("b", 2)] });
    assert.notEqual(a.version(EDS), b.version(EDS));
  });

  test("changes when a resource is added or removed", () => {
    const two = Snapshot.fromResources({ [EDS]: [endpoints("a"), endpoints("b")] });
    const one = Snapshot.fromResources({ [EDS]: [endpoints("a")] });
    assert.notEqual(two.version(EDS), one.version(EDS));
  });

  test("of one type does not change when another type changes", () => {
    const a = Snapshot.fromResources({ [CDS]: [edsCluster("a")], [EDS]: [endpoints("a", 1)] });
    const b = Snapshot.fromResources({ [CDS]: [edsCluster("a")], [EDS]: [endpoints("a", 2)] });
    assert.equal(a.version(CDS), b.version(CDS));
    assert.notEqual(a.version(EDS), b.version(EDS));
  });
});

describe("Snapshot.consistent", () => {
  test("passes for an EDS cluster with its endpoints and a listener with its route", () => {
    const snapshot = Snapshot.fromResources({
      [CDS]: [edsCluster("web"), edsCluster("api", "api-endpoints")],
      [EDS]: [endpoints("web"), endpoints("api-endpoints")],
      [LDS]: [httpListener("http", "main")],
      [RDS]: [route("main")],
    });
    assert.deepEqual(snapshot.problems(), []);
    assert.doesNotThrow(() => snapshot.consistent());
  });

  test("reports an EDS cluster whose endpoints are missing, naming the cluster and the missing name", () => {
    const snapshot = Snapshot.fromResources({ [CDS]: [edsCluster("web", "web-endpoints")] });
    const error = thrown(() => snapshot.consistent());
    assert.equal(error.code, "invalid_config");
    assert.match(error.message, /"web"/);
    assert.match(error.message, /"web-endpoints"/);
    assert.deepEqual(snapshot.problems(), [
      { kind: "dangling", typeUrl: EDS, name: "web-endpoints", referencedBy: { typeUrl: CDS, name: "web" } },
    ]);
  });

  test("reports a listener whose route is missing, naming the listener and the missing route", () => {
    const snapshot = Snapshot.fromResources({ [LDS]: [httpListener("http", "main-routes")] });
    const error = thrown(() => snapshot.consistent());
    assert.equal(error.code, "invalid_config");
    assert.match(error.message, /"http"/);
    assert.match(error.message, /"main-routes"/);
    assert.deepEqual(snapshot.problems(), [
      { kind: "dangling", typeUrl: RDS, name: "main-routes", referencedBy: { typeUrl: LDS, name: "http" } },
    ]);
  });

  test("reports endpoints that no cluster refers to", () => {
    const snapshot = Snapshot.fromResources({
      [CDS]: [edsCluster("web")],
      [EDS]: [endpoints("web"), endpoints("orphan")],
    });
    const error = thrown(() => snapshot.consistent());
    assert.match(error.message, /"orphan"/);
    assert.deepEqual(snapshot.problems(), [{ kind: "unreferenced", typeUrl: EDS, name: "orphan" }]);
  });

  test("reports a route that no listener refers to", () => {
    const snapshot = Snapshot.fromResources({
      [LDS]: [httpListener("http", "main")],
      [RDS]: [route("main"), route("unused")],
    });
    const error = thrown(() => snapshot.consistent());
    assert.match(error.message, /"unused"/);
    assert.deepEqual(snapshot.problems(), [{ kind: "unreferenced", typeUrl: RDS, name: "unused" }]);
  });

  test("does not ask a STATIC cluster for endpoints", () => {
    const snapshot = Snapshot.fromResources({
      [CDS]: [
        create(ClusterSchema, {
          name: "static",
          clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.STATIC },
        }),
      ],
    });
    assert.doesNotThrow(() => snapshot.consistent());
  });
});
