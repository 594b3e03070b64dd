// The program with --store against a real etcd and the fake API server (not a
// real cluster): the elected writer publishes what Kubernetes holds, and a
// replica that never talks to Kubernetes serves it and follows its changes.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { type EtcdServer, findEtcd, startEtcd } from "@nebucloud/xds-etcd/testing";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { AdsClient, unpack } from "./test-support/ads-client.js";
import { FakeApiServer } from "./test-support/fake-api-server.js";
import { fixture } from "./test-support/fixtures.js";
import { type MainProcess, startMain } from "./test-support/main-process.js";

const skip = findEtcd() ? false : "no etcd binary (install Debian's etcd-server or set ETCD_BIN): skipped, not passed";

describe("xds-kubernetes-source --store", { skip, timeout: 90_000 }, () => {
  let etcd: EtcdServer;
  let fake: FakeApiServer;
  const processes: MainProcess[] = [];
  let ads: AdsClient | undefined;

  before(async () => {
    etcd = await startEtcd();
    fake = await FakeApiServer.start([fixture("greeter-service"), fixture("greeter-endpointslice")]);
  });

  after(async () => {
    await ads?.close();
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    await fake?.close();
    await etcd?.destroy();
  });

  it("a replica that never talks to Kubernetes serves what the writer read, and follows a new Service", async () => {
    const store = `etcd://${etcd.hostPort}/kubernetes`;
    processes.push(await startMain(["--kube-server", fake.url, "--namespace", "shop", "--store", store]));
    const replica = await startMain(["--store", store, "--replica"]);
    processes.push(replica);
    assert.match(replica.output(), /replica of etcd:/);
    ads = new AdsClient(replica.xds, "store-spec");
    ads.subscribe(TypeUrl.Cluster);
    const first = await ads.waitFor(TypeUrl.Cluster, (r) => r.resources.length === 2, 20_000);
    assert.deepEqual(
      unpack(first, ClusterSchema).map((c) => c.name),
      ["shop/greeter:50051", "shop/greeter:9090"],
    );
    fake.apply(fixture("checkout-service"));
    fake.apply(fixture("checkout-endpointslice"));
    const next = await ads.waitFor(TypeUrl.Cluster, (r) => r.resources.length > 2, 20_000);
    assert.ok(unpack(next, ClusterSchema).some((c) => c.name.startsWith("shop/checkout:")));
    const ready = await fetch(`http://${replica.admin}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
  });
});
