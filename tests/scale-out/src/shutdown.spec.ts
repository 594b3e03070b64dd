/**
 * What SIGTERM and a second signal do to the file-source main job, seen from
 * its clients: two independent processes serving the same file, a raw HTTP/2
 * ADS stream that reports the GOAWAY and the final status, and failover
 * clients that move to the other process and must receive nothing again.
 */
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { TypeUrl } from "@nebucloud/xds-core";
import { DiscoveryRequestSchema } from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { admin, type ControlPlane, startControlPlane } from "./support/control-plane.js";
import { FailoverClient } from "./support/failover-client.js";
import { fleetConfig } from "./support/fleet-config.js";
import { until } from "./support/until.js";

const CLUSTERS = Array.from({ length: 5 }, (_, i) => `service-${i}`);
const DRAIN_S = 1;

/** One raw ADS stream: when the connection's GOAWAY and the stream's grpc-status arrived, in ms since `t0`. */
function rawAdsStream(address: string) {
  const session = http2.connect(`http://${address}`);
  const seen: { goawayAt?: number; statusAt?: number; status?: string; responses: number } = { responses: 0 };
  session.on("goaway", () => {
    seen.goawayAt ??= Date.now();
  });
  session.on("error", () => {});
  const stream = session.request({
    ":method": "POST",
    ":path": "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("error", () => {});
  stream.on("data", () => {
    seen.responses++;
  });
  stream.on("trailers", (trailers) => {
    seen.statusAt = Date.now();
    seen.status = String(trailers["grpc-status"]);
  });
  const request = toBinary(
    DiscoveryRequestSchema,
    create(DiscoveryRequestSchema, { node: { id: "raw" }, typeUrl: TypeUrl.Cluster }),
  );
  const framed = Buffer.alloc(5 + request.length);
  framed.writeUInt32BE(request.length, 1);
  framed.set(request, 5);
  stream.write(framed);
  return { seen, close: () => session.destroy() };
}

/** Waits for a process's exit and says when, and with what code or signal. */
async function exitOf(plane: ControlPlane, send: () => void): Promise<number> {
  const started = Date.now();
  send();
  await plane.exited;
  return Date.now() - started;
}

describe("the main job on SIGTERM", () => {
  let dir: string;
  let config: string;
  const planes: ControlPlane[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "shutdown-"));
    config = join(dir, "fleet.json");
    writeFileSync(config, fleetConfig(CLUSTERS, 7000));
  });
  after(async () => {
    await Promise.all(planes.map((p) => p.kill()));
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (name: string, drainSeconds: number) => {
    const plane = await startControlPlane(name, ["--config", config, "--drain-timeout", String(drainSeconds)]);
    planes.push(plane);
    return plane;
  };

  it("sends GOAWAY, ends streams with UNAVAILABLE within the drain timeout, and clients resume on another replica with nothing re-sent", async (t) => {
    const [a, b] = await Promise.all([start("a", DRAIN_S), start("b", DRAIN_S)]);
    const raw = rawAdsStream(a.xds);
    const client = new FailoverClient("node-1", "sotw", CLUSTERS, () => [a.xds, b.xds], 0);
    const delta = new FailoverClient("node-2", "delta", CLUSTERS, () => [a.xds, b.xds], 0);
    try {
      client.run();
      delta.run();
      await until(
        "every client served by a",
        () =>
          [client, delta].every((c) => c.held.get(TypeUrl.Endpoint)?.size === CLUSTERS.length) &&
          raw.seen.responses > 0,
      );
      const before = [client, delta].map((c) => ({ ...c.counters }));
      const sigterm = Date.now();
      const exitMs = await exitOf(a, () => a.signal("SIGTERM"));
      assert.equal(a.exitCode(), 0, a.output());
      t.diagnostic(
        `drain ${DRAIN_S} s: GOAWAY ${(raw.seen.goawayAt ?? 0) - sigterm} ms, UNAVAILABLE ${(raw.seen.statusAt ?? 0) - sigterm} ms, exit ${exitMs} ms after SIGTERM`,
      );
      assert.ok(raw.seen.goawayAt !== undefined, "no GOAWAY");
      assert.equal(raw.seen.status, "14", "the stream did not end with UNAVAILABLE");
      assert.ok((raw.seen.goawayAt ?? 0) <= (raw.seen.statusAt ?? 0), "UNAVAILABLE came before the GOAWAY");
      assert.ok(
        (raw.seen.statusAt ?? 0) - sigterm < DRAIN_S * 1000,
        `UNAVAILABLE ${(raw.seen.statusAt ?? 0) - sigterm} ms after SIGTERM:\n${a.output()}`,
      );
      // The process exits within the drain timeout plus what starting to exit costs (tsx, admin close).
      assert.ok(exitMs < DRAIN_S * 1000 + 700, `exited ${exitMs} ms after SIGTERM with a ${DRAIN_S} s drain`);
      await until("both clients on b", () =>
        [client, delta].every((c) => c.address === b.xds && c.counters.streams >= 2),
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      // Same file, same content-hash versions: b has nothing new to send.
      for (const [i, c] of [client, delta].entries()) {
        assert.equal(c.counters.resources, before[i]?.resources, `${c.nodeId} was sent resources again`);
        assert.equal(c.counters.removals, 0);
      }
    } finally {
      raw.close();
      await Promise.all([client.stop(), delta.stop()]);
    }
  });

  it("exits at once on a second signal, without waiting for the drain", async () => {
    const c = await start("c", 30);
    const raw = rawAdsStream(c.xds);
    try {
      await until("a response", () => raw.seen.responses > 0);
      c.signal("SIGTERM");
      await until("the shutdown to begin", () => /SIGTERM: shutting down/.test(c.output()));
      const exitMs = await exitOf(c, () => c.signal("SIGTERM"));
      assert.equal(c.exitCode(), 1);
      assert.match(c.output(), /SIGTERM again: exiting now without draining/);
      assert.ok(exitMs < 1000, `exited ${exitMs} ms after the second SIGTERM`);
    } finally {
      raw.close();
    }
  });

  it("after kill -9 during a reload, the restarted job serves the whole file on disk", async () => {
    const big = join(dir, "big.json");
    const many = Array.from({ length: 3000 }, (_, i) => `service-${i}`);
    writeFileSync(big, fleetConfig(many, 7000));
    const d = await startControlPlane("d", ["--config", big]);
    planes.push(d);
    writeFileSync(`${big}.tmp`, fleetConfig(many, 7001));
    renameSync(`${big}.tmp`, big);
    await until("the reload to begin", () => /config changed on disk/.test(d.output()));
    await d.kill();
    assert.doesNotMatch(
      d.output().split("config changed on disk")[1] ?? "",
      /config loaded/,
      "the reload finished first",
    );
    const e = await startControlPlane("e", ["--config", big]);
    planes.push(e);
    const status = JSON.parse((await admin(e, "/debug/config")).body);
    assert.equal(status.ok, true);
    assert.equal(status.counts.clusters, 3000);
    assert.equal(status.servedHash, status.diskHash);
    assert.equal(status.stale, false);
  });
});
