/**
 * Control-plane replicas sharing state through a real etcd: the file-source
 * main job run as a writer, a standby and three replicas (separate processes,
 * `--store etcd://…`), with ADS clients spread over the replicas that fail over
 * as Envoy and gRPC do. The cases run in order on one fleet, as an operator's
 * day would: converge, lose a replica, lose etcd, lose the writer.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { type EtcdServer, findEtcd, startEtcd } from "@nebucloud/xds-etcd/testing";
import { admin, type ControlPlane, startControlPlane, storeStatus } from "./support/control-plane.js";
import { FailoverClient } from "./support/failover-client.js";
import { fleetConfig } from "./support/fleet-config.js";
import { until } from "./support/until.js";

const chromium = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";

/** What the status page's Store section says, read in headless Chromium; undefined without Chromium. */
async function storeStateOnStatusPage(plane: ControlPlane): Promise<string | undefined> {
  if (!existsSync(chromium)) return undefined;
  const { chromium: launcher } = await import("playwright-core");
  const browser = await launcher.launch({
    executablePath: chromium,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://${plane.admin}/`);
    const state = page.locator("#store-state");
    await state.waitFor({ timeout: 10_000 });
    return (await state.textContent()) ?? "";
  } finally {
    await browser.close();
  }
}

const skip = findEtcd() ? false : "no etcd binary (install Debian's etcd-server or set ETCD_BIN): skipped, not passed";
const CLUSTERS = Array.from({ length: 10 }, (_, i) => `service-${i}`);
const CLIENTS = 30;
const LEASE_TTL_S = 2;

describe("replicas sharing state through etcd", { skip }, () => {
  let etcd: EtcdServer;
  let dir: string;
  let configFile: string;
  const writers: ControlPlane[] = [];
  let replicas: ControlPlane[] = [];
  const clients: FailoverClient[] = [];
  const store = () => `etcd://${etcd.hostPort}/scale-out`;
  const writeConfig = (port: number) => writeFileSync(configFile, fleetConfig(CLUSTERS, port));

  /** Every client holds every cluster and its endpoints at `port`, and all hold the same versions. */
  const converged = (port: number) =>
    clients.every(
      (c) =>
        c.held.get(TypeUrl.Cluster)?.size === CLUSTERS.length &&
        c.held.get(TypeUrl.Endpoint)?.size === CLUSTERS.length &&
        CLUSTERS.every((name) => c.ports.get(name) === port),
    ) && new Set(clients.map((c) => JSON.stringify([...c.held.values()].map((m) => [...m].sort())))).size === 1;
  const waitForConvergence = (port: number) =>
    until(`every client on port ${port}`, () => converged(port)).catch((error: Error) => {
      const stuck = clients.filter((c) => !CLUSTERS.every((name) => c.ports.get(name) === port));
      throw new Error(
        `${error.message}; ${stuck.length} client(s) behind, e.g. ${stuck[0]?.nodeId} on ${stuck[0]?.address} ` +
          `holding ports ${JSON.stringify([...(stuck[0]?.ports.values() ?? [])])}`,
      );
    });

  before(async () => {
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), "scale-out-"));
    configFile = join(dir, "fleet.json");
    writeConfig(8000);
    const candidate = (name: string) =>
      startControlPlane(name, [
        "--config",
        configFile,
        "--store",
        store(),
        "--lease-ttl",
        String(LEASE_TTL_S),
        "--identity",
        name,
      ]);
    writers.push(await candidate("writer-1"));
    await until("writer-1 elected", async () => (await storeStatus(writers[0] as ControlPlane)).writer);
    writers.push(await candidate("writer-2"));
    replicas = await Promise.all(
      ["replica-1", "replica-2", "replica-3"].map((name) =>
        startControlPlane(name, ["--store", store(), "--replica", "--identity", name]),
      ),
    );
    for (let i = 0; i < CLIENTS; i++) {
      const client = new FailoverClient(
        `node-${i}`,
        i % 2 === 0 ? "sotw" : "delta",
        CLUSTERS,
        () => replicas.map((r) => r.xds),
        i,
      );
      clients.push(client);
      client.run();
    }
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all([...writers, ...replicas].map((p) => p.kill()));
    await etcd?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("clients spread over three replicas all converge on the same versions the writer published", async (t) => {
    await waitForConvergence(8000);
    const revisions = await Promise.all(replicas.map(async (r) => (await storeStatus(r)).replica.revision));
    assert.equal(new Set(revisions).size, 1, `replicas serve revisions ${revisions.join(", ")}`);
    const spread = new Map<string, number>();
    for (const c of clients) spread.set(c.address, (spread.get(c.address) ?? 0) + 1);
    assert.equal(spread.size, 3, "clients use every replica");
    t.diagnostic(`${CLIENTS} clients on 3 replicas, all at revision ${revisions[0]}`);
  });

  it("a killed replica's clients move to another and receive nothing they already had, and nothing is deleted", async (t) => {
    const victim = replicas[0] as ControlPlane;
    const moving = clients.filter((c) => c.address === victim.xds);
    assert.ok(moving.length > 0);
    const before = moving.map((c) => ({ ...c.counters }));
    replicas = replicas.slice(1);
    await victim.kill();
    await until("every client of the dead replica on another", () =>
      moving.every((c) => c.address !== victim.xds && c.counters.streams > 1),
    );
    // Give the new replicas time to answer, if they (wrongly) would.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const resent = moving.reduce((sum, c, i) => sum + c.counters.resources - (before[i]?.resources ?? 0), 0);
    const removed = moving.reduce((sum, c, i) => sum + c.counters.removals - (before[i]?.removals ?? 0), 0);
    t.diagnostic(`${moving.length} clients failed over; resources re-sent: ${resent}; removals: ${removed}`);
    assert.equal(resent, 0, "resources re-sent to clients that already held them");
    assert.equal(removed, 0, "resources deleted by the failover");
    assert.ok(converged(8000), "the moved clients still hold everything");
    // Their new streams are live: the next change reaches them.
    writeConfig(8001);
    await waitForConvergence(8001);
  });

  it("replicas keep serving while etcd is down, report it on /readyz, and catch up with changes made meanwhile", async (t) => {
    await etcd.stop();
    await until("every replica to report etcd unreachable", async () => {
      const answers = await Promise.all(replicas.map((r) => admin(r, "/readyz")));
      return answers.every((a) => a.status === 503 && a.body.includes("etcd unreachable"));
    });
    // A client that connects now is still served the last state.
    const late = new FailoverClient("late-node", "sotw", CLUSTERS, () => replicas.map((r) => r.xds), 0);
    late.run();
    try {
      await until("the late client served", () => CLUSTERS.every((name) => late.ports.get(name) === 8001));
    } finally {
      await late.stop();
    }
    const page = JSON.parse((await admin(replicas[0] as ControlPlane, "/debug/status")).body);
    assert.equal(page.store.replica.connected, false, "the status page's data says the store is unreachable");
    assert.match(page.store.replica.lastError, /etcd unreachable/);
    const shown = await storeStateOnStatusPage(replicas[0] as ControlPlane);
    if (shown === undefined) t.diagnostic(`the status page was not opened: no Chromium at ${chromium}`);
    else assert.match(shown, /unreachable, serving the last state/, "the status page says so");
    writeConfig(8002);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await etcd.start();
    const ms = await waitForConvergence(8002);
    await until("every replica ready again", async () =>
      (await Promise.all(replicas.map((r) => admin(r, "/readyz")))).every((a) => a.status === 200),
    );
    t.diagnostic(`after etcd returned, every client had the change made while it was down in ${ms} ms`);
  });

  it("when the writer dies, the standby becomes writer within the lease time and later updates reach every client", async (t) => {
    let writer: ControlPlane | undefined;
    await until("a writer", async () => {
      for (const w of writers) if ((await storeStatus(w)).writer) writer = w;
      return writer !== undefined;
    });
    const standby = writers.find((w) => w !== writer) as ControlPlane;
    const killed = Date.now();
    await (writer as ControlPlane).kill();
    await until("the standby elected", async () => (await storeStatus(standby)).writer, 30_000);
    const takeover = Date.now() - killed;
    t.diagnostic(
      `standby ${standby.name} became writer ${takeover} ms after ${writer?.name} was killed (lease TTL ${LEASE_TTL_S} s)`,
    );
    writeConfig(8003);
    await waitForConvergence(8003);
    const status = await storeStatus(replicas[0] as ControlPlane);
    assert.equal(status.replica.writer, standby.name, "the replicas serve what the new writer published");
  });
});
