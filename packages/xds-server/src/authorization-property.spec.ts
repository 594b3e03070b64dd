// Property (issue 15): for random grants, identities, node fields and
// snapshots, no response on any service of the xDS port carries a resource
// from a node key the caller may not read, and CSDS shows no node it may not
// speak for. One mTLS server; the grants change between runs.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
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
import { SecretDiscoveryService } from "@nebucloud/xds-proto/envoy/service/secret/v3/sds_pb";
import { ClientStatusDiscoveryService } from "@nebucloud/xds-proto/envoy/service/status/v3/csds_pb";
import fc from "fast-check";
import { spiffeNodeAuthorizer, XdsServer, type XdsServerHandle } from "./index.js";
import { makeTestCerts } from "./test-support/certs.js";
import { requestQueue } from "./test-support/request-queue.js";

const GROUPS = ["g0", "g1", "g2", "g3"] as const;
const IDS = ["spiffe://p/0", "spiffe://p/1", "spiffe://p/2"] as const;
type Transport = ReturnType<typeof createGrpcTransport>;

let certs: ReturnType<typeof makeTestCerts> | undefined;
try {
  certs = makeTestCerts([...IDS]);
} catch (error) {
  console.log(`# authorization property skipped: openssl could not make test certificates (${String(error)})`);
}

const nameOf = (bytes: Uint8Array) => Buffer.from(bytes.subarray(2, 2 + (bytes[1] ?? 0))).toString("utf8");
/** Every resource of group g is named `g-…`: the group a name came from. */
const groupOfName = (name: string) => name.split("-")[0] ?? "";

/** A node's key: its cluster when that is a group, else g0 (every key has a snapshot, so every allowed ask is answered). */
const keyOf = (node: { cluster?: string } | undefined) =>
  (GROUPS as readonly string[]).includes(node?.cluster ?? "") ? (node?.cluster as string) : "g0";

/** The first response, or undefined on a refusal or after 5 s without one (bounded: never waits forever). */
async function first<T>(responses: AsyncIterable<T>, end: () => void): Promise<T | undefined> {
  const iterator = responses[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), 5000);
  });
  try {
    const next = await Promise.race([iterator.next(), timeout]);
    return next && !next.done ? next.value : undefined;
  } catch (e) {
    if (!(e instanceof ConnectError)) throw e;
    return undefined;
  } finally {
    clearTimeout(timer);
    end();
  }
}

/** Each way of asking, returning the resource names received (nothing on a refusal). */
const asks: Record<string, (t: Transport, node: { id: string; cluster: string }) => Promise<string[]>> = {
  sotw: async (t, node) => {
    const q = requestQueue(DiscoveryRequestSchema);
    q.push({ node, typeUrl: TypeUrl.Cluster });
    const r = await first(createClient(AggregatedDiscoveryService, t).streamAggregatedResources(q), q.end);
    return (r?.resources ?? []).map((a) => nameOf(a.value));
  },
  delta: async (t, node) => {
    const q = requestQueue(DeltaDiscoveryRequestSchema);
    q.push({ node, typeUrl: TypeUrl.Cluster });
    const r = await first(createClient(AggregatedDiscoveryService, t).deltaAggregatedResources(q), q.end);
    return (r?.resources ?? []).map((x) => x.name);
  },
  sds: async (t, node) => {
    const q = requestQueue(DiscoveryRequestSchema);
    q.push({ node, resourceNames: GROUPS.map((g) => `${g}-secret`) });
    const r = await first(createClient(SecretDiscoveryService, t).streamSecrets(q), q.end);
    return (r?.resources ?? []).map((a) => nameOf(a.value));
  },
  fetch: async (t, node) => {
    try {
      const r = await createClient(ClusterDiscoveryService, t).fetchClusters({ node, typeUrl: TypeUrl.Cluster });
      return r.resources.map((a) => nameOf(a.value));
    } catch (e) {
      if (e instanceof ConnectError) return [];
      throw e;
    }
  },
};

describe("no service answers with a resource of a node key the caller may not read (property, issue 15)", {
  skip: !certs,
}, () => {
  const c = certs as NonNullable<typeof certs>;
  const cache = new SnapshotCache({ nodeHash: nodeHash(keyOf) });
  let grants: Record<string, string[]> = {};
  let server: XdsServerHandle;
  const transports = new Map<string, Transport>();
  const live: (() => void)[] = [];
  before(async () => {
    server = await XdsServer.builder()
      .withCache(cache)
      .withTls({ cert: c.serverCert, key: c.serverKey, ca: c.ca })
      .withAuthorizer((peer, node, request) => spiffeNodeAuthorizer(grants)(peer, node, request), {
        secretAuthorizer: () => true,
      })
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    transports.set("none", createGrpcTransport({ baseUrl: `https://${server.address}`, nodeOptions: { ca: c.ca } }));
    for (const id of IDS) {
      const { cert, key } = c.clients[id] as { cert: string; key: string };
      transports.set(
        id,
        createGrpcTransport({ baseUrl: `https://${server.address}`, nodeOptions: { ca: c.ca, cert, key } }),
      );
    }
    // A live node in every group, for CSDS to show or withhold as the grants of each run say.
    grants = { [IDS[0]]: [...GROUPS] };
    for (const g of GROUPS) {
      cache.setSnapshot(g, Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: `${g}-c0` })] }));
      const q = requestQueue(DiscoveryRequestSchema);
      q.push({ node: { id: `live-${g}`, cluster: g }, typeUrl: TypeUrl.Cluster });
      const responses = createClient(AggregatedDiscoveryService, transports.get(IDS[0]) as Transport)
        .streamAggregatedResources(q)
        [Symbol.asyncIterator]();
      await responses.next();
      live.push(() => q.end());
      void (async () => {
        while (!(await responses.next().catch(() => ({ done: true }))).done) {}
      })();
    }
  });
  after(async () => {
    for (const end of live) end();
    await server.shutdown();
    cache.close();
  });

  it("holds for random grants, callers, node fields and snapshots", { timeout: 180_000 }, async () => {
    const group = fc.constantFrom(...GROUPS);
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom(...IDS), fc.uniqueArray(group, { maxLength: 3 })),
        fc.dictionary(group, fc.integer({ min: 0, max: 3 })),
        fc.array(
          fc.record({
            caller: fc.constantFrom("none", ...IDS),
            id: fc.string({ maxLength: 4 }).map((s) => `n${s}`),
            cluster: fc.oneof(group, fc.constant(""), fc.string({ maxLength: 3 })),
            ask: fc.constantFrom(...Object.keys(asks)),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        async (granted, sizes, calls) => {
          grants = granted;
          for (const g of GROUPS) {
            const n = sizes[g] ?? 1;
            cache.setSnapshot(
              g,
              Snapshot.fromResources({
                [TypeUrl.Cluster]: Array.from({ length: n }, (_, i) => create(ClusterSchema, { name: `${g}-c${i}` })),
                [TypeUrl.Secret]: [makeSecret(`${g}-secret`)],
              }),
            );
          }
          for (const call of calls) {
            const may = new Set<string>(call.caller === "none" ? [] : (granted[call.caller] ?? []));
            const names = await (asks[call.ask] as (typeof asks)[string])(
              transports.get(call.caller) as Transport,
              call,
            );
            for (const name of names) {
              assert.ok(may.has(groupOfName(name)), `${call.caller} received ${name} (may read ${[...may]})`);
            }
            // CSDS while a stream of another caller is open: only nodes whose key it may read.
            const csds = await createClient(
              ClientStatusDiscoveryService,
              transports.get(call.caller) as Transport,
            ).fetchClientStatus({});
            for (const config of csds.config) {
              const key = keyOf(config.node);
              assert.ok(may.has(key), `${call.caller} saw node ${config.node?.id} of ${key} on CSDS`);
            }
          }
        },
      ),
      { numRuns: Number(process.env["FUZZ_RUNS"] ?? 25) },
    );
  });
});
