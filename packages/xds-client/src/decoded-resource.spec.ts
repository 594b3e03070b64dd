import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema, DurationSchema } from "@bufbuild/protobuf/wkt";
import { makeCluster, makeEndpoints } from "@nebucloud/xds-cache/testing";
import { defaultResourceTypes, Resource, TypeUrl, XdsError } from "@nebucloud/xds-core";
import {
  DeltaDiscoveryResponseSchema,
  DiscoveryResponseSchema,
  ResourceSchema as WireResourceSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { decodeDeltaResources, decodeSotwResources } from "./decoded-resource.js";

const cluster = Resource.from(TypeUrl.Cluster, makeCluster("c"));
const any = (r: Resource) => create(AnySchema, { typeUrl: r.typeUrl, value: r.bytes });
const wrapper = (init: { name: string; version: string; ttlMs?: number; body?: Resource }) =>
  create(WireResourceSchema, {
    name: init.name,
    version: init.version,
    ...(init.ttlMs
      ? {
          ttl: create(DurationSchema, {
            seconds: BigInt(Math.floor(init.ttlMs / 1000)),
            nanos: (init.ttlMs % 1000) * 1e6,
          }),
        }
      : {}),
    ...(init.body ? { resource: any(init.body) } : {}),
  });

describe("decoding SotW responses", () => {
  it("names a bare resource by its type's name function and keeps its bytes", () => {
    const [decoded] = decodeSotwResources(
      create(DiscoveryResponseSchema, { typeUrl: TypeUrl.Cluster, resources: [any(cluster)] }),
      defaultResourceTypes,
    );
    assert.equal(decoded?.name, "c");
    assert.equal(decoded?.resource?.version, cluster.version);
    assert.equal(decoded?.ttlMs, undefined);
  });

  it("unwraps discovery.v3.Resource with its TTL", () => {
    const wrapped = create(AnySchema, {
      typeUrl: TypeUrl.Resource,
      value: toBinary(WireResourceSchema, wrapper({ name: "c", version: "v9", ttlMs: 1500, body: cluster })),
    });
    const [decoded] = decodeSotwResources(
      create(DiscoveryResponseSchema, { typeUrl: TypeUrl.Cluster, resources: [wrapped] }),
      defaultResourceTypes,
    );
    assert.deepEqual([decoded?.name, decoded?.version, decoded?.ttlMs], ["c", "v9", 1500]);
    assert.equal(decoded?.resource?.ttlMs, 1500);
  });

  it("reads a wrapper without a body as a heartbeat", () => {
    const wrapped = create(AnySchema, {
      typeUrl: TypeUrl.Resource,
      value: toBinary(WireResourceSchema, wrapper({ name: "c", version: "v9", ttlMs: 1000 })),
    });
    const [decoded] = decodeSotwResources(
      create(DiscoveryResponseSchema, { typeUrl: TypeUrl.Cluster, resources: [wrapped] }),
      defaultResourceTypes,
    );
    assert.equal(decoded?.resource, undefined);
    assert.equal(decoded?.name, "c");
  });

  it("refuses a resource of another type than the response's", () => {
    const endpoints = Resource.from(TypeUrl.Endpoint, makeEndpoints("c", 1));
    assert.throws(
      () =>
        decodeSotwResources(
          create(DiscoveryResponseSchema, { typeUrl: TypeUrl.Cluster, resources: [any(endpoints)] }),
          defaultResourceTypes,
        ),
      (e: unknown) => e instanceof XdsError && e.code === "deserialization" && /ClusterLoadAssignment/.test(e.message),
    );
  });

  it("refuses bytes that do not decode", () => {
    const broken = create(AnySchema, { typeUrl: TypeUrl.Cluster, value: new Uint8Array([0xff, 0xff, 0xff]) });
    assert.throws(
      () =>
        decodeSotwResources(
          create(DiscoveryResponseSchema, { typeUrl: TypeUrl.Cluster, resources: [broken] }),
          defaultResourceTypes,
        ),
      (e: unknown) => e instanceof XdsError && e.code === "deserialization",
    );
  });

  it("refuses two resources with one name", () => {
    assert.throws(
      () =>
        decodeSotwResources(
          create(DiscoveryResponseSchema, { typeUrl: TypeUrl.Cluster, resources: [any(cluster), any(cluster)] }),
          defaultResourceTypes,
        ),
      /two .* resources named "c"/,
    );
  });
});

describe("decoding delta responses", () => {
  it("takes names and versions from the wrapper, so opaque names pass through", () => {
    const name = "xdstp://authority/envoy.config.cluster.v3.Cluster/c";
    const [decoded] = decodeDeltaResources(
      create(DeltaDiscoveryResponseSchema, {
        typeUrl: TypeUrl.Cluster,
        resources: [wrapper({ name, version: "server-v1", body: cluster })],
      }),
      defaultResourceTypes,
    );
    assert.deepEqual([decoded?.name, decoded?.version], [name, "server-v1"]);
    assert.equal(decoded?.resource?.name, name);
  });
});
