import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DescMessage } from "@bufbuild/protobuf";
import { AdsSendOrder, defaultResourceTypes, FullStateTypes, sendRank, TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { TypedExtensionConfigSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/extension_pb";
import { LbEndpointSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_components_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import { VirtualHostSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_components_pb";
import { RouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";
import { ScopedRouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/scoped_route_pb";
import { SecretSchema } from "@nebucloud/xds-proto/envoy/extensions/transport_sockets/tls/v3/secret_pb";
import { ResourceSchema } from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { RuntimeSchema } from "@nebucloud/xds-proto/envoy/service/runtime/v3/rtds_pb";

const schemaOf: Record<keyof typeof TypeUrl, DescMessage> = {
  Cluster: ClusterSchema,
  Endpoint: ClusterLoadAssignmentSchema,
  LbEndpoint: LbEndpointSchema,
  Listener: ListenerSchema,
  Route: RouteConfigurationSchema,
  ScopedRoute: ScopedRouteConfigurationSchema,
  VirtualHost: VirtualHostSchema,
  Secret: SecretSchema,
  Runtime: RuntimeSchema,
  ExtensionConfig: TypedExtensionConfigSchema,
  Resource: ResourceSchema,
};

const rank = (typeUrl: string) => AdsSendOrder.indexOf(typeUrl);

describe("TypeUrl", () => {
  for (const [short, schema] of Object.entries(schemaOf)) {
    it(`gives ${short} the URL type.googleapis.com/${schema.typeName}`, () => {
      assert.equal(TypeUrl[short as keyof typeof TypeUrl], `type.googleapis.com/${schema.typeName}`);
    });
  }

  it("registers every discovery type but the Resource wrapper in the default registry, under its own schema", () => {
    for (const [short, schema] of Object.entries(schemaOf)) {
      if (short === "Resource") continue;
      const type = defaultResourceTypes.get(TypeUrl[short as keyof typeof TypeUrl]);
      assert.equal(type?.schema.typeName, schema.typeName, short);
    }
  });
});

describe("AdsSendOrder", () => {
  it("holds every discovery type URL once, and not the Resource wrapper", () => {
    const expected = Object.values(TypeUrl).filter((url) => url !== TypeUrl.Resource);
    assert.deepEqual([...AdsSendOrder].sort(), [...expected].sort());
  });

  it("sends clusters before endpoints", () => {
    assert.ok(rank(TypeUrl.Cluster) < rank(TypeUrl.Endpoint));
  });

  it("sends clusters and endpoints before listeners", () => {
    assert.ok(rank(TypeUrl.Endpoint) < rank(TypeUrl.Listener));
    assert.ok(rank(TypeUrl.LbEndpoint) < rank(TypeUrl.Listener));
  });

  it("sends listeners before routes", () => {
    assert.ok(rank(TypeUrl.Listener) < rank(TypeUrl.Route));
  });

  it("sends scoped routes after the listeners that name them", () => {
    assert.ok(rank(TypeUrl.Listener) < rank(TypeUrl.ScopedRoute));
  });

  it("cannot be changed", () => {
    assert.ok(Object.isFrozen(AdsSendOrder));
  });
});

describe("sendRank", () => {
  it("is a type's position in AdsSendOrder", () => {
    AdsSendOrder.forEach((typeUrl, i) => {
      assert.equal(sendRank(typeUrl), i);
    });
  });

  it("ranks a type URL it does not know after every Envoy type", () => {
    assert.equal(sendRank("type.googleapis.com/example.Custom"), AdsSendOrder.length);
  });

  it("sorts clusters before endpoints before listeners before routes", () => {
    const urls = [
      TypeUrl.Route,
      "type.googleapis.com/example.Custom",
      TypeUrl.Listener,
      TypeUrl.Endpoint,
      TypeUrl.Cluster,
    ];
    assert.deepEqual(
      urls.sort((a, b) => sendRank(a) - sendRank(b)),
      [TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Listener, TypeUrl.Route, "type.googleapis.com/example.Custom"],
    );
  });
});

describe("FullStateTypes", () => {
  it("holds clusters and listeners only", () => {
    assert.deepEqual([...FullStateTypes].sort(), [TypeUrl.Cluster, TypeUrl.Listener].sort());
  });
});
