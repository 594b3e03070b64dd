/**
 * Interop: a real proxyless gRPC client (@grpc/grpc-js with @grpc/grpc-js-xds
 * 1.14.1) against our xDS server, calling real gRPC backends through the
 * configuration the server pushes.
 *
 * Everything here is state-of-the-world ADS: grpc-js-xds speaks only SotW
 * (grpc-js has no delta xDS client), so the delta protocol is covered by the
 * server's and the cache's own tests, not here.
 *
 * grpc-js-xds reads its bootstrap (GRPC_XDS_BOOTSTRAP_CONFIG) once per process
 * and keeps one xDS client per process, so each scenario runs its clients as
 * child processes (client-process.ts) bootstrapped to that scenario's server.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import {
  type Backend,
  ClientProcess,
  type ControlPlane,
  eventually,
  gaugeTotal,
  killAllClients,
  listenerName,
  routeName,
  routeTo,
  routeWith,
  serviceSnapshot,
  sleep,
  startBackend,
  startControlPlane,
  tally,
} from "./harness.js";
import type { CallResult } from "./protocol.js";

const nodeId = "interop-client";

describe("grpc-js-xds against the xDS server (SotW ADS)", () => {
  let a: Backend;
  let b: Backend;
  const planes: ControlPlane[] = [];
  const clients: ClientProcess[] = [];

  async function controlPlane(options: Partial<Parameters<typeof startControlPlane>[0]> = {}) {
    const plane = await startControlPlane({ nodeId, ...options });
    planes.push(plane);
    return plane;
  }

  async function client(plane: ControlPlane) {
    const c = await ClientProcess.start(plane.handle.address, nodeId);
    clients.push(c);
    return c;
  }

  before(async () => {
    [a, b] = await Promise.all([startBackend("A"), startBackend("B")]);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    await Promise.all(planes.splice(0).map((p) => p.close()));
  });

  after(async () => {
    await killAllClients();
    await Promise.all([a?.close(), b?.close()]);
  });

  it("a unary call to xds:///service succeeds through LDS -> RDS -> CDS -> EDS over ADS", async () => {
    const plane = await controlPlane({ snapshot: serviceSnapshot({ "cluster-a": [a] }) });
    const c = await client(plane);

    const result = await c.firstCall();
    assert.deepEqual(result.ok && result.backend, "A", `first call: ${JSON.stringify(result)}`);

    // One ADS stream from the client's node, every type subscribed by name and acknowledged.
    const [stream] = await eventually("every type acknowledged", () => {
      const streams = plane.handle.streams();
      const status = streams[0]?.status() ?? [];
      return status.length === 4 && status.every((s) => s.ackedVersion !== "" && s.ackedVersion === s.sentVersion)
        ? streams
        : undefined;
    });
    assert.ok(stream);
    assert.equal(plane.handle.streams().length, 1);
    assert.equal(stream.info.kind, "sotw");
    assert.match(stream.info.method, /AggregatedDiscoveryService\/StreamAggregatedResources$/);
    assert.equal(stream.node?.id, nodeId);
    assert.equal(stream.node?.locality?.zone, "z");
    const byType = new Map(stream.status().map((s) => [s.typeUrl, s]));
    assert.deepEqual(byType.get(TypeUrl.Listener)?.subscribed, [listenerName]);
    assert.deepEqual(byType.get(TypeUrl.Route)?.subscribed, [routeName]);
    assert.deepEqual(byType.get(TypeUrl.Cluster)?.subscribed, ["cluster-a"]);
    assert.deepEqual(byType.get(TypeUrl.Endpoint)?.subscribed, ["cluster-a"]);
    for (const s of byType.values()) {
      assert.equal(s.wildcard, false, `${s.typeUrl} is not a wildcard subscription`);
      assert.equal(s.nack, undefined, `${s.typeUrl} was not NACKed`);
    }
    const more = await c.calls({ count: 10 });
    assert.deepEqual(tally(more), { A: 10 });
  });

  it("new endpoints reach a running client without a restart", async () => {
    const plane = await controlPlane({ snapshot: serviceSnapshot({ "cluster-a": [a] }) });
    const c = await client(plane);
    assert.deepEqual(tally([await c.firstCall()]), { A: 1 });

    // Only the ClusterLoadAssignment changes: cluster-a now has backend B.
    const before = plane.responses.length;
    plane.set(serviceSnapshot({ "cluster-a": [b] }));
    await c.untilServedBy("B", 5000);
    assert.deepEqual(tally(await c.calls({ count: 20 })), { B: 20 });
    // Only EDS was pushed for an EDS-only change.
    const pushed = plane.responses.slice(before).map((r) => r.typeUrl);
    assert.deepEqual([...new Set(pushed)], [TypeUrl.Endpoint]);
  });

  it("weighted clusters 80/20 split 500 calls within 80% ± 8%", async (t) => {
    const route = routeWith([
      {
        name: "split",
        domains: ["*"],
        routes: [
          {
            match: { pathSpecifier: { case: "prefix", value: "/" } },
            action: {
              case: "route",
              value: {
                clusterSpecifier: {
                  case: "weightedClusters",
                  value: {
                    clusters: [
                      { name: "cluster-a", weight: 80 },
                      { name: "cluster-b", weight: 20 },
                    ],
                  },
                },
              },
            },
          },
        ],
      },
    ]);
    const plane = await controlPlane({ snapshot: serviceSnapshot({ "cluster-a": [a], "cluster-b": [b] }, route) });
    const c = await client(plane);
    assert.ok((await c.firstCall()).ok);
    // Both clusters subscribed and served before counting.
    await eventually("both clusters' endpoints acknowledged", () => {
      const eds = plane.handle
        .streams()[0]
        ?.status()
        .find((s) => s.typeUrl === TypeUrl.Endpoint);
      return eds?.subscribed.length === 2 && eds.ackedVersion === eds.sentVersion;
    });

    const results = await c.calls({ count: 500, concurrency: 25, waitForReady: true });
    const counts = tally(results);
    assert.equal(counts["error"], undefined, `failed calls: ${JSON.stringify(results.find((r) => !r.ok))}`);
    const share = (counts["A"] ?? 0) / 500;
    assert.ok(
      share >= 0.72 && share <= 0.88,
      `cluster-a served ${(share * 100).toFixed(1)}% (${JSON.stringify(counts)})`,
    );
    assert.equal((counts["A"] ?? 0) + (counts["B"] ?? 0), 500);
    t.diagnostic(`split: ${JSON.stringify(counts)}`);
  });

  it("a header match routes calls to the matching cluster", async () => {
    const route = routeWith([
      {
        name: "by-header",
        domains: ["*"],
        routes: [
          {
            match: {
              pathSpecifier: { case: "prefix", value: "/" },
              headers: [
                {
                  name: "x-route",
                  headerMatchSpecifier: {
                    case: "stringMatch",
                    value: { matchPattern: { case: "exact", value: "canary" } },
                  },
                },
              ],
            },
            action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: "cluster-b" } } },
          },
          routeTo("cluster-a"),
        ],
      },
    ]);
    const plane = await controlPlane({ snapshot: serviceSnapshot({ "cluster-a": [a], "cluster-b": [b] }, route) });
    const c = await client(plane);
    assert.deepEqual(tally([await c.firstCall()]), { A: 1 });

    const canary = await c.calls({ count: 20, metadata: { "x-route": "canary" }, waitForReady: true });
    assert.deepEqual(tally(canary), { B: 20 });
    assert.deepEqual(tally(await c.calls({ count: 20 })), { A: 20 });
    assert.deepEqual(tally(await c.calls({ count: 20, metadata: { "x-route": "stable" } })), { A: 20 });
  });

  it("a route config the client rejects is recorded as a NACK, not re-sent, and the previous config keeps serving", async () => {
    const good = serviceSnapshot({ "cluster-a": [a], "cluster-b": [b] });
    const plane = await controlPlane({ snapshot: good });
    const c = await client(plane);
    assert.deepEqual(tally([await c.firstCall()]), { A: 1 });
    const routeStatus = () =>
      plane.handle
        .streams()[0]
        ?.status()
        .find((s) => s.typeUrl === TypeUrl.Route);
    const accepted = await eventually("the first route config acknowledged", () => {
      const s = routeStatus();
      return s && s.ackedVersion !== "" && s.ackedVersion === s.sentVersion ? s.ackedVersion : undefined;
    });

    // grpc-js-xds validates domains (gRFC A28): at most one wildcard, only at
    // either end. "bad*domain" is rejected, so the whole RouteConfiguration is;
    // had it been applied, calls would go to cluster-b.
    const bad = serviceSnapshot(
      { "cluster-a": [a], "cluster-b": [b] },
      routeWith([
        { name: "service", domains: ["*"], routes: [routeTo("cluster-b")] },
        { name: "invalid", domains: ["bad*domain.example"], routes: [routeTo("cluster-b")] },
      ]),
    );
    const since = Date.now();
    plane.set(bad);
    const nack = await eventually("a NACK of the route config", () => plane.nacks[0]);
    assert.equal(nack.typeUrl, TypeUrl.Route);
    assert.equal(nack.version, bad.version(TypeUrl.Route));
    assert.match(nack.message, /wildcard in the middle: bad\*domain\.example/);

    // The stream's status shows the NACK and still the previous acknowledged version.
    const status = routeStatus();
    assert.equal(status?.nack?.version, bad.version(TypeUrl.Route));
    assert.match(status?.nack?.message ?? "", /RouteConfiguration message validation failed/);
    assert.equal(status?.ackedVersion, accepted);
    assert.equal(
      await plane.handle.metrics?.nacksTotal
        .get()
        .then((m) => m.values.find((v) => v.labels["type_url"] === TypeUrl.Route)?.value),
      1,
    );

    // The rejected version is not re-sent: over 1.5 s the stream sent RDS once.
    await sleep(1500);
    const routeResponses = plane.responses.filter((r) => r.typeUrl === TypeUrl.Route && r.at >= since);
    assert.equal(routeResponses.length, 1, `RDS responses after the bad snapshot: ${routeResponses.length}`);
    assert.equal(plane.nacks.length, 1);

    // Calls keep using the last accepted config (cluster-a).
    assert.deepEqual(tally(await c.calls({ count: 20 })), { A: 20 });

    // A corrected config is accepted: the NACK clears and calls follow it.
    plane.set(
      serviceSnapshot(
        { "cluster-a": [a], "cluster-b": [b] },
        routeWith([{ name: "service", domains: ["*"], routes: [routeTo("cluster-b")] }]),
      ),
    );
    await c.untilServedBy("B", 5000);
    await eventually("the corrected route config acknowledged", () => {
      const s = routeStatus();
      return s?.nack === undefined && s?.ackedVersion === s?.sentVersion && s?.ackedVersion !== accepted;
    });
  });

  it("graceful shutdown and a restart on the same port lose no call and delete no resource", async (t) => {
    const snapshot = serviceSnapshot({ "cluster-a": [a] });
    const first = await controlPlane({ snapshot, drainTimeoutMs: 500 });
    const port = first.handle.port;
    const c = await client(first);
    assert.deepEqual(tally([await c.firstCall()]), { A: 1 });

    // Calls every 20 ms (1 s deadline, no waitForReady) while the control plane switches.
    await c.command({ op: "loop-start", intervalMs: 20, deadlineMs: 1000, maxCalls: 1000 });
    await sleep(200);
    const shutdownStarted = Date.now();
    await first.close();
    const shutdownMs = Date.now() - shutdownStarted;
    assert.equal(first.handle.streams().length, 0, "no stream survives shutdown");
    const second = await controlPlane({ address: `127.0.0.1:${port}`, snapshot, drainTimeoutMs: 500 });
    assert.equal(second.handle.port, port);

    // The client finds the new server on its own and resubscribes to every type.
    const reconnectStarted = Date.now();
    await eventually(
      "the client's ADS stream on the new server",
      () => second.handle.streams().find((s) => s.node?.id === nodeId && s.status().length === 4),
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const reconnectMs = Date.now() - reconnectStarted;

    // The new server serves updates on that stream: cluster-a moves to backend B.
    second.set(serviceSnapshot({ "cluster-a": [b] }));
    const probes: CallResult[] = [];
    const updated = await eventually(
      "calls served by B after the update from the new server",
      async () => {
        const [r] = await c.calls({ deadlineMs: 1000 });
        if (r) probes.push(r);
        return r?.ok === true && r.backend === "B";
      },
      { timeoutMs: 5000, intervalMs: 50 },
    ).then(
      () => true,
      () => false,
    );
    const results = [...(await c.command({ op: "loop-stop" })), ...probes];
    const failures = results.filter((r) => !r.ok);
    assert.ok(results.length >= 20, `calls made during the switch: ${results.length}`);
    // No wrongful deletion on the wire: every state-of-the-world (LDS, CDS)
    // response the new server sent carried the one resource the client names;
    // an empty one would make grpc-js drop the listener or cluster.
    const fullState = second.responses.filter((r) => r.typeUrl === TypeUrl.Listener || r.typeUrl === TypeUrl.Cluster);
    assert.deepEqual(
      fullState.filter((r) => r.count !== 1),
      [],
      "LDS/CDS responses of the new server that drop a subscribed resource",
    );
    // The data plane does not depend on the control-plane connection: with the
    // backends up and nothing deleted, no call may fail during the switch.
    // (Checked: a restart whose snapshot lacks the listener fails calls here
    // with UNAVAILABLE "No connection established", not a "does not exist" text.)
    assert.deepEqual(
      failures,
      [],
      `failed calls during the switch (shutdown ${shutdownMs} ms, reconnect ${reconnectMs} ms)`,
    );
    assert.ok(updated, `no call reached B after the update; last calls: ${JSON.stringify(probes.slice(-3))}`);
    const served = tally(results);
    t.diagnostic(
      `shutdown ${shutdownMs} ms, reconnect ${reconnectMs} ms, ${results.length} calls: ${JSON.stringify(served)}; ` +
        `new server sent ${second.responses.length} responses (${second.responses.map((r) => r.typeUrl.split(".").pop()).join(", ")})`,
    );
    assert.ok((served["A"] ?? 0) > 0, JSON.stringify(served));
  });

  it("a client killed in the middle of a large push leaves the others served and no stream or watch behind", async (t) => {
    const plane = await controlPlane({ snapshot: serviceSnapshot({ "cluster-a": [a] }) });
    const metrics = plane.handle.metrics;
    assert.ok(metrics);
    const all = await Promise.all([client(plane), client(plane), client(plane)]);
    for (const c of all) assert.deepEqual(tally([await c.firstCall()]), { A: 1 });
    await eventually("three ADS streams", () => plane.handle.streams().length === 3);
    assert.equal(await gaugeTotal(metrics.streamsActive), 3);
    assert.ok((await gaugeTotal(metrics.watchesActive)) > 0);

    // A route config of ~1 MB (15 000 extra virtual hosts) and new endpoints.
    const filler = Array.from({ length: 15_000 }, (_, i) => ({
      name: `filler-${i}`,
      domains: [`filler-${i}.interop.example.com`],
      routes: [routeTo("cluster-a")],
    }));
    const large = serviceSnapshot(
      { "cluster-a": [b] },
      routeWith([...filler, { name: "service", domains: ["*"], routes: [routeTo("cluster-a")] }]),
    );
    const routeBytes = [...large.resources(TypeUrl.Route).values()].reduce((n, r) => n + r.bytes.length, 0);
    assert.ok(routeBytes > 900_000, `route config is ${routeBytes} bytes`);

    const [victim, ...survivors] = all as [ClientProcess, ...ClientProcess[]];
    const victimStreams = new Set(plane.handle.streams().map((s) => s.info.id));
    plane.set(large);
    victim.kill();
    await victim.exited;

    for (const s of survivors) await s.untilServedBy("B", 10_000);
    await eventually("the killed client's stream gone", () => plane.handle.streams().length === 2, {
      timeoutMs: 5000,
    });
    const remaining = new Set(plane.handle.streams().map((s) => s.info.id));
    const victimStream = [...victimStreams].find((id) => !remaining.has(id));
    const victimPush = plane.responses.some((r) => r.stream === victimStream && r.bytes === routeBytes);
    t.diagnostic(`route config ${routeBytes} bytes; push to the killed client had begun: ${victimPush}`);
    // The survivors got and acknowledged the whole large route config.
    await eventually(
      "the survivors acknowledge the large route config",
      () =>
        plane.handle
          .streams()
          .every(
            (s) =>
              victimStreams.has(s.info.id) &&
              s.status().find((type) => type.typeUrl === TypeUrl.Route)?.ackedVersion === large.version(TypeUrl.Route),
          ),
      // Generous: a loaded 2-core machine decodes 1 MB of routes slowly.
      { timeoutMs: 20_000 },
    );

    // The others leave: closing the channel unsubscribes (empty name lists) and ends the stream.
    await Promise.all(survivors.map((s) => s.closeChannel()));
    await eventually("streams_active back to 0", async () => (await gaugeTotal(metrics.streamsActive)) === 0, {
      timeoutMs: 5000,
    });
    await eventually("watches_active back to 0", async () => (await gaugeTotal(metrics.watchesActive)) === 0, {
      timeoutMs: 5000,
    });
    assert.equal(plane.handle.streams().length, 0);
    assert.equal(plane.cache.numWatches(), 0);
    // A vanished client is no server error: the killed stream (its write failed
    // with ERR_HTTP2_INVALID_STREAM) and the closed ones count nothing here.
    const errors = await metrics.errorsTotal.get();
    assert.deepEqual(
      errors.values.filter((v) => v.value > 0),
      [],
      "xds_server_errors_total stays empty",
    );
  });
});
