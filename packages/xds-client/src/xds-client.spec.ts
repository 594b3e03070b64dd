import assert from "node:assert/strict";
import { after, afterEach, describe, it } from "node:test";
import { Snapshot } from "@nebucloud/xds-cache";
import { makeCluster, makeEndpoints } from "@nebucloud/xds-cache/testing";
import { TypeUrl, XdsError } from "@nebucloud/xds-core";
import type { Cluster } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import type { ClusterLoadAssignment } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { record, settle, snapshotOf, startServer, type TestServer, until } from "./test-support/harness.js";
import { XdsClient } from "./xds-client.js";

const fast = { initialMs: 20, maxMs: 200 };

for (const protocol of ["sotw", "delta"] as const) {
  describe(`XdsClient over ${protocol} ADS`, () => {
    const servers: TestServer[] = [];
    const clients: XdsClient[] = [];
    const client = (server: TestServer, options: Partial<ConstructorParameters<typeof XdsClient>[0]> = {}) => {
      const c = new XdsClient({ server: server.address, node: { id: "n1" }, protocol, backoff: fast, ...options });
      clients.push(c);
      return c;
    };
    const server = async (options: Parameters<typeof startServer>[0] = {}) => {
      const s = await startServer(options);
      servers.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await Promise.all(servers.splice(0).map((s) => s.stop()));
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
    });

    it("fetches every cluster a wildcard watch asks for", async () => {
      const s = await server();
      s.cache.setSnapshot("n1", snapshotOf(["a", "b"]));
      const c = client(s);
      const seen = record();
      c.watch(TypeUrl.Cluster, "*", seen.handler);
      await until("the clusters", () => seen.changes.length > 0);
      assert.deepEqual(seen.lastNames(), ["a", "b"]);
      assert.equal((seen.last("a")?.message as Cluster | undefined)?.name, "a");
      assert.equal(c.get(TypeUrl.Cluster, "b")?.name, "b");
      assert.deepEqual([...c.getAll(TypeUrl.Cluster).keys()].sort(), ["a", "b"]);
      await until("the ACK", () => c.status()[0]?.version !== "");
      assert.equal(c.status()[0]?.nack, undefined);
    });

    it("fetches only the endpoints a named watch asks for", async () => {
      const s = await server();
      s.cache.setSnapshot("n1", snapshotOf(["a", "b", "c"]));
      const c = client(s);
      const seen = record();
      c.watch(TypeUrl.Endpoint, ["b"], seen.handler);
      await until("the endpoints", () => seen.changes.length > 0);
      assert.deepEqual(seen.lastNames(), ["b"]);
      assert.equal((seen.last("b")?.message as ClusterLoadAssignment | undefined)?.clusterName, "b");
    });

    it("delivers a changed resource to its watcher and nothing to watchers of unchanged ones", async () => {
      const s = await server();
      s.cache.setSnapshot("n1", snapshotOf(["a", "b"], 8080));
      const c = client(s);
      const a = record();
      const b = record();
      c.watch(TypeUrl.Endpoint, ["a"], a.handler);
      c.watch(TypeUrl.Endpoint, ["b"], b.handler);
      await until("both endpoints", () => a.changes.length === 1 && b.changes.length === 1);
      const before = c.get(TypeUrl.Endpoint, "a")?.version;
      s.cache.setSnapshot(
        "n1",
        Snapshot.fromResources({
          [TypeUrl.Endpoint]: [
            makeEndpoints("a", [{ host: "127.0.0.1", port: 9090 }]),
            makeEndpoints("b", [{ host: "127.0.0.1", port: 8080 }]),
          ],
        }),
      );
      await until("the update", () => a.changes.length === 2);
      assert.notEqual(c.get(TypeUrl.Endpoint, "a")?.version, before);
      await settle(100);
      assert.equal(b.changes.length, 1, "the watcher of b heard nothing new");
    });

    it("shares one subscription among watchers of the same name and calls each of them", async () => {
      const requests: string[][] = [];
      const s = await server({
        callbacks: {
          onStreamRequest: (_i, r) => r.typeUrl === TypeUrl.Cluster && requests.push([...r.resourceNames]),
          onDeltaStreamRequest: (_i, r) =>
            r.typeUrl === TypeUrl.Cluster && requests.push([...r.resourceNamesSubscribe]),
        },
      });
      s.cache.setSnapshot("n1", snapshotOf(["a"]));
      const c = client(s);
      const one = record();
      const two = record();
      c.watch(TypeUrl.Cluster, ["a"], one.handler);
      c.watch(TypeUrl.Cluster, ["a"], two.handler);
      await until("both watchers", () => one.changes.length === 1 && two.changes.length === 1);
      assert.deepEqual(requests[0], ["a"], "one request names a once");
    });

    it("removes a cluster the server no longer has and tells its watchers", async () => {
      const s = await server();
      s.cache.setSnapshot("n1", snapshotOf(["a", "b"]));
      const c = client(s);
      const all = record();
      const named = record();
      c.watch(TypeUrl.Cluster, "*", all.handler);
      c.watch(TypeUrl.Cluster, ["b"], named.handler);
      await until("the clusters", () => all.lastNames().length === 2 && named.changes.length === 1);
      s.cache.setSnapshot("n1", snapshotOf(["a"]));
      await until("the removal", () => all.lastNames().join() === "a");
      await until("b does not exist", () => named.doesNotExist.includes("b"));
      assert.equal(c.get(TypeUrl.Cluster, "b"), undefined);
      assert.equal(named.changes.at(-1)?.size, 0);
      assert.deepEqual(all.doesNotExist, ["b"]);
    });

    if (protocol === "sotw") {
      it("takes a listener missing from a full-state LDS response as removed", async () => {
        const s = await server();
        s.cache.setSnapshot("n1", snapshotOf(["a"], 8080, { listeners: ["l1", "l2"] }));
        const c = client(s);
        const seen = record();
        c.watch(TypeUrl.Listener, "*", seen.handler);
        await until("the listeners", () => seen.lastNames().join() === "l1,l2");
        s.cache.setSnapshot("n1", snapshotOf(["a"], 8080, { listeners: ["l1"] }));
        await until("the removal", () => seen.lastNames().join() === "l1");
        assert.deepEqual(seen.doesNotExist, ["l2"]);
      });
    } else {
      it("removes endpoints named in removed_resources", async () => {
        const s = await server();
        s.cache.setSnapshot("n1", snapshotOf(["a", "b"]));
        const c = client(s);
        const seen = record();
        c.watch(TypeUrl.Endpoint, ["a", "b"], seen.handler);
        await until("the endpoints", () => seen.lastNames().length === 2);
        s.cache.setSnapshot("n1", snapshotOf(["a"]));
        await until("the removal", () => seen.doesNotExist.includes("b"));
        assert.deepEqual(seen.lastNames(), ["a"]);
      });
    }

    it("NACKs a response its validator rejects, with the validator's text, and keeps what it had", async () => {
      const nacks: string[] = [];
      const s = await server({ callbacks: { onNack: (_i, _n, _t, _v, message) => nacks.push(message) } });
      s.cache.setSnapshot("n1", snapshotOf(["a"]));
      const c = client(s, {
        validate: (_type, name) => (name === "evil" ? "evil clusters are not allowed" : undefined),
      });
      const seen = record();
      c.watch(TypeUrl.Cluster, "*", seen.handler);
      await until("the clusters", () => seen.changes.length === 1);
      const accepted = c.status()[0]?.version;
      s.cache.setSnapshot("n1", snapshotOf(["a", "evil"]));
      await until("the NACK", () => nacks.length === 1);
      assert.match(nacks[0] ?? "", /evil: evil clusters are not allowed/);
      assert.deepEqual([...c.getAll(TypeUrl.Cluster).keys()], ["a"]);
      assert.equal(c.status()[0]?.version, accepted);
      assert.match(c.status()[0]?.nack?.message ?? "", /evil clusters are not allowed/);
      assert.equal(seen.changes.length, 1, "watchers heard no change");
      assert.ok(seen.errors[0] instanceof XdsError);
      // The next good snapshot is accepted.
      s.cache.setSnapshot("n1", snapshotOf(["a", "b"]));
      await until("the next snapshot", () => seen.lastNames().join() === "a,b");
      assert.equal(c.status()[0]?.nack, undefined);
    });

    it("NACKs a validator that throws, with the thrown message", async () => {
      const nacks: string[] = [];
      const s = await server({ callbacks: { onNack: (_i, _n, _t, _v, message) => nacks.push(message) } });
      s.cache.setSnapshot("n1", snapshotOf(["a"]));
      const c = client(s, {
        validate: () => {
          throw new Error("no clusters today");
        },
      });
      c.watch(TypeUrl.Cluster, "*", record().handler);
      await until("the NACK", () => nacks.length === 1);
      assert.equal(nacks[0], "a: no clusters today");
      assert.equal(c.getAll(TypeUrl.Cluster).size, 0);
    });

    it("stops delivering a resource once unsubscribed, and tells the server", async () => {
      const requests: string[][] = [];
      const s = await server({
        callbacks: {
          onStreamRequest: (_i, r) => r.typeUrl === TypeUrl.Endpoint && requests.push([...r.resourceNames]),
          onDeltaStreamRequest: (_i, r) =>
            r.typeUrl === TypeUrl.Endpoint &&
            requests.push([...r.resourceNamesUnsubscribe.map((n) => `-${n}`), ...r.resourceNamesSubscribe]),
        },
      });
      s.cache.setSnapshot("n1", snapshotOf(["a", "b"]));
      const c = client(s);
      const a = record();
      const b = record();
      c.watch(TypeUrl.Endpoint, ["a"], a.handler);
      const stop = c.watch(TypeUrl.Endpoint, ["b"], b.handler);
      await until("both", () => a.changes.length === 1 && b.changes.length === 1);
      stop();
      stop();
      await until("the server hears", () =>
        protocol === "sotw" ? requests.at(-1)?.join() === "a" : requests.some((r) => r.includes("-b")),
      );
      await until(
        "the server's subscription",
        () =>
          s.handle
            .streams()[0]
            ?.status()
            .find((t) => t.typeUrl === TypeUrl.Endpoint)
            ?.subscribed.join() === "a",
      );
      assert.equal(c.get(TypeUrl.Endpoint, "b"), undefined, "the client forgets b");
      s.cache.setSnapshot("n1", snapshotOf(["a", "b"], 9090));
      await until("a's update", () => a.changes.length === 2);
      await settle(100);
      assert.equal(b.changes.length, 1, "b's watcher heard nothing more");
    });

    it("ends the server's wildcard subscription when the last wildcard watch ends", async () => {
      const s = await server();
      s.cache.setSnapshot("n1", snapshotOf(["a", "b"]));
      const c = client(s);
      const seen = record();
      const stop = c.watch(TypeUrl.Cluster, "*", seen.handler);
      await until("the clusters", () => seen.changes.length === 1);
      stop();
      const subscription = () =>
        s.handle
          .streams()[0]
          ?.status()
          .find((t) => t.typeUrl === TypeUrl.Cluster);
      await until("the server drops the wildcard", () => subscription()?.wildcard === false, 1000);
      assert.equal(c.getAll(TypeUrl.Cluster).size, 0);
    });

    it("gets back the endpoints it forgot when a wildcard watch ends and a new one starts", async () => {
      const s = await server();
      s.cache.setSnapshot("n1", snapshotOf(["a", "b"]));
      const c = client(s);
      const first = record();
      const stop = c.watch(TypeUrl.Endpoint, "*", first.handler);
      await until("the endpoints", () => first.lastNames().length === 2);
      c.watch(TypeUrl.Endpoint, ["a"], record().handler);
      await settle(50);
      stop();
      await settle(100);
      assert.deepEqual([...c.getAll(TypeUrl.Endpoint).keys()], ["a"], "b is forgotten");
      const second = record();
      c.watch(TypeUrl.Endpoint, "*", second.handler);
      await until("b again", () => second.lastNames().join() === "a,b", 2000);
    });

    it("says a named resource does not exist when none arrives within the timeout", async () => {
      const s = await server();
      s.cache.setSnapshot("n1", snapshotOf(["a"]));
      const c = client(s, { doesNotExistTimeoutMs: 150 });
      const seen = record();
      const started = Date.now();
      c.watch(TypeUrl.Endpoint, ["a", "missing"], seen.handler);
      await until("does-not-exist", () => seen.doesNotExist.length > 0, 3000);
      assert.deepEqual(seen.doesNotExist, ["missing"]);
      assert.ok(Date.now() - started >= 140, "not before the timeout");
      assert.deepEqual(seen.lastNames(), ["a"]);
      assert.deepEqual(c.status()[0]?.doesNotExist, ["missing"]);
      // A later watcher of the same name hears it at once.
      const late = record();
      c.watch(TypeUrl.Endpoint, ["missing"], late.handler);
      await until("the late watcher", () => late.doesNotExist.length === 1, 1000);
      // And it appears when the server gets it.
      s.cache.setSnapshot("n1", snapshotOf(["a", "missing"]));
      await until("the resource", () => late.changes.length === 1);
    });

    it("does not time out a resource that arrives in time", async () => {
      const s = await server();
      const c = client(s, { doesNotExistTimeoutMs: 300 });
      const seen = record();
      c.watch(TypeUrl.Cluster, ["late"], seen.handler);
      await settle(100);
      s.cache.setSnapshot("n1", snapshotOf(["late"]));
      await until("the resource", () => seen.changes.length === 1);
      await settle(400);
      assert.deepEqual(seen.doesNotExist, []);
    });

    it("passes xdstp:// names through as opaque names", async () => {
      const name = "xdstp://control-plane.example/envoy.config.cluster.v3.Cluster/prod/backend";
      const s = await server();
      s.cache.setSnapshot("n1", Snapshot.fromResources({ [TypeUrl.Cluster]: [makeCluster(name)] }));
      const c = client(s);
      const seen = record();
      c.watch(TypeUrl.Cluster, [name], seen.handler);
      await until("the resource", () => seen.changes.length === 1);
      assert.deepEqual(seen.lastNames(), [name]);
      assert.equal(c.get(TypeUrl.Cluster, name)?.name, name);
    });

    it("refuses a watch of a type no resource type has, naming the known types", () => {
      const c = new XdsClient({ server: "127.0.0.1:1", node: { id: "n1" }, protocol });
      clients.push(c);
      assert.throws(
        () => c.watch("type.googleapis.com/nope.Nothing", "*", record().handler),
        (e: unknown) => e instanceof XdsError && e.code === "unknown_type" && Array.isArray(e.details["known"]),
      );
    });

    it("leaves no timer and no stream behind once closed", async () => {
      const s = await server();
      s.cache.setSnapshot("n1", snapshotOf(["a"]));
      const c = client(s, { doesNotExistTimeoutMs: 60_000 });
      const seen = record();
      c.watch(TypeUrl.Endpoint, ["missing"], seen.handler);
      c.watch(TypeUrl.Cluster, "*", seen.handler);
      await until("the clusters", () => seen.changes.length === 1);
      await c.close();
      assert.equal(c.connected, false);
      await until("the server sees the stream end", () => s.handle.streams().length === 0);
      assert.throws(() => c.watch(TypeUrl.Cluster, "*", seen.handler), /closed/);
    });
  });
}
