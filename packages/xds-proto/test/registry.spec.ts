import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  create,
  type DescMessage,
  equals,
  fromBinary,
  fromJson,
  type JsonValue,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { AnySchema, anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { messageSchema, protoSource, ResourceTypeUrl, registry } from "@nebucloud/xds-proto";
import { Cluster_DiscoveryType, ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { RouterSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/http/router/v3/router_pb";
import { HttpConnectionManagerSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb";
import { sampleMessage } from "./sample-message.js";

const messages = [...registry].filter((t): t is DescMessage => t.kind === "message");

describe("the registry", () => {
  it("holds every generated message (more than a thousand)", () => {
    assert.ok(messages.length > 1000, `only ${messages.length} messages`);
  });

  it("round-trips a populated sample of every message through binary", () => {
    for (const schema of messages) {
      const sample = sampleMessage(schema);
      const decoded = fromBinary(schema, toBinary(schema, sample));
      assert.ok(equals(schema, sample, decoded), `${schema.typeName} changed in a binary round trip`);
    }
  });

  it("round-trips a populated sample of every message through proto3 JSON with typed Any", () => {
    for (const schema of messages) {
      const sample = sampleMessage(schema);
      const json = toJson(schema, sample, { registry });
      const decoded = fromJson(schema, json, { registry });
      assert.ok(equals(schema, sample, decoded), `${schema.typeName} changed in a JSON round trip`);
    }
  });

  it("packs a Cluster in Any and unpacks it by type URL", () => {
    const cluster = create(ClusterSchema, {
      name: "backend",
      clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    });
    const any = anyPack(ClusterSchema, cluster);
    assert.equal(any.typeUrl, ResourceTypeUrl.Cluster);
    const unpacked = anyUnpack(any, registry);
    assert.ok(unpacked && equals(ClusterSchema, cluster, unpacked as never));
  });

  it("packs an HttpConnectionManager whose filters hold typed Any, through JSON and back", () => {
    const hcm = create(HttpConnectionManagerSchema, {
      statPrefix: "ingress",
      routeSpecifier: { case: "rds", value: { routeConfigName: "local_route" } },
      httpFilters: [
        {
          name: "envoy.filters.http.router",
          configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) },
        },
      ],
    });
    const any = anyPack(HttpConnectionManagerSchema, hcm);
    const json = toJson(AnySchema, any, { registry }) as Record<string, unknown>;
    assert.equal(
      json["@type"],
      "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    );
    const unpacked = anyUnpack(fromJson(AnySchema, json as JsonValue, { registry }), registry);
    assert.ok(unpacked && equals(HttpConnectionManagerSchema, hcm, unpacked as never));
  });
});

describe("resource type URLs", () => {
  it("each equals type.googleapis.com/ plus its descriptor's full name", () => {
    for (const [name, typeUrl] of Object.entries(ResourceTypeUrl)) {
      const schema = messageSchema(typeUrl);
      assert.ok(schema, `${name}: ${typeUrl} is not in the registry`);
      assert.equal(typeUrl, `type.googleapis.com/${schema.typeName}`);
      assert.equal(schema.name, name);
    }
  });
});

describe("proto source metadata", () => {
  it("records the data-plane-api and cncf/xds commits", () => {
    assert.match(protoSource["api-commit"], /^[0-9a-f]{40}$/);
    assert.match(protoSource["api-date"], /^\d{4}-\d{2}-\d{2}$/);
    assert.match(protoSource["xds-commit"], /^[0-9a-f]{40}$/);
    assert.match(protoSource.protoHash, /^[0-9a-f]{64}$/);
  });
});
