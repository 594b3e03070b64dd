/**
 * C10-C12: subscriptions: wildcard transitions, prefix globs, and the delta
 * subscribe/unsubscribe life cycle.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { conformanceCase } from "./support/cases.js";
import { eventually, nodeId, type Served, serve, snapshotOf } from "./support/fixtures.js";
import { Connection } from "./support/grpc-call.js";
import { DeltaClient, deltaNames, SotwClient, sotwNames, type Variant, variants } from "./support/xds-clients.js";

describe("subscriptions", () => {
  let served: Served;
  const connections: Connection[] = [];
  before(async () => {
    served = await serve();
  });
  afterEach(() => {
    for (const c of connections.splice(0)) c.destroy();
  });
  after(async () => {
    await served.stop();
  });
  const connect = async () => {
    const connection = await Connection.open(served.address);
    connections.push(connection);
    return connection;
  };
  const sotw = async (variant: Variant, node: string, typeUrl: string = TypeUrl.Cluster) =>
    new SotwClient(await connect(), { ads: variant.ads, typeUrl, nodeId: node });
  const delta = async (variant: Variant, node: string, typeUrl: string = TypeUrl.Cluster) =>
    new DeltaClient(await connect(), { ads: variant.ads, typeUrl, nodeId: node });
  /** What the server records as the node's subscription to a type. */
  const subscribed = (node: string, typeUrl: string) =>
    served.server
      .streams()
      .filter((s) => s.node?.id === node)
      .flatMap((s) => s.status())
      .filter((t) => t.typeUrl === typeUrl)
      .flatMap((t) => t.subscribed);
  const held = (client: DeltaClient | SotwClient, typeUrl: string = TypeUrl.Cluster) =>
    [...(client.held.get(typeUrl)?.keys() ?? [])].sort();

  for (const variant of variants) {
    const id = (n: string) => `${n}.${variant.id}`;

    conformanceCase(
      id("C10"),
      `${variant.label}: wildcard transitions: legacy (no names) -> explicit * -> names -> * , each answered with exactly what the subscription covers`,
      "xDS protocol: how the client specifies what resources to return",
      async () => {
        const node = nodeId("c10");
        served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0, b: 0, "svc/1": 0 } }));
        if (variant.protocol === "sotw") {
          const client = await sotw(variant, node);
          client.subscribe(TypeUrl.Cluster, []);
          const legacy = await client.next();
          assert.deepEqual(sotwNames(legacy), ["a", "b", "svc/1"], "legacy wildcard");
          client.ack(legacy);
          client.subscribe(TypeUrl.Cluster, ["*"]);
          await client.call.quiet(200);
          client.subscribe(TypeUrl.Cluster, ["a"]);
          const named = await client.next();
          assert.deepEqual(sotwNames(named), ["a"], "names end the wildcard");
          client.ack(named);
          client.subscribe(TypeUrl.Cluster, ["*"]);
          const wildcard = await client.next();
          assert.deepEqual(sotwNames(wildcard), ["a", "b", "svc/1"], "explicit wildcard");
          client.ack(wildcard);
          // After names, an empty list means nothing, not everything.
          client.subscribe(TypeUrl.Cluster, []);
          const nothing = await client.next();
          assert.deepEqual(sotwNames(nothing), []);
        } else {
          const client = await delta(variant, node);
          client.subscribe(TypeUrl.Cluster, []);
          const legacy = await client.next();
          assert.deepEqual(deltaNames(legacy), ["a", "b", "svc/1"], "legacy wildcard");
          client.ack(legacy);
          client.subscribe(TypeUrl.Cluster, ["*"]);
          await client.call.quiet(200);
          // Leaving the wildcard for one name: the client drops the others.
          client.subscribe(TypeUrl.Cluster, ["a"], ["*"]);
          client.held.get(TypeUrl.Cluster)?.delete("b");
          client.held.get(TypeUrl.Cluster)?.delete("svc/1");
          const named = await client.next();
          assert.deepEqual(deltaNames(named), ["a"], "a name subscribed again is sent again");
          client.ack(named);
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0, b: 1, "svc/1": 0 } }));
          await client.call.quiet(200);
          client.subscribe(TypeUrl.Cluster, ["*"]);
          const wildcard = await client.next();
          client.ack(wildcard);
          assert.deepEqual(
            deltaNames(wildcard),
            ["b", "svc/1"],
            "back on the wildcard, the client gets what it dropped",
          );
          assert.deepEqual(held(client), ["a", "b", "svc/1"]);
        }
      },
    );

    conformanceCase(
      id("C11"),
      `${variant.label}: a prefix glob (svc/*) covers the names under it as they come and go, and nothing else`,
      "xDS protocol: resource names; go-control-plane wildcard and glob subscriptions",
      async () => {
        const node = nodeId("c11");
        served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0, "svc/1": 0, "svc/2": 0 } }));
        if (variant.protocol === "sotw") {
          const client = await sotw(variant, node);
          client.subscribe(TypeUrl.Cluster, ["svc/*"]);
          const first = await client.next();
          assert.deepEqual(sotwNames(first), ["svc/1", "svc/2"]);
          client.ack(first);
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 1, "svc/2": 0, "svc/3": 0 } }));
          const second = await client.next();
          assert.deepEqual(sotwNames(second), ["svc/2", "svc/3"]);
          client.ack(second);
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 2, "svc/2": 0, "svc/3": 0 } }));
          await client.call.quiet(200);
        } else {
          const client = await delta(variant, node);
          client.subscribe(TypeUrl.Cluster, ["svc/*"]);
          const first = await client.next();
          assert.deepEqual(deltaNames(first), ["svc/1", "svc/2"]);
          client.ack(first);
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 1, "svc/2": 0, "svc/3": 0 } }));
          const second = await client.next();
          assert.deepEqual(deltaNames(second), ["svc/3"]);
          assert.deepEqual(second.removedResources, ["svc/1"]);
          client.ack(second);
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 2, "svc/2": 0, "svc/3": 0 } }));
          await client.call.quiet(200);
        }
      },
    );

    if (variant.protocol === "delta") {
      conformanceCase(
        id("C12"),
        `${variant.label}: subscribe, unsubscribe, removal, re-adding, and re-subscribing after an unsubscribe or a removal`,
        "xDS protocol: incremental xDS; go-control-plane #431",
        async () => {
          const node = nodeId("c12");
          const eds = (endpoints: Record<string, number>) => snapshotOf({ endpoints });
          served.cache.setSnapshot(node, eds({ a: 0, b: 0 }));
          const client = await delta(variant, node, TypeUrl.Endpoint);
          client.subscribe(TypeUrl.Endpoint, ["a", "b", "later"]);
          const first = await client.next();
          assert.deepEqual(deltaNames(first), ["a", "b"], "a name that does not exist yet is not sent");
          client.ack(first);
          client.subscribe(TypeUrl.Endpoint, [], ["b"]);
          await eventually(() => !subscribed(node, TypeUrl.Endpoint).includes("b"), "the server has the unsubscribe");
          served.cache.setSnapshot(node, eds({ a: 0, b: 1 }));
          await client.call.quiet(200);
          served.cache.setSnapshot(node, eds({ a: 1, b: 1 }));
          const changed = await client.next();
          assert.deepEqual(deltaNames(changed), ["a"], "only subscribed changes");
          client.ack(changed);
          served.cache.setSnapshot(node, eds({ b: 1 }));
          const removed = await client.next();
          assert.deepEqual(removed.removedResources, ["a"]);
          assert.deepEqual(deltaNames(removed), []);
          client.ack(removed);
          served.cache.setSnapshot(node, eds({ a: 1, b: 1, later: 0 }));
          const readded = await client.next();
          assert.deepEqual(deltaNames(readded), ["a", "later"], "re-added and newly created names are sent");
          client.ack(readded);
          client.subscribe(TypeUrl.Endpoint, ["b"]);
          const resubscribed = await client.next();
          assert.deepEqual(deltaNames(resubscribed), ["b"], "re-subscribing after an unsubscribe sends it");
          client.ack(resubscribed);
          // A name the server believes the client holds at the newest version is still sent.
          client.subscribe(TypeUrl.Endpoint, ["a"]);
          const again = await client.next();
          assert.deepEqual(deltaNames(again), ["a"], "subscribing to a held name sends it again");
          client.ack(again);
          await client.call.quiet(200);
          assert.deepEqual(held(client, TypeUrl.Endpoint), ["a", "b", "later"]);
        },
      );
    }
  }
});
