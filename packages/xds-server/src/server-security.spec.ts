import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeSecret } from "@nebucloud/xds-cache/testing";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ClusterDiscoveryService } from "@nebucloud/xds-proto/envoy/service/cluster/v3/cds_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { SecretDiscoveryService } from "@nebucloud/xds-proto/envoy/service/secret/v3/sds_pb";
import {
  ClientStatusDiscoveryService,
  ClientStatusRequestSchema,
  ClientStatusResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/status/v3/csds_pb";
import {
  type AdminServer,
  type Logger,
  spiffeNodeAuthorizer,
  startAdminServer,
  XdsServer,
  type XdsServerHandle,
} from "./index.js";
import { makeTestCerts } from "./test-support/certs.js";
import { requestQueue } from "./test-support/request-queue.js";

type Transport = ReturnType<typeof createGrpcTransport>;

/** Resource names a call received before it ended, and the status it ended with. */
interface Outcome {
  readonly names: string[];
  readonly code: Code | "ok";
  readonly message: string;
}

/** Reads responses until `want` names arrived (then half-closes) or the call fails. */
async function drain(
  responses: AsyncIterable<{ resources: { name?: string; typeUrl?: string; value?: Uint8Array }[] }>,
  end: () => void,
  nameOf: (r: never) => string,
  want: number,
): Promise<Outcome> {
  const names: string[] = [];
  try {
    for await (const response of responses) {
      for (const r of response.resources) names.push(nameOf(r as never));
      if (names.length >= want) end();
    }
    return { names, code: "ok", message: "" };
  } catch (e) {
    assert.ok(e instanceof ConnectError, String(e));
    return { names, code: e.code, message: e.rawMessage };
  }
}

const clusterName = (any: { value: Uint8Array }) => {
  // Cluster.name is field 1: enough to read it without decoding every field.
  const bytes = any.value;
  return Buffer.from(bytes.subarray(2, 2 + (bytes[1] ?? 0))).toString("utf8");
};

/** The ways a client asks for its node's clusters, each returning what it got. */
const ways: Record<string, (transport: Transport, nodeId: string) => Promise<Outcome>> = {
  "SotW ADS": (transport, nodeId) => {
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node: { id: nodeId }, typeUrl: TypeUrl.Cluster });
    const calls = createClient(AggregatedDiscoveryService, transport).streamAggregatedResources(requests);
    return drain(calls, () => requests.end(), clusterName, 1);
  },
  "delta ADS": (transport, nodeId) => {
    const requests = requestQueue(DeltaDiscoveryRequestSchema);
    requests.push({ node: { id: nodeId }, typeUrl: TypeUrl.Cluster });
    const calls = createClient(AggregatedDiscoveryService, transport).deltaAggregatedResources(requests);
    return drain(
      calls,
      () => requests.end(),
      (r: { name: string }) => r.name,
      1,
    );
  },
  "SotW CDS": (transport, nodeId) => {
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node: { id: nodeId } });
    const calls = createClient(ClusterDiscoveryService, transport).streamClusters(requests);
    return drain(calls, () => requests.end(), clusterName, 1);
  },
  "delta CDS": (transport, nodeId) => {
    const requests = requestQueue(DeltaDiscoveryRequestSchema);
    requests.push({ node: { id: nodeId } });
    const calls = createClient(ClusterDiscoveryService, transport).deltaClusters(requests);
    return drain(
      calls,
      () => requests.end(),
      (r: { name: string }) => r.name,
      1,
    );
  },
  "CDS Fetch": async (transport, nodeId) => {
    try {
      const response = await createClient(ClusterDiscoveryService, transport).fetchClusters({
        node: { id: nodeId },
        typeUrl: TypeUrl.Cluster,
      });
      return { names: response.resources.map(clusterName), code: "ok", message: "" };
    } catch (e) {
      assert.ok(e instanceof ConnectError, String(e));
      return { names: [], code: e.code, message: e.rawMessage };
    }
  },
};

let certs: ReturnType<typeof makeTestCerts> | undefined;
try {
  certs = makeTestCerts(["spiffe://test/a", "spiffe://test/b"]);
} catch (error) {
  console.log(`# node identity tests skipped: openssl could not make test certificates (${String(error)})`);
}

describe("node identity: withAuthorizer(spiffeNodeAuthorizer) over mTLS", { skip: !certs }, () => {
  const c = certs as NonNullable<typeof certs>;
  const cache = new SnapshotCache();
  let server: XdsServerHandle;
  const transports: Record<string, Transport> = {};
  before(async () => {
    cache.setSnapshot(
      "node-a",
      Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "a-only" })] }),
    );
    cache.setSnapshot(
      "node-b",
      Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "b-only" })] }),
    );
    cache.setSnapshot(
      "edge-7",
      Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "edge" })] }),
    );
    server = await XdsServer.builder()
      .withCache(cache)
      .withTls({ cert: c.serverCert, key: c.serverKey, ca: c.ca, requireClientCert: true })
      .withAuthorizer(spiffeNodeAuthorizer({ "spiffe://test/a": ["node-a"], "spiffe://test/b": ["node-b", "edge-*"] }))
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    for (const id of ["spiffe://test/a", "spiffe://test/b"]) {
      const client = c.clients[id] as { cert: string; key: string };
      transports[id] = createGrpcTransport({
        baseUrl: `https://${server.address}`,
        nodeOptions: { ca: c.ca, cert: client.cert, key: client.key },
      });
    }
  });
  after(async () => {
    await server.shutdown();
    cache.close();
  });

  for (const [way, ask] of Object.entries(ways)) {
    it(`${way}: refuses a client claiming another identity's node with PERMISSION_DENIED, sending nothing`, async () => {
      const outcome = await ask(transports["spiffe://test/a"] as Transport, "node-b");
      assert.equal(outcome.code, Code.PermissionDenied, JSON.stringify(outcome));
      assert.deepEqual(outcome.names, []);
      assert.match(outcome.message, /"node-b"/);
      // The refusal names the node, never the identity map.
      assert.doesNotMatch(outcome.message, /spiffe:/);
    });

    it(`${way}: serves a client its own node, and a node its id prefix allows`, async () => {
      assert.deepEqual(await ask(transports["spiffe://test/a"] as Transport, "node-a"), {
        names: ["a-only"],
        code: "ok",
        message: "",
      });
      assert.deepEqual((await ask(transports["spiffe://test/b"] as Transport, "edge-7")).names, ["edge"]);
    });
  }

  it("refuses a REST discovery request for another identity's node with 403", async () => {
    const client = c.clients["spiffe://test/a"] as { cert: string; key: string };
    const session = http2.connect(`https://${server.address}`, { ca: c.ca, cert: client.cert, key: client.key });
    const post = (nodeId: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({ ":method": "POST", ":path": "/v3/discovery:clusters" });
        let status = 0;
        let body = "";
        req.on("response", (headers) => {
          status = Number(headers[":status"]);
        });
        req.on("data", (chunk: Buffer) => {
          body += chunk.toString("utf8");
        });
        req.on("end", () => resolve({ status, body }));
        req.on("error", reject);
        req.end(JSON.stringify({ node: { id: nodeId } }));
      });
    const refused = await post("node-b");
    assert.equal(refused.status, 403);
    assert.doesNotMatch(refused.body, /b-only/);
    const served = await post("node-a");
    assert.equal(served.status, 200);
    assert.match(served.body, /a-only/);
    session.close();
  });

  it("leaves no stream or watch behind for a refused stream", async () => {
    for (let i = 0; i < 100 && server.streams().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.streams().length, 0);
    assert.equal(cache.numWatches(), 0);
  });
});

describe("node identity without client certificates", () => {
  it("refuses every node: spiffeNodeAuthorizer fails closed", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("node-a", Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "a" })] }));
    const server = await XdsServer.builder()
      .withCache(cache)
      .withAuthorizer(spiffeNodeAuthorizer({ "spiffe://test/a": ["*"] }))
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    const transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
    const outcome = await (ways["SotW ADS"] as NonNullable<(typeof ways)[string]>)(transport, "node-a");
    assert.equal(outcome.code, Code.PermissionDenied);
    await server.shutdown();
    cache.close();
  });

  it("ends the stream with the status an authorizer throws, never serving it", async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("node-a", Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "a" })] }));
    const server = await XdsServer.builder()
      .withCache(cache)
      .withAuthorizer(async () => {
        throw new Error("directory unreachable");
      })
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    const transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
    const outcome = await (ways["delta ADS"] as NonNullable<(typeof ways)[string]>)(transport, "node-a");
    assert.equal(outcome.code, Code.Internal);
    assert.deepEqual(outcome.names, []);
    await server.shutdown();
    cache.close();
  });
});

const privateKey = "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-KEY-BYTES-6f1d2c\n-----END PRIVATE KEY-----\n";
const keyBytes = Buffer.from("TOP-SECRET-KEY-BYTES-6f1d2c");
/** The key's bytes, and how base64 of anything holding them shows them at each of the 3 alignments. */
const keyForms = [
  keyBytes,
  ...[0, 1, 2].map((shift) => {
    const text = Buffer.concat([Buffer.alloc(shift), keyBytes]).toString("base64");
    return Buffer.from(text.slice(4, text.length - 4));
  }),
];

describe("secrets: secretAuthorizer", () => {
  const cache = new SnapshotCache();
  let server: XdsServerHandle;
  let transport: Transport;
  before(async () => {
    cache.setSnapshot(
      "node-a",
      Snapshot.fromResources({
        [TypeUrl.Secret]: [makeSecret("a-cert"), makeSecret("b-cert", { privateKey })],
      }),
    );
    server = await XdsServer.builder()
      .withCache(cache)
      .withAuthorizer(() => true, { secretAuthorizer: (node, name) => name.startsWith(`${node.id.slice(-1)}-`) })
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
  });
  after(async () => {
    await server.shutdown();
    cache.close();
  });

  const secretName = (any: { value: Uint8Array }) =>
    Buffer.from(any.value.subarray(2, 2 + (any.value[1] ?? 0))).toString();

  it("leaves a Secret the node may not have out of SotW responses, as if it did not exist", async () => {
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node: { id: "node-a" }, typeUrl: TypeUrl.Secret, resourceNames: ["a-cert", "b-cert"] });
    const calls = createClient(AggregatedDiscoveryService, transport).streamAggregatedResources(requests);
    const seen: string[] = [];
    for await (const response of calls) {
      for (const r of response.resources) seen.push(secretName(r));
      requests.end();
    }
    assert.deepEqual(seen, ["a-cert"]);
  });

  it("leaves it out of delta responses and of SDS Fetch", async () => {
    const requests = requestQueue(DeltaDiscoveryRequestSchema);
    requests.push({ node: { id: "node-a" }, typeUrl: TypeUrl.Secret, resourceNamesSubscribe: ["a-cert", "b-cert"] });
    const seen: string[] = [];
    for await (const response of createClient(AggregatedDiscoveryService, transport).deltaAggregatedResources(
      requests,
    )) {
      for (const r of response.resources) seen.push(r.name);
      requests.end();
    }
    assert.deepEqual(seen, ["a-cert"]);
    const fetched = await createClient(SecretDiscoveryService, transport).fetchSecrets({
      node: { id: "node-a" },
      resourceNames: ["b-cert"],
    });
    assert.deepEqual(fetched.resources, []);
  });

  it("refuses a wildcard Secret subscription with PERMISSION_DENIED", async () => {
    const requests = requestQueue(DiscoveryRequestSchema);
    requests.push({ node: { id: "node-a" }, typeUrl: TypeUrl.Secret, resourceNames: ["*"] });
    await assert.rejects(
      async () => {
        for await (const _ of createClient(AggregatedDiscoveryService, transport).streamAggregatedResources(requests)) {
          assert.fail("a response was sent");
        }
      },
      (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied && /"node-a"/.test(e.rawMessage),
    );
    await assert.rejects(
      createClient(SecretDiscoveryService, transport).fetchSecrets({ node: { id: "node-a" } }),
      (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied,
    );
  });
});

describe("secrets stay out of logs, /debug pages and CSDS", () => {
  const cache = new SnapshotCache();
  const logs: string[] = [];
  const record = (level: string) => (fields: Record<string, unknown>, message: string) =>
    logs.push(`${level} ${message} ${JSON.stringify(fields)}`);
  const logger: Logger = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
  let server: XdsServerHandle;
  let admin: AdminServer;
  let transport: Transport;
  before(async () => {
    cache.setSnapshot(
      "envoy-1",
      Snapshot.fromResources({
        [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })],
        [TypeUrl.Secret]: [makeSecret("server-cert", { privateKey })],
      }),
    );
    server = await XdsServer.builder()
      .withCache(cache)
      .withLogger(logger)
      .withMetrics()
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    admin = await startAdminServer({ address: "127.0.0.1:0", handle: server, cache, logger });
    transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
  });
  after(async () => {
    await admin.close();
    await server.shutdown();
    cache.close();
  });

  it("shows a held Secret's name and version only", async () => {
    // An SDS client receives the secret (its bytes do hold the key), ACKs it,
    // then NACKs the cluster so that every page has something to show.
    const requests = requestQueue(DiscoveryRequestSchema);
    const node = { id: "envoy-1" };
    requests.push({ node, typeUrl: TypeUrl.Secret, resourceNames: ["server-cert"] });
    const controller = new AbortController();
    const stream = createClient(AggregatedDiscoveryService, transport).streamAggregatedResources(requests, {
      signal: controller.signal,
    });
    const iterator = stream[Symbol.asyncIterator]();
    const secret = (await iterator.next()).value;
    assert.ok(Buffer.from(secret.resources[0].value).includes(Buffer.from("TOP-SECRET-KEY-BYTES-6f1d2c")));
    requests.push({
      typeUrl: TypeUrl.Secret,
      resourceNames: ["server-cert"],
      versionInfo: secret.versionInfo,
      responseNonce: secret.nonce,
    });
    requests.push({ typeUrl: TypeUrl.Cluster });
    const cluster = (await iterator.next()).value;
    requests.push({
      typeUrl: TypeUrl.Cluster,
      responseNonce: cluster.nonce,
      errorDetail: { code: 3, message: "rejected for the test" },
    });
    for (let i = 0; i < 200 && !logs.some((l) => /NACK/.test(l)); i++) await new Promise((r) => setTimeout(r, 10));

    const pages: string[] = [];
    for (const path of ["/debug", "/debug/streams", "/debug/nodes", "/debug/nacks", "/metrics"]) {
      const res = await fetch(`http://${admin.address}${path}`);
      assert.equal(res.status, 200, path);
      pages.push(await res.text());
    }
    assert.match(pages.join("\n"), /server-cert/);
    const csds = createClient(ClientStatusDiscoveryService, transport);
    const status = await csds.fetchClientStatus({});
    const statusBytes = Buffer.from(toBinary(ClientStatusResponseSchema, status));
    assert.ok(statusBytes.includes(Buffer.from("server-cert")), "CSDS lists the secret");
    const streamed: Buffer[] = [];
    const csdsRequests = requestQueue(ClientStatusRequestSchema);
    csdsRequests.push({});
    for await (const response of csds.streamClientStatus(csdsRequests)) {
      streamed.push(Buffer.from(toBinary(ClientStatusResponseSchema, response)));
      csdsRequests.end();
    }
    for (const [what, text] of [
      ["debug pages", Buffer.from(pages.join("\n"))],
      ["CSDS fetch", statusBytes],
      ["CSDS stream", Buffer.concat(streamed)],
      ["logs", Buffer.from(logs.join("\n"))],
    ] as const) {
      for (const form of keyForms) assert.ok(!text.includes(form), `${what} show the private key`);
    }
    controller.abort();
  });
});
