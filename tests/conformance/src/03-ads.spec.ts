/**
 * C06-C09: what an ADS client (Envoy) relies on across types: warming never
 * hangs, a held watch is kept, an unsubscribe drops an unsent response, and
 * make-before-break order on the wire.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Snapshot } from "@nebucloud/xds-cache";
import { makeEndpoints } from "@nebucloud/xds-cache/testing";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { conformanceCase } from "./support/cases.js";
import { nodeId, type Served, serve, snapshotOf, versionsOf } from "./support/fixtures.js";
import { Connection } from "./support/grpc-call.js";
import { DeltaClient, deltaNames, SotwClient, sotwNames } from "./support/xds-clients.js";

const world = {
  clusters: { c1: 0, c2: 0 },
  endpoints: { c1: 0, c2: 0 },
  listeners: { l1: "r1" },
  routes: { r1: "c1" },
};

describe("ADS behaviour", () => {
  let plain: Served;
  let held: Served;
  const connections: Connection[] = [];
  before(async () => {
    plain = await serve();
    held = await serve({ cache: { ads: true } });
  });
  afterEach(() => {
    for (const c of connections.splice(0)) c.destroy();
  });
  after(async () => {
    await plain.stop();
    await held.stop();
  });
  const connect = async (served: Served, options = {}) => {
    const connection = await Connection.open(served.address, options);
    connections.push(connection);
    return connection;
  };

  // C06: Envoy asks for EDS while CDS is warming (before it ACKs CDS), and for
  // RDS before it ACKs LDS. Both must be answered or Envoy waits forever.
  for (const [variant, cache] of [
    ["sotw-ads", "plain"],
    ["sotw-ads-hold", "held"],
    ["sotw-per-type", "plain"],
    ["delta-ads", "plain"],
    ["delta-per-type", "plain"],
  ] as const) {
    conformanceCase(
      `C06.${variant}`,
      `${variant}: EDS and RDS requested while clusters and listeners warm (not yet ACKed) are answered`,
      "xDS protocol: eventual consistency considerations; go-control-plane ADS mode",
      async () => {
        const served = cache === "held" ? held : plain;
        const node = nodeId("c06");
        served.cache.setSnapshot(node, snapshotOf(world));
        const ads = !variant.includes("per-type");
        if (variant.startsWith("sotw")) {
          const open = async (typeUrl: string) => new SotwClient(await connect(served), { ads, typeUrl, nodeId: node });
          const cds = await open(TypeUrl.Cluster);
          const eds = ads ? cds : await open(TypeUrl.Endpoint);
          cds.subscribe(TypeUrl.Cluster, []);
          const clusters = await cds.next();
          assert.deepEqual(sotwNames(clusters), ["c1", "c2"]);
          eds.subscribe(TypeUrl.Endpoint, ["c1", "c2"]);
          assert.deepEqual(sotwNames(await eds.next()), ["c1", "c2"], "EDS answered while CDS is not ACKed");
          cds.ack(clusters);
          const lds = ads ? cds : await open(TypeUrl.Listener);
          const rds = ads ? cds : await open(TypeUrl.Route);
          lds.subscribe(TypeUrl.Listener, []);
          const listeners = await lds.next();
          assert.equal(listeners.typeUrl, TypeUrl.Listener);
          rds.subscribe(TypeUrl.Route, ["r1"]);
          assert.deepEqual(sotwNames(await rds.next()), ["r1"], "RDS answered while LDS is not ACKed");
          lds.ack(listeners);
        } else {
          const open = async (typeUrl: string) =>
            new DeltaClient(await connect(served), { ads, typeUrl, nodeId: node });
          const cds = await open(TypeUrl.Cluster);
          const eds = ads ? cds : await open(TypeUrl.Endpoint);
          cds.subscribe(TypeUrl.Cluster, ["*"]);
          const clusters = await cds.next();
          eds.subscribe(TypeUrl.Endpoint, ["c1", "c2"]);
          assert.deepEqual(deltaNames(await eds.next()), ["c1", "c2"]);
          cds.ack(clusters);
          const lds = ads ? cds : await open(TypeUrl.Listener);
          const rds = ads ? cds : await open(TypeUrl.Route);
          lds.subscribe(TypeUrl.Listener, ["*"]);
          const listeners = await lds.next();
          rds.subscribe(TypeUrl.Route, ["r1"]);
          assert.deepEqual(deltaNames(await rds.next()), ["r1"]);
          lds.ack(listeners);
        }
      },
    );
  }

  for (const ads of [true, false]) {
    const variant = ads ? "sotw-ads" : "sotw-per-type";
    conformanceCase(
      `C07.${variant}`,
      `${variant}, SnapshotCache({ads:true}): a watch held because it does not name every endpoint survives snapshots that cannot answer it, and is answered by the first one that can`,
      "go-control-plane #1356, Kuma #331, java-control-plane #127",
      async () => {
        const node = nodeId("c07");
        held.cache.setSnapshot(node, snapshotOf({ clusters: { c1: 0 }, endpoints: { a: 0, b: 0 } }));
        const client = new SotwClient(await connect(held), { ads, typeUrl: TypeUrl.Endpoint, nodeId: node });
        client.subscribe(TypeUrl.Endpoint, ["a"]);
        await client.call.quiet(300);
        if (ads) {
          // Another type on the same stream is served while EDS is held.
          client.subscribe(TypeUrl.Cluster, []);
          const clusters = await client.next();
          assert.equal(clusters.typeUrl, TypeUrl.Cluster);
          client.ack(clusters);
        }
        // Still not every endpoint named: the watch must stay, unanswered.
        held.cache.setSnapshot(node, snapshotOf({ clusters: { c1: 0 }, endpoints: { a: 1, b: 1 } }));
        await client.call.quiet(300);
        assert.equal(held.cache.numWatches(node), ads ? 2 : 1, "the held EDS watch is still open");
        held.cache.setSnapshot(node, snapshotOf({ clusters: { c1: 0 }, endpoints: { a: 2 } }));
        const endpoints = await client.next();
        assert.equal(endpoints.typeUrl, TypeUrl.Endpoint);
        assert.deepEqual(sotwNames(endpoints), ["a"]);
      },
    );
  }

  // C08: the client stops reading while a large response is being written, so
  // the next response waits unsent; the client then unsubscribes from a name
  // that waiting response carries. SotW per-type is left out: one type per
  // stream, so no second response can wait before the client ACKs the first.
  const bigClusters = () =>
    Array.from({ length: 600 }, (_, i) => create(ClusterSchema, { name: `big-${i}`, altStatName: "x".repeat(300) }));
  for (const variant of ["sotw-ads", "delta-ads", "delta-per-type"] as const) {
    conformanceCase(
      `C08.${variant}`,
      `${variant}: an unsubscribe drops what a response not yet written carries for that name, and keeps the rest`,
      "go-control-plane #1498",
      async () => {
        const node = nodeId("c08");
        const snapshot = (generation: number) =>
          Snapshot.fromResources({
            [TypeUrl.Cluster]: bigClusters(),
            [TypeUrl.Endpoint]: [
              makeEndpoints("a", generation + 1),
              makeEndpoints("x", generation + 1),
              makeEndpoints("big", variant === "delta-per-type" ? 4000 : 1),
            ],
          });
        plain.cache.setSnapshot(node, snapshot(0));
        // A 1 KiB window and no reading: the first large response blocks the stream.
        const connection = await connect(plain, { settings: { initialWindowSize: 1024 } });
        const ads = variant !== "delta-per-type";
        if (variant === "sotw-ads") {
          const client = new SotwClient(connection, { ads, typeUrl: TypeUrl.Endpoint, nodeId: node });
          client.call.pause();
          client.subscribe(TypeUrl.Cluster, []);
          await new Promise((r) => setTimeout(r, 100));
          client.subscribe(TypeUrl.Endpoint, ["a", "x"]);
          await new Promise((r) => setTimeout(r, 100));
          // The EDS response for [a, x] waits behind the clusters; the client never saw it.
          client.subscribe(TypeUrl.Endpoint, ["x"]);
          await new Promise((r) => setTimeout(r, 100));
          client.call.resume();
          const clusters = await client.next();
          assert.equal(clusters.typeUrl, TypeUrl.Cluster);
          const endpoints = await client.next();
          assert.deepEqual(sotwNames(endpoints), ["x"], "nothing for a after the unsubscribe");
          await client.call.quiet(200);
        } else {
          const client = new DeltaClient(connection, { ads, typeUrl: TypeUrl.Endpoint, nodeId: node });
          client.call.pause();
          if (ads) {
            client.subscribe(TypeUrl.Cluster, ["*"]);
            await new Promise((r) => setTimeout(r, 100));
            client.subscribe(TypeUrl.Endpoint, ["a", "x"]);
          } else {
            client.subscribe(TypeUrl.Endpoint, ["big", "a", "x"]);
          }
          await new Promise((r) => setTimeout(r, 100));
          plain.cache.setSnapshot(node, snapshot(1));
          await new Promise((r) => setTimeout(r, 100));
          client.subscribe(TypeUrl.Endpoint, [], ["a"]);
          await new Promise((r) => setTimeout(r, 100));
          client.call.resume();
          const seen: string[][] = [];
          for (;;) {
            let response: Awaited<ReturnType<typeof client.next>>;
            try {
              response = await client.next(500);
            } catch {
              break;
            }
            client.apply(response);
            if (response.typeUrl === TypeUrl.Endpoint) seen.push(deltaNames(response));
          }
          const last = seen.at(-1) ?? [];
          assert.ok(
            !last.includes("a"),
            `the response written after the unsubscribe carries a: ${JSON.stringify(seen)}`,
          );
          // Nothing the client still subscribes to is lost.
          assert.equal(
            client.held.get(TypeUrl.Endpoint)?.get("x"),
            versionsOf(snapshot(1), TypeUrl.Endpoint).get("x"),
            `x at its newest version: ${JSON.stringify(seen)}`,
          );
        }
      },
      { timeout: 30_000 },
    );
  }

  // C09: make-before-break. Watches are opened in the reverse order, so only
  // the server's ordering can put them right.
  for (const protocol of ["sotw", "delta"] as const) {
    conformanceCase(
      `C09.${protocol}-ads`,
      `${protocol} ADS: responses ready together go out clusters, endpoints, listeners, routes${protocol === "delta" ? ", removals last" : ""}`,
      "xDS protocol: eventual consistency considerations (make before break)",
      async () => {
        const node = nodeId("c09");
        const before = snapshotOf({
          clusters: { c1: 0 },
          endpoints: { c1: 0 },
          listeners: { l1: "r1" },
          routes: { r1: "c1" },
        });
        const afterwards = snapshotOf({
          clusters: { c2: 0 },
          endpoints: { c2: 0 },
          listeners: { l1: "r2" },
          routes: { r2: "c2" },
        });
        plain.cache.setSnapshot(node, before);
        const order = [TypeUrl.Route, TypeUrl.Listener, TypeUrl.Endpoint, TypeUrl.Cluster];
        const names: Record<string, string[]> = {
          [TypeUrl.Route]: ["r1", "r2"],
          [TypeUrl.Listener]: [],
          [TypeUrl.Endpoint]: ["c1", "c2"],
          [TypeUrl.Cluster]: [],
        };
        const wire: string[] = [];
        const short = (typeUrl: string) => typeUrl.slice(typeUrl.lastIndexOf(".") + 1);
        if (protocol === "sotw") {
          const client = new SotwClient(await connect(plain), { ads: true, typeUrl: TypeUrl.Cluster, nodeId: node });
          for (const typeUrl of order) {
            client.subscribe(typeUrl, names[typeUrl]);
            client.ack(await client.next());
          }
          await client.call.quiet(100);
          plain.cache.setSnapshot(node, afterwards);
          for (let i = 0; i < 4; i++) wire.push(short((await client.next()).typeUrl));
          assert.deepEqual(wire, ["Cluster", "ClusterLoadAssignment", "Listener", "RouteConfiguration"]);
        } else {
          const client = new DeltaClient(await connect(plain), { ads: true, typeUrl: TypeUrl.Cluster, nodeId: node });
          for (const typeUrl of order) {
            client.subscribe(typeUrl, (names[typeUrl] ?? []).length > 0 ? (names[typeUrl] ?? []) : ["*"]);
            const response = await client.next();
            client.ack(response);
          }
          await client.call.quiet(100);
          plain.cache.setSnapshot(node, afterwards);
          for (;;) {
            let response: Awaited<ReturnType<typeof client.next>>;
            try {
              response = await client.next(400);
            } catch {
              break;
            }
            client.ack(response);
            if (response.resources.length > 0) wire.push(`+${short(response.typeUrl)}`);
            if (response.removedResources.length > 0) wire.push(`-${short(response.typeUrl)}`);
          }
          // Additions in make-before-break order, and no removal before the last addition.
          assert.deepEqual(
            wire.filter((w) => w.startsWith("+")),
            ["+Cluster", "+ClusterLoadAssignment", "+Listener", "+RouteConfiguration"],
          );
          const lastAddition = wire.findLastIndex((w) => w.startsWith("+"));
          const firstRemoval = wire.findIndex((w) => w.startsWith("-"));
          assert.ok(firstRemoval > lastAddition, `removals before additions: ${wire.join(" ")}`);
          assert.deepEqual(wire.filter((w) => w.startsWith("-")).sort(), [
            "-Cluster",
            "-ClusterLoadAssignment",
            "-RouteConfiguration",
          ]);
        }
      },
    );
  }
});
