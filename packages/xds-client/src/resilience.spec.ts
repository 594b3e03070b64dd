import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, it } from "node:test";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { TypeUrl } from "@nebucloud/xds-core";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import type { XdsClientEvents } from "./client-events.js";
import { record, snapshotOf, startServer, type TestServer, until } from "./test-support/harness.js";
import { closedPort } from "./test-support/ports.js";
import { XdsClient } from "./xds-client.js";

const fast = { initialMs: 20, maxMs: 200 };

for (const protocol of ["sotw", "delta"] as const) {
  describe(`XdsClient reconnecting over ${protocol} ADS`, () => {
    const cleanup: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const fn of cleanup.splice(0).reverse()) await fn();
    });
    const client = (address: string, options: Partial<ConstructorParameters<typeof XdsClient>[0]> = {}) => {
      const c = new XdsClient({ server: address, node: { id: "n1" }, protocol, backoff: fast, ...options });
      cleanup.push(() => c.close());
      return c;
    };
    const server = async (options: Parameters<typeof startServer>[0] = {}) => {
      const s = await startServer(options);
      cleanup.push(() => s.stop());
      return s;
    };

    it("converges after the server is killed and restarted with the same snapshot, without removals", async () => {
      const first: TestServer = await startServer();
      first.cache.setSnapshot("n1", snapshotOf(["a", "b"], 8080, { listeners: ["l"] }));
      const c = client(first.address);
      const clusters = record();
      const endpoints = record();
      const connects: string[] = [];
      c.on("connected", ({ address }) => connects.push(address));
      c.watch(TypeUrl.Cluster, "*", clusters.handler);
      c.watch(TypeUrl.Endpoint, ["a", "b"], endpoints.handler);
      await until("the resources", () => clusters.lastNames().length === 2 && endpoints.lastNames().length === 2);
      const changesBefore = clusters.changes.length + endpoints.changes.length;

      const accepted = c.status().find((t) => t.typeUrl === TypeUrl.Cluster)?.version;
      first.kill();
      await until("the client notices", () => !c.connected);
      const resumed: string[] = [];
      const second = await server({
        port: first.port,
        callbacks: {
          onStreamRequest: (_i, r) => r.typeUrl === TypeUrl.Cluster && resumed.push(r.versionInfo),
          onDeltaStreamRequest: (_i, r) =>
            r.typeUrl === TypeUrl.Cluster && resumed.push(Object.keys(r.initialResourceVersions).sort().join()),
        },
      });
      second.cache.setSnapshot("n1", snapshotOf(["a", "b"], 8080, { listeners: ["l"] }));
      await until("the client is back", () => connects.length === 2 && c.connected, 5000);
      await until("the new server has the subscriptions", () => {
        const types = second.handle.streams()[0]?.status() ?? [];
        return types.length === 2;
      });
      // It resumed from what it held: SotW's last accepted version, delta's resource versions.
      assert.equal(resumed[0], protocol === "sotw" ? accepted : "a,b");
      // Resubscribed: a change on the new server arrives.
      second.cache.setSnapshot("n1", snapshotOf(["a", "b"], 9090, { listeners: ["l"] }));
      await until("the change", () => endpoints.changes.length > 1 || clusters.changes.length > 1);
      await until("both endpoints change", () =>
        endpoints.changes.some((m) => m.size === 2 && m !== endpoints.changes[0]),
      );
      assert.deepEqual(clusters.doesNotExist, [], "no cluster was said not to exist");
      assert.deepEqual(endpoints.doesNotExist, [], "no endpoint was said not to exist");
      for (const change of [...clusters.changes, ...endpoints.changes]) {
        assert.equal(change.size, 2, "no onChange ever lost a resource");
      }
      assert.equal(clusters.changes.length, 1, "the same clusters from the new server changed nothing");
      assert.ok(clusters.changes.length + endpoints.changes.length > changesBefore);
      assert.ok(clusters.errors.length >= 1, "watchers heard of the outage");
    });

    it("takes the new content of a server restarted with different resources", async () => {
      const first: TestServer = await startServer();
      first.cache.setSnapshot("n1", snapshotOf(["a", "b"]));
      const c = client(first.address);
      const clusters = record();
      c.watch(TypeUrl.Cluster, "*", clusters.handler);
      await until("the clusters", () => clusters.lastNames().join() === "a,b");
      first.kill();
      const second = await server({ port: first.port });
      second.cache.setSnapshot("n1", snapshotOf(["a", "c"], 8080, { connectTimeoutSeconds: 5 }));
      await until("the new clusters", () => clusters.lastNames().join() === "a,c", 5000);
      assert.deepEqual(clusters.doesNotExist, ["b"]);
      const a = c.get(TypeUrl.Cluster, "a")?.message as { connectTimeout?: { seconds: bigint } };
      assert.equal(a.connectTimeout?.seconds, 5n);
    });

    it("reopens a stream the server ends without an error", async () => {
      let streams = 0;
      const handler = connectNodeAdapter({
        routes(router) {
          router.service(AggregatedDiscoveryService, {
            // biome-ignore lint/correctness/useYield: ends the stream at once, cleanly
            async *streamAggregatedResources() {
              streams++;
            },
            // biome-ignore lint/correctness/useYield: as above
            async *deltaAggregatedResources() {
              streams++;
            },
          });
        },
      });
      const h2 = http2.createServer(handler);
      await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
      cleanup.push(() => new Promise<void>((resolve) => h2.close(() => resolve())));
      const c = client(`127.0.0.1:${(h2.address() as AddressInfo).port}`);
      const ends: XdsClientEvents["disconnected"][] = [];
      c.on("disconnected", (event) => ends.push(event));
      c.watch(TypeUrl.Cluster, "*", record().handler);
      await until("three streams", () => streams >= 3);
      assert.equal(ends[0]?.error.details["reason"], "ended");
      await c.close();
    });

    it("backs off exponentially while the server is unreachable, and says which address failed", async () => {
      const port = await closedPort();
      const c = client(`127.0.0.1:${port}`, { backoff: { initialMs: 20, maxMs: 1000, multiplier: 2, jitter: 0 } });
      const ends: XdsClientEvents["disconnected"][] = [];
      c.on("disconnected", (event) => ends.push(event));
      const seen = record();
      c.watch(TypeUrl.Cluster, "*", seen.handler);
      await until("four attempts", () => ends.length >= 4);
      assert.deepEqual(
        ends.slice(0, 4).map((e) => e.retryInMs),
        [20, 40, 80, 160],
      );
      assert.equal(ends[0]?.error.code, "channel_closed");
      assert.equal(ends[0]?.error.details["reason"], "unreachable");
      assert.match(ends[0]?.error.message ?? "", new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.equal(seen.errors.length, 1, "watchers hear of the outage once");
    });
  });
}
