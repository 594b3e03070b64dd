import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl, XdsError } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { StatusSchema } from "@nebucloud/xds-proto/google/rpc/status_pb";
import { type AdminServer, restGateway, startAdminServer, XdsServer, type XdsServerHandle } from "./index.js";
import { requestQueue } from "./test-support/request-queue.js";

/** An ADS stream for `nodeId` and the first cluster response on it. */
async function openAds(transport: ReturnType<typeof createGrpcTransport>, nodeId: string) {
  const client = createClient(AggregatedDiscoveryService, transport);
  const requests = requestQueue(DiscoveryRequestSchema);
  const node = create(NodeSchema, { id: nodeId, cluster: "edge" });
  requests.push({ node, typeUrl: TypeUrl.Cluster });
  const responses = client.streamAggregatedResources(requests)[Symbol.asyncIterator]();
  const first = await responses.next();
  assert.equal(first.done, false);
  const response = first.value as DiscoveryResponse;
  return {
    node,
    requests,
    response,
    /** Ends the stream and waits for the server to end it too. */
    async end() {
      requests.end();
      for (let r = await responses.next(); !r.done; r = await responses.next()) {}
    },
  };
}

/** Retries `check` until it stops throwing or the deadline passes. */
async function eventually<T>(check: () => Promise<T>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

interface StreamJson {
  id: number;
  kind: string;
  method: string;
  node: { id: string; cluster: string } | null;
  openedAt: string;
  types: {
    typeUrl: string;
    wildcard: boolean;
    subscribed: string[];
    sentVersion: string;
    ackedVersion: string;
    nack: { version: string; message: string } | null;
    resources: Record<string, string>;
  }[];
}

describe("admin server next to a running xDS server", () => {
  const cache = new SnapshotCache();
  let server: XdsServerHandle;
  let admin: AdminServer;
  let base: string;
  let transport: ReturnType<typeof createGrpcTransport>;
  before(async () => {
    const snapshot = Snapshot.fromResources({
      [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })],
    });
    cache.setSnapshot("n1", snapshot);
    cache.setSnapshot("n2", snapshot);
    server = await XdsServer.builder()
      .withCache(cache)
      .withMetrics()
      .withHealthService()
      .withConfig({ drainTimeoutMs: 200 })
      .serve("127.0.0.1:0");
    admin = await startAdminServer({
      address: "127.0.0.1:0",
      handle: server,
      cache,
      extraDebug: { build: () => ({ version: "1.2.3", counter: 7n, tags: new Set(["a"]) }) },
      statusPage(_req, res) {
        res.setHeader("content-type", "text/html");
        res.end("<h1>xDS</h1>");
      },
      rest: restGateway({ cache }),
    });
    base = `http://${admin.address}`;
    transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
  });
  after(async () => {
    await admin.close();
    await server.shutdown();
    cache.close();
  });

  it("binds the given host with a real port", () => {
    assert.ok(admin.port > 0);
    assert.equal(admin.address, `127.0.0.1:${admin.port}`);
  });

  it("answers /healthz with 200 ok", async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).trim(), "ok");
  });

  it("answers /readyz with 200 while the xDS server is SERVING", async () => {
    const res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 200);
  });

  it("serves the handle's Prometheus metrics at /metrics", async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    assert.match(await res.text(), /xds_server_streams_total/);
  });

  it("lists an open ADS stream with its node and ACKed version at /debug/streams", async () => {
    const ads = await openAds(transport, "n1");
    try {
      const version = ads.response.versionInfo;
      ads.requests.push({
        node: ads.node,
        typeUrl: TypeUrl.Cluster,
        versionInfo: version,
        responseNonce: ads.response.nonce,
      });
      const stream = await eventually(async () => {
        const res = await fetch(`${base}/debug/streams`);
        assert.equal(res.status, 200);
        const { streams } = (await res.json()) as { streams: StreamJson[] };
        const found = streams.find((s) => s.node?.id === "n1");
        assert.ok(found, "the n1 stream is listed");
        assert.equal(found.types[0]?.ackedVersion, version);
        return found;
      });
      assert.equal(stream.kind, "sotw");
      assert.match(stream.method, /StreamAggregatedResources$/);
      assert.equal(stream.node?.cluster, "edge");
      assert.ok(!Number.isNaN(Date.parse(stream.openedAt)));
      const type = stream.types[0];
      assert.equal(type?.typeUrl, TypeUrl.Cluster);
      assert.equal(type?.wildcard, true);
      assert.equal(type?.sentVersion, version);
      assert.equal(type?.nack, null);
      assert.deepEqual(Object.keys(type?.resources ?? {}), ["c1"]);
    } finally {
      await ads.end();
    }
  });

  it("shows a NACK with its message at /debug/nacks", async () => {
    const ads = await openAds(transport, "n2");
    try {
      ads.requests.push({
        node: ads.node,
        typeUrl: TypeUrl.Cluster,
        responseNonce: ads.response.nonce,
        errorDetail: create(StatusSchema, { code: 3, message: "cluster c1: bad lb policy" }),
      });
      const nack = await eventually(async () => {
        const res = await fetch(`${base}/debug/nacks`);
        assert.equal(res.status, 200);
        const { nacks } = (await res.json()) as {
          nacks: { node: { id: string }; typeUrl: string; version: string; message: string }[];
        };
        const found = nacks.find((n) => n.node.id === "n2");
        assert.ok(found, "the n2 NACK is listed");
        return found;
      });
      assert.equal(nack.typeUrl, TypeUrl.Cluster);
      assert.equal(nack.version, ads.response.versionInfo);
      assert.equal(nack.message, "cluster c1: bad lb policy");
    } finally {
      await ads.end();
    }
  });

  it("shows the cache's nodes with their versions at /debug/nodes", async () => {
    const res = await fetch(`${base}/debug/nodes`);
    assert.equal(res.status, 200);
    const { nodes } = (await res.json()) as {
      nodes: { nodeKey: string; watches: number; versions: Record<string, string>; lastRequestTime: string | null }[];
    };
    const n1 = nodes.find((n) => n.nodeKey === "n1");
    assert.ok(n1);
    assert.ok(n1.versions[TypeUrl.Cluster]);
    assert.equal(typeof n1.watches, "number");
  });

  it("serves extraDebug pages as JSON at /debug/<key>", async () => {
    const res = await fetch(`${base}/debug/build`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { version: "1.2.3", counter: "7", tags: ["a"] });
    const index = (await (await fetch(`${base}/debug`)).json()) as { pages: string[] };
    assert.ok(index.pages.includes("/debug/build"));
  });

  it("serves / from the status page", async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "<h1>xDS</h1>");
  });

  it("mounts the REST gateway at /v3/discovery:*", async () => {
    const res = await fetch(`${base}/v3/discovery:clusters`, {
      method: "POST",
      body: JSON.stringify({ node: { id: "n1" } }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { resources: { "@type"?: string; name?: string }[] };
    assert.equal(body.resources[0]?.["@type"], TypeUrl.Cluster);
  });

  it("answers unknown paths with a 404 JSON body", async () => {
    for (const path of ["/nope", "/debug/nope"]) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 404);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(body.code, "not_found");
      assert.match(body.message, /nope/);
    }
  });

  it("answers 405 to a POST on a GET page", async () => {
    const res = await fetch(`${base}/healthz`, { method: "POST" });
    assert.equal(res.status, 405);
  });
});

describe("admin server readiness", () => {
  const cache = new SnapshotCache();
  let server: XdsServerHandle;
  let admin: AdminServer;
  let base: string;
  let snapshotSet = false;
  before(async () => {
    server = await XdsServer.builder().withCache(cache).withConfig({ drainTimeoutMs: 200 }).serve("127.0.0.1:0");
    admin = await startAdminServer({
      address: "127.0.0.1:0",
      handle: server,
      ready: () => (snapshotSet ? true : { ready: false, reason: "no snapshot set yet" }),
    });
    base = `http://${admin.address}`;
  });
  after(async () => {
    await admin.close();
    await server.shutdown();
    cache.close();
  });

  it("answers 503 with the reason while ready() is false", async () => {
    const res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 503);
    assert.match(await res.text(), /no snapshot set yet/);
  });

  it("answers 200 once ready() holds", async () => {
    snapshotSet = true;
    const res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 200);
  });

  it("answers 404 at /metrics without a metrics registry", async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { code: string }).code, "not_found");
  });

  it("turns 503 after the xDS server shuts down, saying it is NOT_SERVING", async () => {
    await server.shutdown();
    const res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 503);
    assert.match(await res.text(), /NOT_SERVING/);
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
  });
});

describe("startAdminServer", () => {
  it("rejects an address without an explicit host with invalid_config", async () => {
    for (const address of [":9901", "9901", "127.0.0.1:port"]) {
      await assert.rejects(
        startAdminServer({ address }),
        (e: unknown) => e instanceof XdsError && e.code === "invalid_config",
      );
    }
  });

  it("closes idempotently", async () => {
    const admin = await startAdminServer({ address: "127.0.0.1:0" });
    const res = await fetch(`http://${admin.address}/healthz`);
    assert.equal(res.status, 200);
    await Promise.all([admin.close(), admin.close()]);
  });
});
