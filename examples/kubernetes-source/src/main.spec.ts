// The program end to end: started against the fake API server (not a real
// cluster), it serves the namespace's Services, reports on the admin port, and
// exits 0 on SIGTERM.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { AdsClient, unpack } from "./test-support/ads-client.js";
import { FakeApiServer } from "./test-support/fake-api-server.js";
import { fixture } from "./test-support/fixtures.js";
import { startMain, within } from "./test-support/main-process.js";

describe("xds-kubernetes-source", { timeout: 60_000 }, () => {
  let fake: FakeApiServer;
  let child: ChildProcess;
  let output: () => string = () => "";
  let xds = "";
  let admin = "";
  let ads: AdsClient | undefined;

  before(async () => {
    fake = await FakeApiServer.start([fixture("greeter-service"), fixture("greeter-endpointslice")]);
    const started = await startMain([
      ...["--kube-server", fake.url, "--namespace", "shop", "--label-selector", "app.kubernetes.io/part-of=shop"],
    ]);
    ({ child, xds, admin } = started);
    output = started.output;
  });

  after(async () => {
    await ads?.close();
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await fake.close();
  });

  it("serves the Services of the namespace over ADS", async () => {
    ads = new AdsClient(xds, "main-spec");
    ads.subscribe(TypeUrl.Cluster);
    const cds = await ads.waitFor(TypeUrl.Cluster, (r) => r.resources.length > 0, 10_000);
    assert.deepEqual(
      unpack(cds, ClusterSchema).map((c) => c.name),
      ["shop/greeter:50051", "shop/greeter:9090"],
    );
  });

  it("is ready and shows the informers on the admin port", async () => {
    const ready = await fetch(`http://${admin}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const status = (await (await fetch(`http://${admin}/debug/kubernetes`)).json()) as {
      ready: boolean;
      clusters: string[];
      services: { synced: boolean };
      endpointSlices: { synced: boolean };
    };
    assert.equal(status.ready, true);
    assert.deepEqual(status.clusters, ["shop/greeter:50051", "shop/greeter:9090"]);
    assert.equal(status.services.synced, true);
    assert.equal(status.endpointSlices.synced, true);
  });

  it("shuts down on SIGTERM and exits 0", async () => {
    await ads?.close();
    ads = undefined;
    const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    child.kill("SIGTERM");
    const [code, signal] = await within(exited, 15_000, "exit");
    assert.equal(signal, null, output());
    assert.equal(code, 0, output());
    // The child's watches are closed: the fake server sees them end (bounded wait).
    for (let i = 0; i < 100 && fake.openWatches > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(fake.openWatches, 0, "the watches were closed");
  });
});
