import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeCluster } from "@nebucloud/xds-cache/testing";
import { Resource, TypeUrl } from "@nebucloud/xds-core";
import { record, settle, startServer, type TestServer, until } from "./test-support/harness.js";
import { XdsClient } from "./xds-client.js";

const withTtl = (name: string, ttlMs: number) => Resource.from(TypeUrl.Cluster, makeCluster(name), { ttlMs });

for (const protocol of ["sotw", "delta"] as const) {
  describe(`resources with a TTL over ${protocol} ADS`, () => {
    const cleanup: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const fn of cleanup.splice(0).reverse()) await fn();
    });
    const setup = async () => {
      const s: TestServer = await startServer({ cache: new SnapshotCache({ heartbeatIntervalMs: 100 }) });
      s.cache.setSnapshot(
        "n1",
        Snapshot.fromResources({ [TypeUrl.Cluster]: [withTtl("ttl", 400), makeCluster("plain")] }),
      );
      const c = new XdsClient({
        server: s.address,
        node: { id: "n1" },
        protocol,
        backoff: { initialMs: 50, maxMs: 200 },
      });
      cleanup.push(() => c.close());
      return { s, c };
    };

    it("unwraps a resource sent in discovery.v3.Resource and keeps it alive on heartbeats", async () => {
      const { s, c } = await setup();
      cleanup.push(() => s.stop());
      const seen = record();
      c.watch(TypeUrl.Cluster, "*", seen.handler);
      await until("the clusters", () => seen.lastNames().join() === "plain,ttl");
      assert.equal(c.get(TypeUrl.Cluster, "ttl")?.ttlMs, 400);
      await settle(1000);
      assert.deepEqual(seen.doesNotExist, [], "heartbeats kept it");
      assert.equal(seen.changes.length, 1, "a heartbeat changes nothing");
    });

    it("drops a resource whose TTL runs out without a heartbeat", async () => {
      const { s, c } = await setup();
      const seen = record();
      c.watch(TypeUrl.Cluster, "*", seen.handler);
      await until("the clusters", () => seen.lastNames().join() === "plain,ttl");
      s.kill();
      await until("the expiry", () => seen.doesNotExist.includes("ttl"), 3000);
      assert.deepEqual(seen.lastNames(), ["plain"], "a resource without TTL stays");
    });
  });
}
