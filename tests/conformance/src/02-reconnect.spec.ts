/**
 * C04-C05: a client reconnecting with what it held, and versions across
 * server restarts.
 */
import assert from "node:assert/strict";
import { afterEach, describe } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { conformanceCase } from "./support/cases.js";
import { nodeId, type Served, serve, snapshotOf, versionsOf } from "./support/fixtures.js";
import { Connection } from "./support/grpc-call.js";
import {
  DeltaClient,
  deltaNames,
  SotwClient,
  sotwItems,
  sotwNames,
  type Variant,
  variants,
} from "./support/xds-clients.js";

describe("reconnects and restarts", () => {
  const connections: Connection[] = [];
  const servers: Served[] = [];
  afterEach(async () => {
    for (const c of connections.splice(0)) c.destroy();
    for (const s of servers.splice(0)) await s.stop();
  });
  const start = async () => {
    const served = await serve();
    servers.push(served);
    return served;
  };
  const connect = async (served: Served) => {
    const connection = await Connection.open(served.address);
    connections.push(connection);
    return connection;
  };
  const sotw = async (served: Served, variant: Variant, node: string) =>
    new SotwClient(await connect(served), { ads: variant.ads, typeUrl: TypeUrl.Cluster, nodeId: node });
  const delta = async (served: Served, variant: Variant, node: string) =>
    new DeltaClient(await connect(served), { ads: variant.ads, typeUrl: TypeUrl.Cluster, nodeId: node });

  for (const variant of variants) {
    const id = (n: string) => `${n}.${variant.id}`;

    conformanceCase(
      id("C04"),
      `${variant.label}: a client reconnecting with an old version and nonce is answered when versions differ, with everything it still subscribes to, so it never deletes what still exists`,
      "grpc-java #12663",
      async () => {
        const served = await start();
        const node = nodeId("c04");
        served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0, b: 0 } }));
        if (variant.protocol === "sotw") {
          const before = await sotw(served, variant, node);
          before.subscribe(TypeUrl.Cluster, []);
          const old = await before.next();
          before.ack(old);
          before.call.cancel();
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0, b: 1, c: 0 } }));
          // New stream: the old version and the old stream's nonce, as grpc-java sends them.
          const after = await sotw(served, variant, node);
          after.request({
            typeUrl: TypeUrl.Cluster,
            versionInfo: old.versionInfo,
            responseNonce: old.nonce,
            resourceNames: [],
          });
          const answer = await after.next();
          assert.notEqual(answer.versionInfo, old.versionInfo);
          assert.deepEqual(sotwNames(answer), ["a", "b", "c"], "a CDS response names every cluster the client keeps");
          after.ack(answer);
          after.call.cancel();
          // Reconnecting with the current version: nothing to send, and nothing is taken away.
          const current = await sotw(served, variant, node);
          current.request({
            typeUrl: TypeUrl.Cluster,
            versionInfo: answer.versionInfo,
            responseNonce: answer.nonce,
            resourceNames: [],
          });
          await current.call.quiet(300);
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 1, b: 1, c: 0 } }));
          assert.deepEqual(sotwNames(await current.next()), ["a", "b", "c"]);
        } else {
          const before = await delta(served, variant, node);
          before.subscribe(TypeUrl.Cluster, ["*"]);
          before.ack(await before.next());
          const held = Object.fromEntries(before.held.get(TypeUrl.Cluster) ?? []);
          before.call.cancel();
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0, b: 1, c: 0 } }));
          const after = await delta(served, variant, node);
          after.subscribe(TypeUrl.Cluster, ["*"], [], { ...held, gone: "v-old" });
          const answer = await after.next();
          assert.deepEqual(deltaNames(answer), ["b", "c"], "only what differs is sent");
          assert.deepEqual(answer.removedResources, ["gone"], "only what no longer exists is removed");
          await after.call.quiet(200);
        }
      },
    );

    conformanceCase(
      id("C05"),
      `${variant.label}: a restarted server with different content never reuses a version it sent before; equal content keeps its version`,
      "Contour #5482",
      async () => {
        const node = nodeId("c05");
        const seen: string[] = [];
        const first = await start();
        first.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0 } }));
        const versionOf = async (served: Served, asIf?: { version: string; nonce: string }) => {
          if (variant.protocol === "sotw") {
            const client = await sotw(served, variant, node);
            client.request({
              typeUrl: TypeUrl.Cluster,
              resourceNames: [],
              versionInfo: asIf?.version ?? "",
              responseNonce: asIf?.nonce ?? "",
            });
            const response = await client.next();
            client.call.cancel();
            return {
              version: response.versionInfo,
              nonce: response.nonce,
              resource: sotwItems(response)[0]?.version ?? "",
            };
          }
          const client = await delta(served, variant, node);
          client.subscribe(TypeUrl.Cluster, ["*"]);
          const response = await client.next();
          client.call.cancel();
          return {
            version: response.systemVersionInfo,
            nonce: response.nonce,
            resource: response.resources[0]?.version ?? "",
          };
        };
        const a = await versionOf(first);
        seen.push(a.version);
        first.cache.setSnapshot(node, snapshotOf({ clusters: { a: 1 } }));
        const b = await versionOf(first);
        seen.push(b.version);
        await first.stop();
        servers.splice(servers.indexOf(first), 1);
        // Restart with other content, the client still holding b's version.
        const second = await start();
        second.cache.setSnapshot(node, snapshotOf({ clusters: { a: 2 } }));
        const c = await versionOf(second, b);
        assert.ok(!seen.includes(c.version), `version ${c.version} was already sent before the restart`);
        assert.notEqual(c.resource, a.resource);
        // Restart with the first content: the same version as before, on every replica.
        const third = await start();
        third.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0 } }));
        const again = await versionOf(third);
        assert.equal(again.version, a.version);
        assert.equal(again.resource, versionsOf(snapshotOf({ clusters: { a: 0 } }), TypeUrl.Cluster).get("a") ?? "");
      },
    );
  }
});
