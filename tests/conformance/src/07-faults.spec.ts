/**
 * X1-X4: faults. A disconnect storm during pushes, a client that stops
 * reading, a graceful shutdown under load with clients moving to a second
 * server, and snapshot churn while clients come and go. Each prints what it
 * measured; each counts the resources a client ended without ("lost").
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Snapshot } from "@nebucloud/xds-cache";
import { makeEndpoints } from "@nebucloud/xds-cache/testing";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { canCollect, heapMiB, type Served, serve, sleep } from "./support/fixtures.js";
import { FleetClient } from "./support/fleet.js";
import { Connection } from "./support/grpc-call.js";
import { record } from "./support/results.js";
import { DeltaClient, type Protocol, SotwClient } from "./support/xds-clients.js";

/** A world of `clusters` clusters and their endpoints, all at `generation`. */
function world(generation: number, clusters = 10): Snapshot {
  const names = Array.from({ length: clusters }, (_, i) => `c${i}`);
  return Snapshot.fromResources({
    [TypeUrl.Cluster]: names.map((name) => create(ClusterSchema, { name, altStatName: `${name}-g${generation}` })),
    [TypeUrl.Endpoint]: names.map((name) => makeEndpoints(name, 1 + (generation % 5))),
  });
}

/** Runs `body`, records the fault as survived or not with its numbers, and rethrows a failure. */
async function fault(name: string, body: () => Promise<object>): Promise<void> {
  let numbers: object = {};
  try {
    numbers = await body();
    record({ kind: "fault", name, survived: true, numbers });
  } catch (error) {
    record({ kind: "fault", name, survived: false, numbers });
    throw error;
  }
}

const random = (n: number) => Math.floor(Math.random() * n);
const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T;

describe("faults", () => {
  it("X1 disconnect storm: 1000 streams opening and closing at random during pushes leave no stream, watch or memory behind", {
    timeout: 60_000,
  }, async () => {
    await fault("disconnect storm", async () => {
      const served: Served = await serve();
      const nodes = Array.from({ length: 20 }, (_, i) => `storm-${i}`);
      let generation = 0;
      for (const node of nodes) served.cache.setSnapshot(node, world(0));
      const sessions: Connection[] = await Promise.all(
        Array.from({ length: 4 }, () => Connection.open(served.address)),
      );
      const session = async (i: number) => {
        const at = i % sessions.length;
        const c = sessions[at] as Connection;
        if (c.closed) sessions[at] = await Connection.open(served.address);
        return sessions[at] as Connection;
      };
      const before = await heapMiB();
      const started = Date.now();
      const pushing = setInterval(() => {
        generation++;
        served.cache.setSnapshot(pick(nodes), world(generation));
      }, 20);
      const counts = { opened: 0, cancelled: 0, halfClosed: 0, sessionsDropped: 0, responses: 0, maxOpen: 0 };
      let open = 0;
      const total = 1000;
      const concurrency = 150;
      let next = 0;
      const worker = async () => {
        while (next < total) {
          const i = next++;
          const connection = await session(i);
          const protocol: Protocol = pick(["sotw", "delta"]);
          const options = {
            ads: pick([true, false]),
            typeUrl: pick([TypeUrl.Cluster, TypeUrl.Endpoint]),
            nodeId: pick(nodes),
          };
          const client =
            protocol === "sotw" ? new SotwClient(connection, options) : new DeltaClient(connection, options);
          counts.opened++;
          open++;
          counts.maxOpen = Math.max(counts.maxOpen, open);
          if (client instanceof SotwClient)
            client.subscribe(options.typeUrl, options.typeUrl === TypeUrl.Cluster ? [] : ["c1", "c2"]);
          else client.subscribe(options.typeUrl, options.typeUrl === TypeUrl.Cluster ? ["*"] : ["c1", "c2"]);
          const running = (client as SotwClient).run(() => counts.responses++);
          await sleep(random(150));
          const ending = random(100);
          if (ending < 2) {
            counts.sessionsDropped++;
            connection.destroy();
          } else if (ending < 55) {
            counts.cancelled++;
            client.call.cancel();
          } else {
            counts.halfClosed++;
            client.call.endRequests();
          }
          await Promise.race([running, sleep(2000)]);
          client.call.cancel();
          open--;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      clearInterval(pushing);
      for (const s of sessions) s.destroy();
      for (let i = 0; i < 500 && (served.server.streams().length > 0 || served.cache.numWatches() > 0); i++)
        await sleep(10);
      const streams = served.server.streams().length;
      const watches = served.cache.numWatches();
      await served.stop();
      const after = await heapMiB();
      const numbers = {
        ...counts,
        pushes: generation,
        seconds: (Date.now() - started) / 1000,
        streamsAfter: streams,
        watchesAfter: watches,
        heapBeforeMiB: Number(before.toFixed(1)),
        heapAfterMiB: Number(after.toFixed(1)),
      };
      console.log(`# X1 disconnect storm: ${JSON.stringify(numbers)}${canCollect ? "" : " (no --expose-gc)"}`);
      assert.equal(counts.opened, total);
      assert.equal(streams, 0, "streams left open");
      assert.equal(watches, 0, "cache watches left open");
      assert.ok(after - before < 32, `heap grew by ${(after - before).toFixed(1)} MiB`);
      return numbers;
    });
  });

  it("X2 slow consumer: a client that stops reading costs a bounded number of built responses and little memory, and gets the newest version when it reads again", {
    timeout: 60_000,
  }, async () => {
    await fault("slow consumer", async () => {
      const built = new Map<number, number>();
      const count = (id: number) => built.set(id, (built.get(id) ?? 0) + 1);
      const served = await serve({
        callbacks: {
          onStreamResponse: (s) => count(s.id),
          onDeltaStreamResponse: (s) => count(s.id),
        },
      });
      const big = (generation: number) => world(generation, 300);
      served.cache.setSnapshot("slow", big(0));
      const clients = await Promise.all(
        (["sotw", "delta"] as const).map(async (protocol) => {
          // A 1 KiB window and no reading: the server's writes block almost at once.
          const connection = await Connection.open(served.address, { settings: { initialWindowSize: 1024 } });
          const fleet = new FleetClient("slow", protocol, ["c1"]);
          const running = fleet.stream(connection);
          fleet.current?.call.pause();
          return { fleet, connection, running };
        }),
      );
      await sleep(200);
      const before = await heapMiB();
      const updates = 50;
      for (let g = 1; g <= updates; g++) {
        served.cache.setSnapshot("slow", big(g));
        await sleep(10);
      }
      const builtWhileStalled = [...built.values()];
      const during = await heapMiB();
      for (const c of clients) c.fleet.current?.call.resume();
      const final = big(updates);
      for (let i = 0; i < 500 && clients.some((c) => c.fleet.lost(final) > 0); i++) await sleep(10);
      const lost = clients.reduce((sum, c) => sum + c.fleet.lost(final), 0);
      const numbers = {
        updates,
        builtWhileStalled,
        heapBeforeMiB: Number(before.toFixed(1)),
        heapStalledMiB: Number(during.toFixed(1)),
        lost,
      };
      console.log(`# X2 slow consumer: ${JSON.stringify(numbers)}`);
      record({ kind: "lost", where: "slow consumer", resources: lost });
      for (const c of clients) c.connection.destroy();
      await served.stop();
      // SotW waits for an ACK before building more; delta merges into one pending response per type.
      assert.ok(
        builtWhileStalled.every((n) => n <= 4),
        `responses built for a stalled client: ${builtWhileStalled}`,
      );
      assert.ok(during - before < 16, `heap grew by ${(during - before).toFixed(1)} MiB while stalled`);
      assert.equal(lost, 0, "resources lost");
      return numbers;
    });
  });

  it("X3 graceful shutdown under load: clients get GOAWAY and UNAVAILABLE, move to a second server with the same snapshot, and all end on the final version", {
    timeout: 60_000,
  }, async () => {
    await fault("graceful shutdown", async () => {
      const first = await serve({ config: { drainTimeoutMs: 300 } });
      const second = await serve();
      let generation = 0;
      const push = () => {
        const snapshot = world(generation);
        for (let n = 0; n < 4; n++) {
          first.cache.setSnapshot(`fleet-${n}`, snapshot);
          second.cache.setSnapshot(`fleet-${n}`, snapshot);
        }
      };
      push();
      const onFirst = await Promise.all(Array.from({ length: 4 }, () => Connection.open(first.address)));
      const onSecond = await Promise.all(Array.from({ length: 4 }, () => Connection.open(second.address)));
      const fleet = Array.from(
        { length: 40 },
        (_, i) => new FleetClient(`fleet-${i % 4}`, i % 2 === 0 ? "sotw" : "delta", [`c${i % 10}`]),
      );
      const lives = fleet.map(async (client, i) => {
        const end = await client.stream(onFirst[i % 4] as Connection);
        // Like a gRPC client: the stream ended, reconnect to the next server.
        void client.stream(onSecond[i % 4] as Connection);
        return end;
      });
      const pushing = setInterval(() => {
        generation++;
        push();
      }, 50);
      await sleep(300);
      const shutdown = first.server.shutdown();
      const ends = await Promise.all(lives);
      await shutdown;
      await sleep(300);
      clearInterval(pushing);
      generation++;
      push();
      const final = world(generation);
      for (let i = 0; i < 500 && fleet.some((c) => c.lost(final) > 0); i++) await sleep(10);
      const lost = fleet.reduce((sum, c) => sum + c.lost(final), 0);
      const goaways = onFirst.filter((c) => c.goaway).length;
      const codes: Record<string, number> = {};
      for (const end of ends) codes[`${end.via} ${end.code}`] = (codes[`${end.via} ${end.code}`] ?? 0) + 1;
      const numbers = {
        clients: fleet.length,
        goawayConnections: goaways,
        firstStreamEnds: codes,
        pushes: generation,
        lost,
      };
      console.log(`# X3 graceful shutdown: ${JSON.stringify(numbers)}`);
      record({ kind: "lost", where: "graceful shutdown", resources: lost });
      for (const c of [...onFirst, ...onSecond]) c.destroy();
      await first.stop();
      await second.stop();
      assert.equal(goaways, onFirst.length, "every connection got GOAWAY");
      assert.ok(
        ends.every((e) => (e.via === "trailers" || e.via === "trailers-only") && e.code === 14),
        `every stream ended with UNAVAILABLE: ${JSON.stringify(codes)}`,
      );
      assert.equal(lost, 0, "resources lost");
      return numbers;
    });
  });

  it("X4 snapshot churn: 100 updates at 10 per second while clients come and go; every client ends on the final version", {
    timeout: 60_000,
  }, async () => {
    await fault("snapshot churn", async () => {
      const served = await serve();
      const nodes = ["churn-0", "churn-1", "churn-2"];
      let generation = 0;
      const push = () => {
        for (const node of nodes) served.cache.setSnapshot(node, world(generation));
      };
      push();
      const fleet = Array.from(
        { length: 24 },
        (_, i) =>
          new FleetClient(nodes[i % 3] as string, i % 2 === 0 ? "sotw" : "delta", [`c${i % 10}`, `c${(i + 3) % 10}`]),
      );
      let churning = true;
      let reconnects = 0;
      const lives = fleet.map(async (client) => {
        let connection = await Connection.open(served.address);
        for (;;) {
          const running = client.stream(connection);
          if (!churning) return running;
          await Promise.race([running, sleep(300 + random(1200))]);
          if (!churning) return running;
          // Leave: reset the stream, or drop the whole connection, then come back.
          if (random(2) === 0) client.cancel();
          else {
            connection.destroy();
            connection = await Connection.open(served.address);
          }
          await running;
          reconnects++;
        }
      });
      for (let update = 1; update <= 100; update++) {
        await sleep(100);
        generation++;
        push();
      }
      churning = false;
      const final = world(generation);
      for (let i = 0; i < 500 && fleet.some((c) => c.lost(final) > 0); i++) await sleep(10);
      const lost = fleet.reduce((sum, c) => sum + c.lost(final), 0);
      const numbers = { updates: generation, clients: fleet.length, reconnects, lost };
      console.log(`# X4 snapshot churn: ${JSON.stringify(numbers)}`);
      record({ kind: "lost", where: "snapshot churn", resources: lost });
      for (const client of fleet) client.cancel();
      await Promise.race([Promise.all(lives), sleep(2000)]);
      await served.stop();
      assert.equal(lost, 0, "resources lost");
      return numbers;
    });
  });
});
