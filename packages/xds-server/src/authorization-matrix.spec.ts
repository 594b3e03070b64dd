// Every service on the xDS port × every kind of caller, over real mTLS
// (openssl-made certificates), with node groups keyed by `node.cluster` as the
// file-source keys them. Issue 15: CSDS leaked other nodes, `node.cluster`
// moved a caller into another group, LRS took reports from anyone.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeSecret } from "@nebucloud/xds-cache/testing";
import { nodeHash, TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ClusterDiscoveryService } from "@nebucloud/xds-proto/envoy/service/cluster/v3/cds_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import {
  LoadReportingService,
  type LoadStatsRequest,
  LoadStatsRequestSchema,
} from "@nebucloud/xds-proto/envoy/service/load_stats/v3/lrs_pb";
import { SecretDiscoveryService } from "@nebucloud/xds-proto/envoy/service/secret/v3/sds_pb";
import {
  ClientStatusDiscoveryService,
  ClientStatusRequestSchema,
} from "@nebucloud/xds-proto/envoy/service/status/v3/csds_pb";
import { spiffeNodeAuthorizer, XdsServer, type XdsServerHandle } from "./index.js";
import { makeTestCerts } from "./test-support/certs.js";
import { requestQueue } from "./test-support/request-queue.js";

type Transport = ReturnType<typeof createGrpcTransport>;
type NodeInit = { id: string; cluster: string };

/** What a call got: the names of the resources (or CSDS node ids), or the status it failed with. */
interface Outcome {
  readonly names: string[];
  readonly code: Code | "ok";
}

const A = "spiffe://test/team-a";
const B = "spiffe://test/team-b";
const ADMIN = "spiffe://test/ops";
const MALLORY = "spiffe://test/unmapped";

let certs: ReturnType<typeof makeTestCerts> | undefined;
try {
  certs = makeTestCerts([A, B, ADMIN, MALLORY]);
} catch (error) {
  console.log(`# authorization matrix skipped: openssl could not make test certificates (${String(error)})`);
}

const nameOf = (bytes: Uint8Array) => Buffer.from(bytes.subarray(2, 2 + (bytes[1] ?? 0))).toString("utf8");

async function outcome(run: () => Promise<string[]>): Promise<Outcome> {
  try {
    return { names: await run(), code: "ok" };
  } catch (e) {
    assert.ok(e instanceof ConnectError, String(e));
    return { names: [], code: e.code };
  }
}

/** Reads a stream's first response, then half-closes. */
async function firstResponse<T>(responses: AsyncIterable<T>, end: () => void): Promise<T | undefined> {
  for await (const response of responses) {
    end();
    return response;
  }
  return undefined;
}

const services: Record<
  string,
  (t: Transport, node: NodeInit, rest: (node: NodeInit) => Promise<Outcome>) => Promise<Outcome>
> = {
  "SotW ADS (CDS)": (t, node) =>
    outcome(async () => {
      const q = requestQueue(DiscoveryRequestSchema);
      q.push({ node, typeUrl: TypeUrl.Cluster });
      const r = await firstResponse(createClient(AggregatedDiscoveryService, t).streamAggregatedResources(q), q.end);
      return (r?.resources ?? []).map((a) => nameOf(a.value));
    }),
  "delta ADS (CDS)": (t, node) =>
    outcome(async () => {
      const q = requestQueue(DeltaDiscoveryRequestSchema);
      q.push({ node, typeUrl: TypeUrl.Cluster });
      const r = await firstResponse(createClient(AggregatedDiscoveryService, t).deltaAggregatedResources(q), q.end);
      return (r?.resources ?? []).map((x) => x.name);
    }),
  "SotW CDS": (t, node) =>
    outcome(async () => {
      const q = requestQueue(DiscoveryRequestSchema);
      q.push({ node });
      const r = await firstResponse(createClient(ClusterDiscoveryService, t).streamClusters(q), q.end);
      return (r?.resources ?? []).map((a) => nameOf(a.value));
    }),
  "SDS stream": (t, node) =>
    outcome(async () => {
      const q = requestQueue(DiscoveryRequestSchema);
      q.push({ node, resourceNames: [`${node.cluster}-cert`] });
      const r = await firstResponse(createClient(SecretDiscoveryService, t).streamSecrets(q), q.end);
      return (r?.resources ?? []).map((a) => nameOf(a.value));
    }),
  "CDS Fetch": (t, node) =>
    outcome(async () => {
      const r = await createClient(ClusterDiscoveryService, t).fetchClusters({ node, typeUrl: TypeUrl.Cluster });
      return r.resources.map((a) => nameOf(a.value));
    }),
  "REST /v3/discovery:clusters": (_t, node, rest) => rest(node),
  LRS: (t, node) =>
    outcome(async () => {
      const q = requestQueue(LoadStatsRequestSchema);
      q.push({ node, clusterStats: [] });
      const r = await firstResponse(createClient(LoadReportingService, t).streamLoadStats(q), q.end);
      return r ? ["accepted"] : [];
    }),
  "CSDS Fetch": (t) =>
    outcome(async () => {
      const r = await createClient(ClientStatusDiscoveryService, t).fetchClientStatus({});
      return r.config.map((c) => c.node?.id ?? "").sort();
    }),
  "CSDS Stream": (t) =>
    outcome(async () => {
      const q = requestQueue(ClientStatusRequestSchema);
      q.push({});
      const r = await firstResponse(createClient(ClientStatusDiscoveryService, t).streamClientStatus(q), q.end);
      return (r?.config ?? []).map((c) => c.node?.id ?? "").sort();
    }),
};

const denied: Outcome = { names: [], code: Code.PermissionDenied };

/** Callers, what they ask as, and what each service must answer them. */
const callers: Record<string, { identity: string | undefined; node: NodeInit; expect: (service: string) => Outcome }> =
  {
    "no certificate": {
      identity: undefined,
      node: { id: "node-a1", cluster: "team-a" },
      expect: (s) => (s.startsWith("CSDS") ? { names: [], code: "ok" } : denied),
    },
    "an unmapped identity": {
      identity: MALLORY,
      node: { id: "node-a1", cluster: "team-a" },
      expect: (s) => (s.startsWith("CSDS") ? { names: [], code: "ok" } : denied),
    },
    "identity A asking for B's node id": {
      identity: A,
      node: { id: "node-b1", cluster: "team-b" },
      expect: (s) => (s.startsWith("CSDS") ? { names: ["node-a-live"], code: "ok" } : denied),
    },
    "identity A with B's cluster (node group)": {
      identity: A,
      node: { id: "node-a1", cluster: "team-b" },
      expect: (s) => (s.startsWith("CSDS") ? { names: ["node-a-live"], code: "ok" } : denied),
    },
    "identity A for its own node": {
      identity: A,
      node: { id: "node-a1", cluster: "team-a" },
      expect: (s) => {
        if (s.startsWith("CSDS")) return { names: ["node-a-live"], code: "ok" };
        if (s === "LRS") return { names: ["accepted"], code: "ok" };
        if (s === "SDS stream") return { names: ["team-a-cert"], code: "ok" };
        return { names: ["team-a-cluster"], code: "ok" };
      },
    },
    "an admin identity": {
      identity: ADMIN,
      node: { id: "node-a1", cluster: "team-a" },
      // Admins read every node's status; they speak for no node.
      expect: (s) => (s.startsWith("CSDS") ? { names: ["node-a-live", "node-b-live"], code: "ok" } : denied),
    },
  };

describe("one authorization decision for every service on the xDS port (issue 15)", { skip: !certs }, () => {
  const c = certs as NonNullable<typeof certs>;
  const groupOf = (node: { cluster?: string } | undefined) => node?.cluster || "(shared)";
  const cache = new SnapshotCache({ nodeHash: nodeHash(groupOf) });
  let server: XdsServerHandle;
  const transports = new Map<string | undefined, Transport>();
  const sessions: http2.ClientHttp2Session[] = [];
  const live: { end(): void }[] = [];
  const reports: LoadStatsRequest[] = [];

  const connect = (identity: string | undefined) => {
    const client = identity ? c.clients[identity] : undefined;
    return {
      ca: c.ca,
      ...(client ? { cert: client.cert, key: client.key } : {}),
    };
  };

  before(async () => {
    for (const team of ["team-a", "team-b"]) {
      cache.setSnapshot(
        team,
        Snapshot.fromResources({
          [TypeUrl.Cluster]: [create(ClusterSchema, { name: `${team}-cluster` })],
          [TypeUrl.Secret]: [makeSecret(`${team}-cert`)],
        }),
      );
    }
    server = await XdsServer.builder()
      .withCache(cache)
      .withTls({ cert: c.serverCert, key: c.serverKey, ca: c.ca })
      .withAuthorizer(
        spiffeNodeAuthorizer({
          [A]: { nodeKeys: ["team-a"], nodeIds: ["node-a*"] },
          [B]: { nodeKeys: ["team-b"], nodeIds: ["node-b*"] },
        }),
        { adminIdentities: [ADMIN] },
      )
      .withCallbacks({ onLoadReport: (_node, report) => reports.push(report) })
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    for (const identity of [undefined, A, B, ADMIN, MALLORY]) {
      transports.set(
        identity,
        createGrpcTransport({ baseUrl: `https://${server.address}`, nodeOptions: connect(identity) }),
      );
    }
    // One live stream per team, for CSDS to show (or not).
    for (const [identity, node] of [
      [A, { id: "node-a-live", cluster: "team-a" }],
      [B, { id: "node-b-live", cluster: "team-b" }],
    ] as const) {
      const q = requestQueue(DiscoveryRequestSchema);
      q.push({ node, typeUrl: TypeUrl.Cluster });
      const responses = createClient(
        AggregatedDiscoveryService,
        transports.get(identity) as Transport,
      ).streamAggregatedResources(q);
      const iterator = responses[Symbol.asyncIterator]();
      await iterator.next();
      live.push({ end: () => q.end() });
      void (async () => {
        for (let r = await iterator.next().catch(() => ({ done: true })); !r.done; r = await iterator.next()) {}
      })();
    }
  });
  after(async () => {
    for (const stream of live) stream.end();
    for (const session of sessions) session.close();
    await server.shutdown();
    cache.close();
  });

  const rest = (identity: string | undefined) => (node: NodeInit) =>
    new Promise<Outcome>((resolve, reject) => {
      const session = http2.connect(`https://${server.address}`, connect(identity));
      sessions.push(session);
      const req = session.request({ ":method": "POST", ":path": "/v3/discovery:clusters" });
      let status = 0;
      let body = "";
      req.on("response", (headers) => {
        status = Number(headers[":status"]);
      });
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString("utf8");
      });
      req.on("end", () => {
        session.close();
        if (status === 403) resolve(denied);
        else if (status === 200) {
          const json = JSON.parse(body) as { resources?: { name?: string }[] };
          resolve({ names: (json.resources ?? []).map((r) => r.name ?? ""), code: "ok" });
        } else reject(new Error(`REST answered ${status}: ${body}`));
      });
      req.on("error", reject);
      req.end(JSON.stringify({ node }));
    });

  for (const [who, caller] of Object.entries(callers)) {
    for (const [service, call] of Object.entries(services)) {
      it(`${service}: ${who} gets ${JSON.stringify(caller.expect(service))}`, async () => {
        const got = await call(transports.get(caller.identity) as Transport, caller.node, rest(caller.identity));
        assert.deepEqual(got, caller.expect(service));
      });
    }
  }

  it("takes load reports only from authorized nodes", () => {
    // The only LRS stream allowed above sent no cluster stats; no refused one delivered anything.
    assert.deepEqual(reports, []);
  });
});
