import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl } from "@nebucloud/xds-core";
import { XdsServer, type XdsServerHandle } from "@nebucloud/xds-server";
import { ExitCode } from "./cli/exit-code.js";
import { xdsctl } from "./cli/main.js";
import type { XdsClientEvents } from "./client-events.js";
import type { ClientTlsOptions } from "./client-options.js";
import { makeTestPki, type TestPki } from "./test-support/certs.js";
import { record, snapshotOf, until } from "./test-support/harness.js";
import { XdsClient } from "./xds-client.js";

describe("XdsClient over TLS", () => {
  let pki: TestPki;
  let other: TestPki;
  let server: XdsServerHandle;
  let dir: string;
  const cache = new SnapshotCache();
  const clients: XdsClient[] = [];

  before(async () => {
    pki = makeTestPki();
    other = makeTestPki();
    dir = mkdtempSync(join(tmpdir(), "xds-client-tls-"));
    cache.setSnapshot("n1", snapshotOf(["secure"]));
    server = await XdsServer.builder()
      .withCache(cache)
      .withTls({ cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requireClientCert: true })
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.shutdown();
    cache.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (tls: ClientTlsOptions) => {
    const c = new XdsClient({
      server: server.address,
      node: { id: "n1" },
      tls,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    clients.push(c);
    return c;
  };

  it("fetches over mTLS with the CA, certificate and key it is given", async () => {
    const c = client({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey });
    const seen = record();
    c.watch(TypeUrl.Cluster, "*", seen.handler);
    await until("the clusters", () => seen.changes.length === 1);
    assert.deepEqual(seen.lastNames(), ["secure"]);
  });

  it("reports a TLS failure, not an unreachable server, when the server's certificate does not verify", async () => {
    const c = client({ ca: other.ca, cert: pki.clientCert, key: pki.clientKey });
    const ends: XdsClientEvents["disconnected"][] = [];
    c.on("disconnected", (event) => ends.push(event));
    c.watch(TypeUrl.Cluster, "*", record().handler);
    await until("a failure", () => ends.length > 0);
    assert.equal(ends[0]?.error.details["reason"], "tls", ends[0]?.error.message);
    assert.match(ends[0]?.error.message ?? "", /TLS with the xDS server at 127\.0\.0\.1:\d+ failed/);
  });

  it("xdsctl exits 4 when TLS fails and 0 over mTLS", async () => {
    const write = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const ca = write("ca.pem", pki.ca);
    const wrongCa = write("other-ca.pem", other.ca);
    const cert = write("client.pem", pki.clientCert);
    const key = write("client.key", pki.clientKey);
    const notes: string[] = [];
    const out: string[] = [];
    const output = { out: (t: string) => out.push(t), note: (t: string) => notes.push(t) };
    const never = new AbortController().signal;
    const base = ["get", "clusters", "--server", server.address, "--node", "n1", "--timeout", "5000"];
    assert.equal(await xdsctl([...base, "--ca", wrongCa, "--cert", cert, "--key", key], output, never), ExitCode.Tls);
    assert.match(notes.join(""), /TLS/);
    assert.equal(await xdsctl([...base, "--ca", ca, "--cert", cert, "--key", key], output, never), ExitCode.Ok);
    assert.match(out.join(""), /name: secure/);
  });
});
