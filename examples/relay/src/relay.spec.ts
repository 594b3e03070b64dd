import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeCluster, makeEndpoints } from "@nebucloud/xds-cache/testing";
import { XdsClient } from "@nebucloud/xds-client";
import { ClusterHash, type Resource, TypeUrl } from "@nebucloud/xds-core";
import type { ClusterLoadAssignment } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { XdsServer, type XdsServerHandle } from "@nebucloud/xds-server";
import { Relay } from "./relay.js";

const downstreamCount = 20;
const groups = ["payments", "search"] as const;

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(10);
  }
}

/** A group's configuration: one EDS cluster per service, its endpoints on `port`. */
function groupSnapshot(group: string, port: number): Snapshot {
  const services = [`${group}-api`, `${group}-db`];
  return Snapshot.fromResources({
    [TypeUrl.Cluster]: services.map((name) => makeCluster(name)),
    [TypeUrl.Endpoint]: services.map((name) => makeEndpoints(name, [{ host: "10.0.0.1", port }])),
  });
}

const portOf = (resource: Resource | undefined) => {
  const lb = (resource?.message as ClusterLoadAssignment | undefined)?.endpoints[0]?.lbEndpoints[0];
  const address = lb?.hostIdentifier.case === "endpoint" ? lb.hostIdentifier.value.address?.address : undefined;
  return address?.case === "socketAddress" ? address.value.portSpecifier.value : undefined;
};

describe("the relay", () => {
  const upstreamCache = new SnapshotCache({ nodeHash: ClusterHash });
  let upstream: XdsServerHandle;
  let relay: Relay;
  let upstreamStreamsOpened = 0;
  const downstream: { client: XdsClient; group: string; clusters: string[]; endpoints: Map<string, Resource> }[] = [];

  before(async () => {
    for (const group of groups) upstreamCache.setSnapshot(group, groupSnapshot(group, 8080));
    upstream = await XdsServer.builder()
      .withCache(upstreamCache)
      .withCallbacks({ onStreamOpen: () => void upstreamStreamsOpened++ })
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    relay = await Relay.start({ upstream: upstream.address });
  });

  after(async () => {
    await Promise.all(downstream.map((d) => d.client.close()));
    await relay.close();
    await upstream.shutdown();
    upstreamCache.close();
  });

  it(`serves ${downstreamCount} downstream clients over one upstream stream per node group`, async () => {
    const started = performance.now();
    for (let i = 0; i < downstreamCount; i++) {
      const group = groups[i % groups.length] as string;
      const client = new XdsClient({
        server: relay.address,
        node: { id: `envoy-${i}`, cluster: group },
        protocol: i % 4 < 2 ? "sotw" : "delta",
      });
      const entry = { client, group, clusters: [] as string[], endpoints: new Map<string, Resource>() };
      downstream.push(entry);
      client.watch(TypeUrl.Cluster, "*", {
        onChange: (resources) => {
          entry.clusters = [...resources.keys()].sort();
        },
      });
      client.watch(TypeUrl.Endpoint, [`${group}-api`, `${group}-db`], {
        onChange: (resources) => {
          entry.endpoints = new Map(resources);
        },
      });
    }
    await until("every downstream client's clusters and endpoints", () =>
      downstream.every((d) => d.clusters.length === 2 && d.endpoints.size === 2),
    );
    const converged = performance.now() - started;
    for (const d of downstream) {
      assert.deepEqual(d.clusters, [`${d.group}-api`, `${d.group}-db`]);
      assert.equal(portOf(d.endpoints.get(`${d.group}-api`)), 8080);
    }
    assert.equal(relay.server.streams().length, downstreamCount, "every downstream client has its stream");
    assert.equal(upstream.streams().length, groups.length, "one upstream stream per node group");
    assert.equal(upstreamStreamsOpened, groups.length);
    assert.deepEqual(relay.groups().sort(), [...groups].sort());
    assert.deepEqual(
      upstream
        .streams()
        .map((s) => s.node?.id)
        .sort(),
      ["relay/payments", "relay/search"],
    );
    console.log(
      `measured: ${downstreamCount} downstream streams, ${upstream.streams().length} upstream streams, ` +
        `all converged in ${Math.round(converged)} ms`,
    );
  });

  it("passes an upstream change to every downstream client of the group, and only to them", async () => {
    const started = performance.now();
    upstreamCache.setSnapshot("payments", groupSnapshot("payments", 9090));
    const payments = downstream.filter((d) => d.group === "payments");
    const search = downstream.filter((d) => d.group === "search");
    await until("the change downstream", () => payments.every((d) => portOf(d.endpoints.get("payments-api")) === 9090));
    const propagated = performance.now() - started;
    await delay(100);
    for (const d of search) assert.equal(portOf(d.endpoints.get("search-api")), 8080);
    assert.equal(upstreamStreamsOpened, groups.length, "no new upstream stream");
    console.log(
      `measured: an upstream change reached ${payments.length} downstream clients in ${Math.round(propagated)} ms`,
    );
  });

  it("passes an upstream removal on to every downstream client of the group", async () => {
    upstreamCache.setSnapshot(
      "search",
      Snapshot.fromResources({
        [TypeUrl.Cluster]: [makeCluster("search-api")],
        [TypeUrl.Endpoint]: [makeEndpoints("search-api", [{ host: "10.0.0.1", port: 8080 }])],
      }),
    );
    const search = downstream.filter((d) => d.group === "search");
    await until("the cluster's removal downstream", () => search.every((d) => d.clusters.join() === "search-api"));
    // Endpoints removed reach delta clients (removed_resources); SotW EDS has no way to say it,
    // so SotW clients drop them with the cluster, as Envoy does.
    const delta = search.filter((d) => d.client.protocol === "delta");
    assert.ok(delta.length > 0);
    await until("the endpoints' removal downstream", () => delta.every((d) => d.endpoints.size === 1));
  });
});
