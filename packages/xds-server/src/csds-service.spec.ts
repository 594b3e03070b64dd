import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClientResourceStatus } from "@nebucloud/xds-proto/envoy/admin/v3/config_dump_shared_pb";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { SecretSchema } from "@nebucloud/xds-proto/envoy/extensions/transport_sockets/tls/v3/secret_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  DeltaDiscoveryRequestSchema,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import {
  type ClientConfig,
  type ClientConfig_GenericXdsConfig,
  ClientStatusDiscoveryService,
  ClientStatusRequestSchema,
  ConfigStatus,
} from "@nebucloud/xds-proto/envoy/service/status/v3/csds_pb";
import type { NodeMatcherSchema } from "@nebucloud/xds-proto/envoy/type/matcher/v3/node_pb";
import { XdsServer, type XdsServerHandle } from "./index.js";
import { requestQueue } from "./test-support/request-queue.js";

/** An ADS client stream driven step by step. */
function ads(transport: Transport, nodeId: string, metadata?: Record<string, string>) {
  const requests = requestQueue(DiscoveryRequestSchema);
  const responses = createClient(AggregatedDiscoveryService, transport)
    .streamAggregatedResources(requests)
    [Symbol.asyncIterator]();
  let first = true;
  return {
    request(init: Partial<DiscoveryRequest>) {
      const node = first ? { node: create(NodeSchema, { id: nodeId, ...(metadata ? { metadata } : {}) }) } : {};
      first = false;
      requests.push(create(DiscoveryRequestSchema, { ...init, ...node } as never));
    },
    async next(): Promise<DiscoveryResponse> {
      const result = await responses.next();
      assert.ok(!result.done, "the stream ended");
      return result.value;
    },
    ack(response: DiscoveryResponse, resourceNames: string[] = []) {
      this.request({
        typeUrl: response.typeUrl,
        versionInfo: response.versionInfo,
        responseNonce: response.nonce,
        resourceNames,
      });
    },
    nack(response: DiscoveryResponse, message: string, resourceNames: string[] = []) {
      this.request({
        typeUrl: response.typeUrl,
        responseNonce: response.nonce,
        resourceNames,
        errorDetail: { code: 3, message },
      } as Partial<DiscoveryRequest>);
    },
    async close() {
      requests.end();
      for (let r = await responses.next(); !r.done; r = await responses.next()) {}
    },
  };
}

/** Retries `check` until it stops throwing (the server handles requests asynchronously). */
async function eventually<T>(check: () => Promise<T>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function matcher(
  nodeId: MessageInitShape<typeof NodeMatcherSchema>["nodeId"],
): MessageInitShape<typeof NodeMatcherSchema> {
  return { nodeId };
}

function resource(config: ClientConfig | undefined, typeUrl: string, name: string): ClientConfig_GenericXdsConfig {
  const found = config?.genericXdsConfigs.find((c) => c.typeUrl === typeUrl && c.name === name);
  assert.ok(found, `no ${typeUrl} ${name} in ${JSON.stringify(config?.genericXdsConfigs.map((c) => c.name))}`);
  return found;
}

const cla = (name: string) => create(ClusterLoadAssignmentSchema, { clusterName: name });

describe("CSDS", () => {
  const cache = new SnapshotCache();
  let server: XdsServerHandle;
  let transport: Transport;
  let csds: ReturnType<typeof createClient<typeof ClientStatusDiscoveryService>>;
  const streams: ReturnType<typeof ads>[] = [];
  const fetchNode = async (nodeId: string) => {
    const response = await csds.fetchClientStatus({
      nodeMatchers: [matcher({ matchPattern: { case: "exact", value: nodeId } })],
    });
    assert.equal(response.config.length, 1);
    return response.config[0];
  };

  before(async () => {
    const secret = create(SecretSchema, {
      name: "s1",
      type: { case: "genericSecret", value: { secret: { specifier: { case: "inlineString", value: "hunter2" } } } },
    });
    cache.setSnapshot(
      "envoy-ok",
      Snapshot.fromResources({
        [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })],
        [TypeUrl.Secret]: [secret],
        [TypeUrl.Endpoint]: [cla("e1")],
      }),
    );
    cache.setSnapshot(
      "envoy-nack",
      Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })] }),
    );
    cache.setSnapshot("grpc-missing", Snapshot.fromResources({ [TypeUrl.Endpoint]: [cla("e1")] }));
    // grpc-nosnap has no snapshot: its request waits.
    server = await XdsServer.builder().withCache(cache).withConfig({ drainTimeoutMs: 200 }).serve("127.0.0.1:0");
    transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
    csds = createClient(ClientStatusDiscoveryService, transport);
  });
  after(async () => {
    await Promise.all(streams.map((s) => s.close()));
    await server.shutdown();
    cache.close();
  });

  it("shows a resource the client ACKed as ACKED with the response version and its contents", async () => {
    const client = ads(transport, "envoy-ok");
    streams.push(client);
    client.request({ typeUrl: TypeUrl.Cluster });
    const response = await client.next();
    client.ack(response);
    const config = await eventually(async () => {
      const c = await fetchNode("envoy-ok");
      assert.equal(resource(c, TypeUrl.Cluster, "c1").clientStatus, ClientResourceStatus.ACKED);
      return c;
    });
    assert.equal(config?.node?.id, "envoy-ok");
    const c1 = resource(config, TypeUrl.Cluster, "c1");
    assert.equal(c1.versionInfo, response.versionInfo);
    assert.equal(c1.configStatus, ConfigStatus.SYNCED);
    assert.equal(c1.xdsConfig?.typeUrl, TypeUrl.Cluster);
    assert.deepEqual(c1.xdsConfig?.value, response.resources[0]?.value);
  });

  it("withholds the contents of Secrets but shows their status", async () => {
    const client = streams[0];
    assert.ok(client);
    client.request({ typeUrl: TypeUrl.Secret, resourceNames: ["s1"] });
    const response = await client.next();
    assert.equal(response.typeUrl, TypeUrl.Secret);
    client.ack(response, ["s1"]);
    const s1 = await eventually(async () => {
      const found = resource(await fetchNode("envoy-ok"), TypeUrl.Secret, "s1");
      assert.equal(found.clientStatus, ClientResourceStatus.ACKED);
      return found;
    });
    assert.equal(s1.xdsConfig, undefined);
    assert.equal(s1.versionInfo, response.versionInfo);
  });

  it("omits every resource's contents when exclude_resource_contents is set", async () => {
    const response = await csds.fetchClientStatus({
      nodeMatchers: [matcher({ matchPattern: { case: "exact", value: "envoy-ok" } })],
      excludeResourceContents: true,
    });
    const c1 = resource(response.config[0], TypeUrl.Cluster, "c1");
    assert.equal(c1.clientStatus, ClientResourceStatus.ACKED);
    assert.equal(c1.xdsConfig, undefined);
  });

  it("merges several streams of one node into one ClientConfig", async () => {
    const second = ads(transport, "envoy-ok");
    streams.push(second);
    second.request({ typeUrl: TypeUrl.Endpoint, resourceNames: ["e1"] });
    const response = await second.next();
    second.ack(response, ["e1"]);
    const config = await eventually(async () => {
      const c = await fetchNode("envoy-ok");
      assert.equal(resource(c, TypeUrl.Endpoint, "e1").clientStatus, ClientResourceStatus.ACKED);
      return c;
    });
    assert.equal(resource(config, TypeUrl.Cluster, "c1").clientStatus, ClientResourceStatus.ACKED);
  });

  it("shows a resource whose response the client NACKed as NACKED with its error text", async () => {
    const client = ads(transport, "envoy-nack");
    streams.push(client);
    client.request({ typeUrl: TypeUrl.Cluster });
    const response = await client.next();
    client.nack(response, "cluster c1: unknown field");
    const c1 = await eventually(async () => {
      const found = resource(await fetchNode("envoy-nack"), TypeUrl.Cluster, "c1");
      assert.equal(found.clientStatus, ClientResourceStatus.NACKED);
      return found;
    });
    assert.equal(c1.errorState?.details, "cluster c1: unknown field");
    assert.equal(c1.errorState?.versionInfo, response.versionInfo);
    assert.equal(c1.configStatus, ConfigStatus.ERROR);
    // It never accepted a version.
    assert.equal(c1.versionInfo, "");
  });

  it("shows a subscribed name the cache lacks as DOES_NOT_EXIST once a response went out", async () => {
    const client = ads(transport, "grpc-missing");
    streams.push(client);
    client.request({ typeUrl: TypeUrl.Endpoint, resourceNames: ["e1", "missing"] });
    const response = await client.next();
    assert.deepEqual(
      response.resources.map((r) => r.typeUrl),
      [TypeUrl.Endpoint],
    );
    // Sent but not acknowledged yet: e1 is only REQUESTED.
    const before = await fetchNode("grpc-missing");
    assert.equal(resource(before, TypeUrl.Endpoint, "e1").clientStatus, ClientResourceStatus.REQUESTED);
    assert.equal(resource(before, TypeUrl.Endpoint, "missing").clientStatus, ClientResourceStatus.DOES_NOT_EXIST);
    client.ack(response, ["e1", "missing"]);
    const config = await eventually(async () => {
      const c = await fetchNode("grpc-missing");
      assert.equal(resource(c, TypeUrl.Endpoint, "e1").clientStatus, ClientResourceStatus.ACKED);
      return c;
    });
    assert.equal(resource(config, TypeUrl.Endpoint, "missing").clientStatus, ClientResourceStatus.DOES_NOT_EXIST);
  });

  it("shows a subscribed name as REQUESTED while no response has been sent", async () => {
    const client = ads(transport, "grpc-nosnap", { region: "eu-west" });
    streams.push(client);
    client.request({ typeUrl: TypeUrl.Endpoint, resourceNames: ["x"] });
    const x = await eventually(async () => resource(await fetchNode("grpc-nosnap"), TypeUrl.Endpoint, "x"));
    assert.equal(x.clientStatus, ClientResourceStatus.REQUESTED);
    assert.equal(x.configStatus, ConfigStatus.UNKNOWN);
    assert.equal(x.versionInfo, "");
  });

  it("filters nodes by a node_id prefix", async () => {
    const response = await csds.fetchClientStatus({
      nodeMatchers: [matcher({ matchPattern: { case: "prefix", value: "grpc-" } })],
    });
    assert.deepEqual(
      response.config.map((c) => c.node?.id),
      ["grpc-missing", "grpc-nosnap"],
    );
  });

  it("returns every node without matchers, and ORs several matchers", async () => {
    const all = await csds.fetchClientStatus({});
    assert.deepEqual(
      all.config.map((c) => c.node?.id),
      ["envoy-nack", "envoy-ok", "grpc-missing", "grpc-nosnap"],
    );
    const some = await csds.fetchClientStatus({
      nodeMatchers: [
        matcher({ matchPattern: { case: "suffix", value: "-NACK" }, ignoreCase: true }),
        matcher({ matchPattern: { case: "safeRegex", value: { regex: "grpc-no.*" } } }),
      ],
    });
    assert.deepEqual(
      some.config.map((c) => c.node?.id),
      ["envoy-nack", "grpc-nosnap"],
    );
  });

  it("matches safe_regex against the whole node id", async () => {
    const response = await csds.fetchClientStatus({
      nodeMatchers: [matcher({ matchPattern: { case: "safeRegex", value: { regex: "grpc" } } })],
    });
    assert.equal(response.config.length, 0);
  });

  it("filters nodes by a string value of their metadata", async () => {
    const response = await csds.fetchClientStatus({
      nodeMatchers: [
        {
          nodeMetadatas: [
            {
              path: [{ segment: { case: "key", value: "region" } }],
              value: {
                matchPattern: { case: "stringMatch", value: { matchPattern: { case: "prefix", value: "eu-" } } },
              },
            },
          ],
        },
      ],
    });
    assert.deepEqual(
      response.config.map((c) => c.node?.id),
      ["grpc-nosnap"],
    );
  });

  it("refuses an invalid regex with INVALID_ARGUMENT", async () => {
    await assert.rejects(
      csds.fetchClientStatus({
        nodeMatchers: [matcher({ matchPattern: { case: "safeRegex", value: { regex: "(" } } })],
      }),
      (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && /safe_regex/.test(e.rawMessage),
    );
  });

  it("answers each request on StreamClientStatus", async () => {
    const requests = requestQueue(ClientStatusRequestSchema);
    const responses = csds.streamClientStatus(requests)[Symbol.asyncIterator]();
    requests.push(
      create(ClientStatusRequestSchema, {
        nodeMatchers: [matcher({ matchPattern: { case: "exact", value: "envoy-nack" } })],
      }),
    );
    const first = await responses.next();
    assert.deepEqual(
      first.value?.config.map((c: ClientConfig) => c.node?.id),
      ["envoy-nack"],
    );
    requests.push(
      create(ClientStatusRequestSchema, {
        nodeMatchers: [matcher({ matchPattern: { case: "contains", value: "missing" } })],
      }),
    );
    const second = await responses.next();
    assert.deepEqual(
      second.value?.config.map((c: ClientConfig) => c.node?.id),
      ["grpc-missing"],
    );
    requests.end();
    assert.equal((await responses.next()).done, true);
  });

  it("forgets a client once its stream closes", async () => {
    const client = ads(transport, "short-lived");
    client.request({ typeUrl: TypeUrl.Cluster });
    await eventually(async () => assert.equal((await csds.fetchClientStatus({})).config.length, 5));
    await client.close();
    await eventually(async () => {
      const ids = (await csds.fetchClientStatus({})).config.map((c) => c.node?.id);
      assert.ok(!ids.includes("short-lived"));
    });
  });
});

describe("CSDS of a delta stream", () => {
  const cache = new SnapshotCache();
  let server: XdsServerHandle;
  let transport: Transport;
  before(async () => {
    cache.setSnapshot(
      "delta-1",
      Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })] }),
    );
    server = await XdsServer.builder().withCache(cache).withConfig({ drainTimeoutMs: 200 }).serve("127.0.0.1:0");
    transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
  });
  after(async () => {
    await server.shutdown();
    cache.close();
  });

  it("shows what was sent as REQUESTED until the client ACKs, then ACKED with the resource's version", async () => {
    const csds = createClient(ClientStatusDiscoveryService, transport);
    const requests = requestQueue(DeltaDiscoveryRequestSchema);
    const responses = createClient(AggregatedDiscoveryService, transport)
      .deltaAggregatedResources(requests)
      [Symbol.asyncIterator]();
    requests.push(
      create(DeltaDiscoveryRequestSchema, {
        node: { id: "delta-1" },
        typeUrl: TypeUrl.Cluster,
        resourceNamesSubscribe: ["c1", "gone"],
      }),
    );
    const response = (await responses.next()).value;
    assert.equal(response?.resources[0]?.name, "c1");
    const version = response?.resources[0]?.version ?? "";
    const sent = (await csds.fetchClientStatus({})).config[0];
    assert.equal(resource(sent, TypeUrl.Cluster, "c1").clientStatus, ClientResourceStatus.REQUESTED);
    assert.equal(resource(sent, TypeUrl.Cluster, "c1").versionInfo, version);
    assert.equal(resource(sent, TypeUrl.Cluster, "gone").clientStatus, ClientResourceStatus.DOES_NOT_EXIST);
    requests.push(
      create(DeltaDiscoveryRequestSchema, { typeUrl: TypeUrl.Cluster, responseNonce: response?.nonce ?? "" }),
    );
    const c1 = await eventually(async () => {
      const found = resource((await csds.fetchClientStatus({})).config[0], TypeUrl.Cluster, "c1");
      assert.equal(found.clientStatus, ClientResourceStatus.ACKED);
      return found;
    });
    assert.equal(c1.versionInfo, version);
    assert.equal(c1.configStatus, ConfigStatus.SYNCED);
    assert.equal(c1.xdsConfig?.typeUrl, TypeUrl.Cluster);
    requests.end();
    for (let r = await responses.next(); !r.done; r = await responses.next()) {}
  });
});
