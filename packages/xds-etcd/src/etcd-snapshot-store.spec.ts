import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeCluster, makeEndpoints } from "@nebucloud/xds-cache/testing";
import { createResourceTypeRegistry, TypeUrl } from "@nebucloud/xds-core";
import { LocalitySchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { connectEtcd } from "./etcd-client.js";
import { EtcdSnapshotStore, type EtcdSnapshotStoreOptions } from "./etcd-snapshot-store.js";
import { StoreLayout } from "./store-layout.js";
import { startTcpProxy } from "./test-support/tcp-proxy.js";
import { until } from "./test-support/until.js";
import { type EtcdServer, findEtcd, startEtcd } from "./testing/etcd-server.js";

const etcdBin = findEtcd();
const skip = etcdBin ? false : "no etcd binary (install Debian's etcd-server or set ETCD_BIN): skipped, not passed";

const world = (port: number, ...names: string[]) =>
  Snapshot.fromResources({
    [TypeUrl.Cluster]: names.map((n) => makeCluster(n)),
    [TypeUrl.Endpoint]: names.map((n) => makeEndpoints(n, [{ host: "127.0.0.1", port }])),
  });

describe("EtcdSnapshotStore against a real etcd", { skip }, () => {
  let etcd: EtcdServer;
  const open: EtcdSnapshotStore[] = [];
  let prefixes = 0;
  const prefix = () => `test-${process.pid}-${++prefixes}`;
  const store = (options: Partial<EtcdSnapshotStoreOptions> & { url: string }) => {
    const cache = new SnapshotCache();
    const s = EtcdSnapshotStore.open({ target: cache, leaseTtlSeconds: 2, ...options });
    open.push(s);
    return { store: s, cache };
  };
  const close = async (s: EtcdSnapshotStore) => {
    open.splice(open.indexOf(s), 1);
    await s.close();
  };

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    for (const s of open.splice(0)) await s.close();
    await etcd?.destroy();
  });

  it("a replica serves exactly what the writer published, at the same versions", async () => {
    const url = `etcd://${etcd.hostPort}/${prefix()}`;
    const writer = store({ url });
    const replica = store({ url, candidate: false });
    await until("the writer's election", () => writer.store.isWriter);
    const published = world(8080, "a", "b");
    writer.store.publish({ snapshots: new Map([["n1", published]]) });
    await writer.store.whenPublished();
    await replica.store.whenSynced();
    const served = replica.cache.getSnapshot("n1");
    assert.ok(served);
    for (const typeUrl of [TypeUrl.Cluster, TypeUrl.Endpoint]) {
      assert.equal(served.version(typeUrl), published.version(typeUrl), typeUrl);
      assert.deepEqual([...served.resources(typeUrl).keys()].sort(), ["a", "b"]);
    }
    // The writer serves what it read back, too.
    await until(
      "the writer's own replica",
      () => writer.cache.getSnapshot("n1")?.version(TypeUrl.Endpoint) === published.version(TypeUrl.Endpoint),
    );
  });

  it("applies a new state to every node key and clears the node keys it no longer names", async () => {
    const url = `etcd://${etcd.hostPort}/${prefix()}`;
    const writer = store({ url });
    const replica = store({ url, candidate: false });
    await until("the writer's election", () => writer.store.isWriter);
    writer.store.publish({
      snapshots: new Map([
        ["n1", world(1, "a")],
        ["n2", world(1, "a")],
      ]),
    });
    await until("both node keys", () => replica.cache.getSnapshot("n2") !== undefined);
    const next = world(2, "a", "c");
    writer.store.publish({ snapshots: new Map([["n1", next]]) });
    await until(
      "the update",
      () => replica.cache.getSnapshot("n1")?.version(TypeUrl.Endpoint) === next.version(TypeUrl.Endpoint),
    );
    assert.equal(replica.cache.getSnapshot("n2"), undefined, "n2 is cleared");
    assert.equal(replica.store.status().replica.nodeKeys, 1);
  });

  it("stores identical snapshots of a thousand node keys once: one manifest, each resource once", async () => {
    const p = prefix();
    const url = `etcd://${etcd.hostPort}/${p}`;
    const writer = store({ url });
    const replica = store({ url, candidate: false });
    await until("the writer's election", () => writer.store.isWriter);
    const snapshots = new Map<string, Snapshot>();
    for (let i = 0; i < 1000; i++) snapshots.set(`node-${i}`, world(8080, "a", "b"));
    writer.store.publish({ snapshots });
    await writer.store.whenPublished();
    await until("every node key", () => replica.store.status().replica.nodeKeys === 1000);
    const client = connectEtcd({ endpoints: [etcd.endpoint], prefix: p });
    try {
      const layout = new StoreLayout(p);
      const keys = await client.getAll().prefix(layout.objects).keys();
      assert.equal(keys.filter((k) => layout.classify(k)?.kind === "manifest").length, 1);
      assert.equal(keys.filter((k) => layout.classify(k)?.kind === "resource").length, 4);
    } finally {
      client.close();
    }
    // The replica shares one Snapshot among them too.
    assert.equal(replica.cache.getSnapshot("node-0"), replica.cache.getSnapshot("node-999"));
  });

  it("writes nothing when the same content is published again", async () => {
    const p = prefix();
    const url = `etcd://${etcd.hostPort}/${p}`;
    const writer = store({ url });
    await until("the writer's election", () => writer.store.isWriter);
    writer.store.publish({ snapshots: new Map([["n1", world(1, "a")]]) });
    await writer.store.whenPublished();
    const revision = writer.store.status().publisher?.lastRevision;
    writer.store.publish({ snapshots: new Map([["n1", world(1, "a")]]) });
    await writer.store.whenPublished();
    assert.equal(writer.store.status().publisher?.lastRevision, revision);
  });

  it("collects the objects that neither the current nor the previous state names", async () => {
    const p = prefix();
    const url = `etcd://${etcd.hostPort}/${p}`;
    const writer = store({ url });
    await until("the writer's election", () => writer.store.isWriter);
    for (const port of [1, 2, 3]) {
      writer.store.publish({ snapshots: new Map([["n1", world(port, "a")]]) });
      await writer.store.whenPublished();
    }
    const client = connectEtcd({ endpoints: [etcd.endpoint], prefix: p });
    try {
      const layout = new StoreLayout(p);
      const count = async (kind: string) =>
        (await client.getAll().prefix(layout.objects).keys()).filter((k) => layout.classify(k)?.kind === kind).length;
      // States 2 and 3: two manifests, one cluster (unchanged), two endpoint versions. Collection follows the commit.
      await until("state 1's objects collected", async () => (await count("manifest")) === 2);
      assert.equal(await count("resource"), 3);
    } finally {
      client.close();
    }
  });

  it("elects exactly one of two candidates, and the standby takes over when the writer resigns", async () => {
    const url = `etcd://${etcd.hostPort}/${prefix()}`;
    const first = store({ url, identity: "first" });
    await until("the first election", () => first.store.isWriter);
    const second = store({ url, identity: "second" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(second.store.isWriter, false, "one writer at a time");
    second.store.publish({ snapshots: new Map([["n1", world(7, "from-second")]]) });
    await close(first.store);
    await until("the standby's election", () => second.store.isWriter, 5000);
    await second.store.whenPublished();
    await until(
      "its offer served",
      () => second.cache.getSnapshot("n1")?.resources(TypeUrl.Cluster).has("from-second") === true,
    );
    assert.equal(second.store.status().replica.writer, "second");
  });

  it("fences off a writer whose lease key is gone: its write is refused and it steps down", async () => {
    const p = prefix();
    const url = `etcd://${etcd.hostPort}/${p}`;
    const writer = store({ url, identity: "old" });
    await until("the election", () => writer.store.isWriter);
    writer.store.publish({ snapshots: new Map([["n1", world(1, "a")]]) });
    await writer.store.whenPublished();
    const client = connectEtcd({ endpoints: [etcd.endpoint], prefix: p });
    try {
      // What a lease expiring behind the writer's back does.
      await client.delete().prefix(new StoreLayout(p).writers);
      writer.store.publish({ snapshots: new Map([["n1", world(2, "b")]]) });
      await until("the refusal", () => writer.store.status().publisher?.lastError?.includes("not the writer") === true);
      const state = await client.get(new StoreLayout(p).state).string();
      assert.ok(
        !state?.includes('"b"') && writer.cache.getSnapshot("n1")?.resources(TypeUrl.Cluster).has("a"),
        "b was never committed",
      );
    } finally {
      client.close();
    }
    // It campaigns again and then publishes its newest offer.
    await until(
      "re-election and publish",
      () => writer.cache.getSnapshot("n1")?.resources(TypeUrl.Cluster).has("b") === true,
      10_000,
    );
  });

  it("keeps serving while etcd is down, says so, and catches up with what was published after it returned", async () => {
    const url = `etcd://${etcd.hostPort}/${prefix()}`;
    const writer = store({ url, leaseTtlSeconds: 5 });
    const replica = store({ url, candidate: false });
    await until("the election", () => writer.store.isWriter);
    const first = world(1, "a");
    writer.store.publish({ snapshots: new Map([["n1", first]]) });
    await until("the first state", () => replica.cache.getSnapshot("n1") !== undefined);
    await etcd.stop();
    await until("the replica to notice", () => !replica.store.status().replica.connected, 10_000);
    const status = replica.store.status().replica;
    assert.ok(status.disconnectedSince && status.lastError?.includes("etcd unreachable"), JSON.stringify(status));
    assert.equal(
      replica.cache.getSnapshot("n1")?.version(TypeUrl.Endpoint),
      first.version(TypeUrl.Endpoint),
      "still serving",
    );
    // The source changes while etcd is away.
    const second = world(2, "a", "b");
    writer.store.publish({ snapshots: new Map([["n1", second]]) });
    await etcd.start();
    await until(
      "the catch-up",
      () => replica.cache.getSnapshot("n1")?.version(TypeUrl.Endpoint) === second.version(TypeUrl.Endpoint),
      30_000,
    );
    await until("the replica to report etcd back", () => replica.store.status().replica.connected, 10_000);
  });

  it("lists everything again when the revision its watch would resume from was compacted", async () => {
    const p = prefix();
    const proxy = await startTcpProxy(etcd.hostPort);
    try {
      const writer = store({ url: `etcd://${etcd.hostPort}/${p}` });
      const replica = store({ url: `etcd://${proxy.hostPort}/${p}`, candidate: false });
      await until("the election", () => writer.store.isWriter);
      writer.store.publish({ snapshots: new Map([["n1", world(1, "a")]]) });
      await until("the first state", () => replica.cache.getSnapshot("n1") !== undefined);
      const resyncs = replica.store.status().replica.resyncs;
      proxy.cut();
      await until("the partition noticed", () => !replica.store.status().replica.connected);
      const latest = world(3, "a", "z");
      writer.store.publish({ snapshots: new Map([["n1", world(2, "a")]]) });
      await writer.store.whenPublished();
      writer.store.publish({ snapshots: new Map([["n1", latest]]) });
      await writer.store.whenPublished();
      const client = connectEtcd({ endpoints: [etcd.endpoint], prefix: p });
      try {
        const head = await client.get(new StoreLayout(p).state).exec();
        await client.kv.compact({ revision: String(head.header.revision), physical: true });
      } finally {
        client.close();
      }
      proxy.heal();
      await until(
        "the resync",
        () => replica.cache.getSnapshot("n1")?.version(TypeUrl.Endpoint) === latest.version(TypeUrl.Endpoint),
        30_000,
      );
      assert.ok(replica.store.status().replica.resyncs > resyncs, "a full list, not a resumed watch");
    } finally {
      await proxy.close();
    }
  });

  it("reports a state it cannot apply and keeps serving the previous one", async () => {
    const url = `etcd://${etcd.hostPort}/${prefix()}`;
    // The writer knows a resource type the replica does not.
    const types = createResourceTypeRegistry();
    const custom = "type.googleapis.com/envoy.config.core.v3.Locality";
    types.register({ typeUrl: custom, schema: LocalitySchema, name: (l) => (l as unknown as { zone: string }).zone });
    const writer = store({ url, types });
    const replica = store({ url, candidate: false });
    await until("the election", () => writer.store.isWriter);
    const good = world(1, "a");
    writer.store.publish({ snapshots: new Map([["n1", good]]) });
    await until("the good state", () => replica.cache.getSnapshot("n1") !== undefined);
    writer.store.publish({
      snapshots: new Map([
        ["n1", Snapshot.fromResources({ [custom]: [create(LocalitySchema, { zone: "z1" })] }, { types })],
      ]),
    });
    await until("the error", () => replica.store.status().replica.lastError?.includes(custom) === true);
    assert.equal(replica.cache.getSnapshot("n1")?.version(TypeUrl.Cluster), good.version(TypeUrl.Cluster));
  });
});
