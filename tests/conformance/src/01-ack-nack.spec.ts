/**
 * C01-C03: nonces, versions, ACK and NACK, over SotW and delta, ADS and the
 * per-type CDS service.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { conformanceCase } from "./support/cases.js";
import { eventually, nodeId, type Served, serve, snapshotOf } from "./support/fixtures.js";
import { Connection } from "./support/grpc-call.js";
import { DeltaClient, deltaNames, SotwClient, sotwNames, type Variant, variants } from "./support/xds-clients.js";

const xdsProtocol = "xDS protocol: ACK/NACK and versioning";

describe("ACK, NACK, nonces and versions", () => {
  let served: Served;
  const connections: Connection[] = [];
  const nacks: { node: string; typeUrl: string; version: string; message: string }[] = [];
  before(async () => {
    served = await serve({
      callbacks: {
        onNack: (_s, node, typeUrl, version, message) => nacks.push({ node: node.id, typeUrl, version, message }),
      },
    });
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
  const sotw = async (variant: Variant, node: string) =>
    new SotwClient(await connect(), { ads: variant.ads, typeUrl: TypeUrl.Cluster, nodeId: node });
  const delta = async (variant: Variant, node: string) =>
    new DeltaClient(await connect(), { ads: variant.ads, typeUrl: TypeUrl.Cluster, nodeId: node });
  const nackedOn = (node: string) => nacks.filter((n) => n.node === node);
  /** The NACK the server shows for a node's CDS (what /debug/nacks and CSDS report). */
  const shownNack = (node: string) =>
    served.server
      .streams()
      .filter((s) => s.node?.id === node)
      .flatMap((s) => s.status())
      .find((t) => t.typeUrl === TypeUrl.Cluster)?.nack;

  for (const variant of variants) {
    const id = (n: string) => `${n}.${variant.id}`;

    conformanceCase(
      id("C01"),
      `${variant.label}: a request with a stale nonce is ignored: no response, no NACK recorded, no subscription change`,
      xdsProtocol,
      async () => {
        const node = nodeId("c01");
        served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0, b: 0 } }));
        if (variant.protocol === "sotw") {
          const client = await sotw(variant, node);
          client.subscribe(TypeUrl.Cluster, ["a"]);
          const first = await client.next();
          assert.deepEqual(sotwNames(first), ["a"]);
          // Names b too, but answers a nonce the server never sent: ignored.
          client.request({
            typeUrl: TypeUrl.Cluster,
            resourceNames: ["a", "b"],
            versionInfo: first.versionInfo,
            responseNonce: "stale-nonce",
          });
          client.request({
            typeUrl: TypeUrl.Cluster,
            resourceNames: ["a"],
            responseNonce: "stale-nonce",
            errorDetail: { code: 3, message: "stale NACK" },
          });
          await client.call.quiet(300);
          assert.deepEqual(nackedOn(node), []);
          client.names.set(TypeUrl.Cluster, ["a"]);
          client.ack(first);
          await client.call.quiet(200);
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 1, b: 1 } }));
          const second = await client.next();
          assert.deepEqual(sotwNames(second), ["a"], "the subscription is still [a]");
        } else {
          const client = await delta(variant, node);
          client.subscribe(TypeUrl.Cluster, ["a"]);
          const first = await client.next();
          assert.deepEqual(deltaNames(first), ["a"]);
          client.ack(first);
          client.request({
            typeUrl: TypeUrl.Cluster,
            responseNonce: "stale-nonce",
            errorDetail: { code: 3, message: "stale NACK" },
          });
          await client.call.quiet(300);
          assert.deepEqual(nackedOn(node), []);
          assert.equal(shownNack(node), undefined);
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 1, b: 1 } }));
          assert.deepEqual(deltaNames(await client.next()), ["a"]);
        }
      },
    );

    conformanceCase(
      id("C02"),
      `${variant.label}: every response has a nonce never used before on the stream, and new content a new version`,
      xdsProtocol,
      async () => {
        const node = nodeId("c02");
        const nonces: string[] = [];
        const versions: string[] = [];
        served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0 } }));
        if (variant.protocol === "sotw") {
          const client = await sotw(variant, node);
          client.subscribe(TypeUrl.Cluster, []);
          for (let generation = 1; generation <= 5; generation++) {
            const response = await client.next();
            nonces.push(response.nonce);
            versions.push(response.versionInfo);
            client.ack(response);
            served.cache.setSnapshot(node, snapshotOf({ clusters: { a: generation } }));
          }
        } else {
          const client = await delta(variant, node);
          client.subscribe(TypeUrl.Cluster, ["*"]);
          for (let generation = 1; generation <= 5; generation++) {
            const response = await client.next();
            nonces.push(response.nonce);
            versions.push(response.systemVersionInfo);
            client.ack(response);
            served.cache.setSnapshot(node, snapshotOf({ clusters: { a: generation } }));
          }
        }
        assert.equal(new Set(nonces).size, nonces.length, `nonces ${nonces.join(",")}`);
        assert.ok(
          nonces.every((n) => n !== ""),
          "no empty nonce",
        );
        assert.equal(new Set(versions).size, versions.length, `versions ${versions.join(",")}`);
      },
    );

    conformanceCase(
      id("C03"),
      `${variant.label}: a NACK is recorded once, not answered again with the same version, cleared by the next ACK; the next snapshot is delivered`,
      "go-control-plane #962",
      async () => {
        const node = nodeId("c03");
        served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 0 } }));
        if (variant.protocol === "sotw") {
          const client = await sotw(variant, node);
          client.subscribe(TypeUrl.Cluster, []);
          const rejected = await client.next();
          client.nack(rejected, "bad cluster a");
          await client.call.quiet(400);
          assert.deepEqual(
            nackedOn(node).map((n) => [n.version, n.message]),
            [[rejected.versionInfo, "bad cluster a"]],
          );
          assert.equal(shownNack(node)?.message, "bad cluster a");
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 1 } }));
          const fixed = await client.next();
          assert.notEqual(fixed.versionInfo, rejected.versionInfo);
          client.ack(fixed);
          await eventually(() => shownNack(node) === undefined, "the ACK clears the NACK");
          await client.call.quiet(200);
        } else {
          const client = await delta(variant, node);
          client.subscribe(TypeUrl.Cluster, ["*"]);
          const rejected = await client.next();
          client.nack(rejected, "bad cluster a");
          await client.call.quiet(400);
          assert.deepEqual(
            nackedOn(node).map((n) => n.message),
            ["bad cluster a"],
          );
          assert.equal(shownNack(node)?.message, "bad cluster a");
          served.cache.setSnapshot(node, snapshotOf({ clusters: { a: 1 } }));
          const fixed = await client.next();
          assert.deepEqual(deltaNames(fixed), ["a"]);
          assert.notEqual(fixed.resources[0]?.version, rejected.resources[0]?.version);
          client.ack(fixed);
          await eventually(() => shownNack(node) === undefined, "the ACK clears the NACK");
          await client.call.quiet(200);
        }
        assert.equal(nackedOn(node).length, 1, "recorded once");
      },
    );
  }
});
