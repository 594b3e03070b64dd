import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { Registry } from "prom-client";
import { record, snapshotOf, startServer, until } from "./test-support/harness.js";
import { XdsClient } from "./xds-client.js";

async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const sample = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return Number(sample?.value ?? 0);
}

describe("client metrics", () => {
  it("count responses, NACKs and reconnects, and show whether the stream is open", async () => {
    const registry = new Registry();
    const first = await startServer();
    first.cache.setSnapshot("n1", snapshotOf(["a"]));
    const client = new XdsClient({
      server: first.address,
      node: { id: "n1" },
      metrics: registry,
      backoff: { initialMs: 20, maxMs: 200 },
      validate: (_t, name) => (name === "bad" ? "bad" : undefined),
    });
    // A second client on the same registry shares the series instead of failing to register.
    const other = new XdsClient({ server: first.address, node: { id: "n2" }, metrics: registry });
    const seen = record();
    client.watch(TypeUrl.Cluster, "*", seen.handler);
    await until("the clusters", () => seen.changes.length === 1);
    assert.equal(await value(registry, "xds_client_responses_total", { type_url: TypeUrl.Cluster }), 1);
    assert.equal(await value(registry, "xds_client_connected"), 1);
    first.cache.setSnapshot("n1", snapshotOf(["a", "bad"]));
    await until("the NACK", () => client.status()[0]?.nack !== undefined);
    assert.equal(await value(registry, "xds_client_nacks_total", { type_url: TypeUrl.Cluster }), 1);
    first.kill();
    await until("the outage", () => !client.connected);
    assert.equal(await value(registry, "xds_client_connected"), 0);
    const second = await startServer({ port: first.port });
    await until("the reconnect", () => client.connected, 5000);
    assert.equal(await value(registry, "xds_client_reconnects_total"), 1);
    await client.close();
    await other.close();
    assert.equal(await value(registry, "xds_client_connected"), 0);
    await second.stop();
  });
});
