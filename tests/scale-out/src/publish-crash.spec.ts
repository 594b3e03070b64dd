/**
 * The writer killed with SIGKILL in the middle of an etcd publish: a real
 * etcd, a writer that has written some of a new config's objects but not yet
 * the state that names them, and a replica whose clients must go on holding
 * the previous config whole (never some clusters at the new port and some at
 * the old), until a new writer publishes the new config whole.
 */
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { type EtcdServer, findEtcd, startEtcd } from "@nebucloud/xds-etcd/testing";
import { type ControlPlane, startControlPlane, storeStatus } from "./support/control-plane.js";
import { FailoverClient } from "./support/failover-client.js";
import { fleetConfig } from "./support/fleet-config.js";
import { until } from "./support/until.js";

const skip = findEtcd() ? false : "no etcd binary (install Debian's etcd-server or set ETCD_BIN): skipped, not passed";
// Enough clusters that a publish takes many transactions (etcd allows 128 operations in one).
const CLUSTERS = Array.from({ length: 3000 }, (_, i) => `service-${i}`);

/** How many keys etcd holds under `prefix`, through its JSON gateway. */
async function keysUnder(etcd: EtcdServer, prefix: string): Promise<number> {
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  const response = await fetch(`${etcd.endpoint}/v3/kv/range`, {
    method: "POST",
    body: JSON.stringify({
      key: Buffer.from(prefix).toString("base64"),
      range_end: end.toString("base64"),
      count_only: true,
    }),
  });
  return Number(((await response.json()) as { count?: string }).count ?? 0);
}

describe("a writer killed mid-publish", { skip }, () => {
  let etcd: EtcdServer;
  let dir: string;
  let config: string;
  const planes: ControlPlane[] = [];
  const clients: FailoverClient[] = [];
  const store = () => `etcd://${etcd.hostPort}/crash`;
  const writeConfig = (port: number) => {
    // Atomically, so the writer itself always reads a whole file.
    writeFileSync(`${config}.tmp`, fleetConfig(CLUSTERS, port));
    renameSync(`${config}.tmp`, config);
  };

  before(async () => {
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), "publish-crash-"));
    config = join(dir, "fleet.json");
    writeConfig(7000);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all(planes.map((p) => p.kill()));
    await etcd?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("leaves replicas serving the previous config whole, and the next writer publishes the new one whole", async () => {
    const writer = await startControlPlane("writer", ["--config", config, "--store", store(), "--lease-ttl", "1"]);
    planes.push(writer);
    const replica = await startControlPlane("replica", ["--store", store(), "--replica"]);
    planes.push(replica);
    const client = new FailoverClient("node-1", "sotw", CLUSTERS.slice(0, 50), () => [replica.xds], 0);
    clients.push(client);
    client.run();
    const ports = () => new Set(client.ports.values());
    await until("the client on port 7000", () => client.ports.size === 50 && ports().size === 1 && ports().has(7000));
    const revision = (await storeStatus(replica)).replica.revision;

    const objects = await keysUnder(etcd, "crash/objects/");
    writeConfig(7001);
    // Killed once some of the new objects are in etcd, before the state names them.
    await until("the publish to begin", async () => (await keysUnder(etcd, "crash/objects/")) > objects, 20_000);
    await writer.kill();
    const written = (await keysUnder(etcd, "crash/objects/")) - objects;
    assert.doesNotMatch(
      writer.output().split("config changed on disk")[1] ?? "",
      /published/,
      "the publish completed before the kill: this case proves nothing",
    );
    assert.ok(written > 0);
    assert.ok(written < 2 * CLUSTERS.length, `all ${written} new objects were written before the kill`);

    // The replica serves the previous state, whole, while no writer is there.
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal(
      (await storeStatus(replica)).replica.revision,
      revision,
      "the replica moved to a half-published state",
    );
    assert.deepEqual([...ports()], [7000]);

    const next = await startControlPlane("next-writer", ["--config", config, "--store", store(), "--lease-ttl", "1"]);
    planes.push(next);
    let mixed = false;
    await until("the client on port 7001", () => {
      if (ports().size > 1) mixed = true;
      return ports().size === 1 && ports().has(7001);
    });
    assert.equal(mixed, false, "the client held clusters at both ports at once");
    assert.equal(client.held.get(TypeUrl.Endpoint)?.size, 50);
  });
});
