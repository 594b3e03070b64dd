// Integration: the fake API server (recorded-style objects, not a real
// cluster) -> client-node informers -> KubernetesSource -> XdsServer -> an ADS
// client, as a proxyless gRPC client would see it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import {
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
} from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import type { DiscoveryResponse } from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { XdsServer, type XdsServerHandle } from "@nebucloud/xds-server";
import { KubernetesSource, kubeConfigFor } from "./source.js";
import { AdsClient, unpack } from "./test-support/ads-client.js";
import { FakeApiServer, type KubeObject } from "./test-support/fake-api-server.js";
import { fixture } from "./test-support/fixtures.js";

const greeter = "shop/greeter:50051";
const greeterMetrics = "shop/greeter:9090";
const checkout = "shop/checkout:7070";

function clusterNames(response: DiscoveryResponse): string[] {
  return unpack(response, ClusterSchema)
    .map((c) => c.name)
    .sort();
}

/** host:port of every endpoint of `cluster` in an EDS response, by zone; undefined when the response lacks it. */
function endpointsOf(response: DiscoveryResponse, cluster: string): Record<string, string[]> | undefined {
  const cla = unpack(response, ClusterLoadAssignmentSchema).find((c) => c.clusterName === cluster);
  return cla && hostsByZone(cla);
}

function hostsByZone(cla: ClusterLoadAssignment): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const locality of cla.endpoints) {
    out[locality.locality?.zone ?? ""] = locality.lbEndpoints.map((lb) => {
      const address = lb.hostIdentifier.case === "endpoint" ? lb.hostIdentifier.value.address?.address : undefined;
      if (address?.case !== "socketAddress") return "?";
      const port = address.value.portSpecifier;
      return `${address.value.address}:${port.case === "portValue" ? port.value : "?"}`;
    });
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `check` holds, polling every 10 ms; fails after `timeoutMs`. */
async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe("KubernetesSource against a fake API server, seen over ADS", { timeout: 60_000 }, () => {
  let fake: FakeApiServer;
  let source: KubernetesSource;
  let server: XdsServerHandle;
  let ads: AdsClient;
  const logs: string[] = [];

  before(async () => {
    const staging = fixture("greeter-service");
    staging.metadata = { ...staging.metadata, namespace: "staging" };
    fake = await FakeApiServer.start([
      fixture("greeter-service"),
      fixture("greeter-endpointslice"),
      fixture("legacy-billing-service"),
      staging,
    ]);
    source = new KubernetesSource({
      kubeConfig: kubeConfigFor(fake.url, "shop"),
      namespace: "shop",
      labelSelector: "app.kubernetes.io/part-of=shop",
      backoffMs: 50,
      maxBackoffMs: 200,
      log: (level, message) => logs.push(`${level} ${message}`),
    });
    await source.start();
    server = await XdsServer.builder().withCache(source.cache).withConfig({ drainTimeoutMs: 200 }).serve("127.0.0.1:0");
    ads = new AdsClient(server.address, "grpc-client-1");
    ads.subscribe(TypeUrl.Cluster);
    ads.subscribe(TypeUrl.Endpoint, [greeter, checkout]);
    ads.subscribe(TypeUrl.Listener, ["greeter.shop:50051"]);
  });

  after(async () => {
    await ads?.close();
    await server?.shutdown();
    await source?.close();
    await fake?.close();
  });

  it("lists, then watches, both resources in the namespace with the label selector on Services only", async () => {
    await until("both watches and the first snapshot", () => fake.openWatches === 2 && source.ready);
    const services = fake.requests.filter((r) => r.resource === "services");
    const slices = fake.requests.filter((r) => r.resource === "endpointslices");
    assert.deepEqual(
      services.map((r) => [r.namespace, r.watch, r.query["labelSelector"]]),
      [
        ["shop", false, "app.kubernetes.io/part-of=shop"],
        ["shop", true, "app.kubernetes.io/part-of=shop"],
      ],
    );
    assert.deepEqual(
      slices.map((r) => [r.namespace, r.watch, r.query["labelSelector"]]),
      [
        ["shop", false, undefined],
        ["shop", true, undefined],
      ],
    );
    assert.ok(source.ready);
  });

  it("serves the selected Services of the namespace as clusters (no ExternalName, no other namespace)", async () => {
    const cds = await ads.waitFor(TypeUrl.Cluster, (r) => r.resources.length > 0);
    assert.deepEqual(clusterNames(cds), [greeter, greeterMetrics]);
  });

  it("serves only ready endpoints, one locality per zone, each weighted", async () => {
    const eds = await ads.waitFor(TypeUrl.Endpoint, (r) => endpointsOf(r, greeter) !== undefined);
    assert.deepEqual(endpointsOf(eds, greeter), {
      "europe-west1-b": ["10.244.1.12:8080"],
      "europe-west1-c": ["10.244.2.7:8080"],
    });
    const cla = unpack(eds, ClusterLoadAssignmentSchema).find((c) => c.clusterName === greeter);
    assert.deepEqual(
      cla?.endpoints.map((l) => l.loadBalancingWeight),
      [1, 1],
    );
  });

  it("serves the api_listener a client of xds:///greeter.shop:50051 asks for", async () => {
    const lds = await ads.waitFor(TypeUrl.Listener, (r) => r.resources.length > 0);
    const [listener] = unpack(lds, ListenerSchema);
    assert.equal(listener?.name, "greeter.shop:50051");
    assert.ok(listener?.apiListener?.apiListener);
  });

  it("add: a new Service and its EndpointSlice appear as a cluster and endpoints", async () => {
    fake.apply(fixture("checkout-service"));
    fake.apply(fixture("checkout-endpointslice"));
    const cds = await ads.waitFor(TypeUrl.Cluster, (r) => clusterNames(r).includes(checkout));
    assert.deepEqual(clusterNames(cds), [checkout, greeter, greeterMetrics]);
    const eds = await ads.waitFor(
      TypeUrl.Endpoint,
      (r) => (endpointsOf(r, checkout)?.["europe-west1-d"] ?? []).length > 0,
    );
    assert.deepEqual(endpointsOf(eds, checkout), { "europe-west1-d": ["10.244.3.21:7070"] });
  });

  it("modify: an endpoint that becomes not ready leaves the assignment; one that becomes ready joins it", async () => {
    fake.update("endpointslices", "shop", "greeter-7x2kq", (slice) => {
      const endpoints = slice["endpoints"] as { addresses: string[]; conditions: { ready: boolean } }[];
      for (const endpoint of endpoints) {
        if (endpoint.addresses[0] === "10.244.2.7") endpoint.conditions.ready = false;
      }
    });
    // EDS is not a full-state type: a response carries the assignments that changed.
    let eds = await ads.waitFor(TypeUrl.Endpoint, (r) => {
      const zones = endpointsOf(r, greeter);
      return zones !== undefined && zones["europe-west1-c"] === undefined;
    });
    assert.deepEqual(endpointsOf(eds, greeter), { "europe-west1-b": ["10.244.1.12:8080"] });

    fake.update("endpointslices", "shop", "greeter-7x2kq", (slice) => {
      const endpoints = slice["endpoints"] as { addresses: string[]; conditions: { ready: boolean } }[];
      for (const endpoint of endpoints) {
        if (endpoint.addresses[0] === "10.244.1.15") endpoint.conditions.ready = true;
      }
    });
    eds = await ads.waitFor(TypeUrl.Endpoint, (r) => endpointsOf(r, greeter)?.["europe-west1-b"]?.length === 2);
    assert.deepEqual(endpointsOf(eds, greeter), { "europe-west1-b": ["10.244.1.12:8080", "10.244.1.15:8080"] });
    const cla = unpack(eds, ClusterLoadAssignmentSchema).find((c) => c.clusterName === greeter);
    assert.deepEqual(
      cla?.endpoints.map((l) => l.loadBalancingWeight),
      [2],
    );
  });

  it("modify: a Service that stops matching the label selector is removed, and comes back when it matches again", async () => {
    const labels = (service: KubeObject) => service.metadata?.labels ?? {};
    fake.update("services", "shop", "checkout", (service) => {
      delete labels(service)["app.kubernetes.io/part-of"];
    });
    await ads.waitFor(TypeUrl.Cluster, (r) => !clusterNames(r).includes(checkout));
    fake.update("services", "shop", "checkout", (service) => {
      service.metadata = { ...service.metadata, labels: { ...labels(service), "app.kubernetes.io/part-of": "shop" } };
    });
    await ads.waitFor(TypeUrl.Cluster, (r) => clusterNames(r).includes(checkout));
  });

  it("delete: a deleted Service and its EndpointSlice leave the cluster list and the endpoints", async () => {
    fake.remove("services", "shop", "checkout");
    fake.remove("endpointslices", "shop", "checkout-q8m4d");
    const cds = await ads.waitFor(TypeUrl.Cluster, (r) => !clusterNames(r).includes(checkout));
    assert.deepEqual(clusterNames(cds), [greeter, greeterMetrics]);
    // SotW never tells a client that an assignment is gone (EDS is not full-state); the snapshot has dropped it.
    assert.equal(source.cache.getSnapshot(source.nodeKey)?.resources(TypeUrl.Endpoint).has(checkout), false);
  });

  it("410 Gone: the watches expire, the relist is slow, and the cluster never disappears meanwhile", async () => {
    const cdsBefore = ads.responses.get(TypeUrl.Cluster)?.length ?? 0;
    const listsBefore = fake.requests.filter((r) => !r.watch).length;
    const release = fake.holdLists();
    let polls = 0;
    let sawListing = false;
    const missing: string[] = [];
    const poll = () => {
      const snapshot = source.cache.getSnapshot(source.nodeKey);
      const clusters = snapshot?.resources(TypeUrl.Cluster);
      const cla = snapshot?.resources(TypeUrl.Endpoint).get(greeter)?.message as ClusterLoadAssignment | undefined;
      if (!clusters?.has(greeter) || !clusters.has(greeterMetrics)) missing.push(`poll ${polls}: clusters gone`);
      if (!cla || cla.endpoints.length === 0) missing.push(`poll ${polls}: endpoints gone`);
      const status = source.status();
      if (status.services.listing || status.endpointSlices.listing) sawListing = true;
      polls++;
    };
    try {
      assert.equal(fake.expireWatches(), 2);
      await until("both informers to relist", () => {
        poll();
        return fake.pendingLists === 2;
      });
      // A change while nobody watches: only the relist can bring it.
      fake.update("endpointslices", "shop", "greeter-7x2kq", (slice) => {
        const endpoints = slice["endpoints"] as unknown[];
        endpoints.push({
          addresses: ["10.244.6.4"],
          conditions: { ready: true, serving: true, terminating: false },
          nodeName: "shop-pool-d-2a9e",
          zone: "europe-west1-d",
        });
      });
      // Hold the relist for a while (bounded), longer than the debounce and the resync-free gap.
      for (let i = 0; i < 30; i++) {
        poll();
        await sleep(10);
      }
      assert.ok(sawListing, "the source reports the relist in progress");
      assert.equal(ads.responses.get(TypeUrl.Cluster)?.length ?? 0, cdsBefore, "no CDS push during the relist");
    } finally {
      release();
    }
    const eds = await ads.waitFor(TypeUrl.Endpoint, (r) => endpointsOf(r, greeter)?.["europe-west1-d"] !== undefined);
    poll();
    assert.deepEqual(missing, [], "the snapshot kept the clusters and endpoints through the relist");
    assert.ok(polls > 30);
    assert.deepEqual(endpointsOf(eds, greeter)?.["europe-west1-d"], ["10.244.6.4:8080"]);
    // Every CDS response during and after the relist still had both greeter clusters.
    for (const response of ads.responses.get(TypeUrl.Cluster)?.slice(cdsBefore) ?? []) {
      assert.deepEqual(clusterNames(response), [greeter, greeterMetrics]);
    }
    assert.equal(fake.requests.filter((r) => !r.watch).length, listsBefore + 2, "one relist per informer");
    await until("both watches again", () => fake.openWatches === 2);
    const [servicesWatch, slicesWatch] = ["services", "endpointslices"].map((resource) =>
      fake.requests.filter((r) => r.resource === resource && r.watch).at(-1),
    );
    assert.equal(Number(servicesWatch?.query["resourceVersion"]) > 0, true, "watches resume from the relist");
    assert.equal(Number(slicesWatch?.query["resourceVersion"]) > 0, true, "watches resume from the relist");
  });

  it("a refused watch is retried with backoff, still without dropping the config", async () => {
    const restartsBefore = source.status().endpointSlices.restarts;
    fake.failWatches(2);
    fake.expireWatches();
    await until("the informers to come back", () => fake.openWatches === 2, 10_000);
    assert.ok(source.status().endpointSlices.restarts + source.status().services.restarts > restartsBefore);
    assert.ok(logs.some((line) => line.includes("informer failed")));
    assert.ok(source.cache.getSnapshot(source.nodeKey)?.resources(TypeUrl.Cluster).has(greeter));
    // And events flow again.
    fake.apply(fixture("checkout-service"));
    await ads.waitFor(TypeUrl.Cluster, (r) => clusterNames(r).includes(checkout));
  });
});
