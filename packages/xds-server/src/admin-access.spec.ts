import assert from "node:assert/strict";
import https from "node:https";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl, XdsError } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { assertExposureAllowed, isLoopbackHost } from "./admin-access.js";
import { type AdminServer, restGateway, startAdminServer, XdsServer, type XdsServerHandle } from "./index.js";
import { makeTestCerts } from "./test-support/certs.js";

const token = "s3cret-admin-token-0123456789";
/** Every page that needs the token: the status page, metrics, debug pages, and the REST gateway. */
const guarded = ["/", "/metrics", "/debug", "/debug/streams", "/debug/nodes", "/debug/nacks", "/debug/build", "/nope"];

describe("an admin server bound elsewhere than loopback", () => {
  for (const address of ["0.0.0.0:0", "[::]:0", "10.1.2.3:9901", "admin.example:9901"]) {
    it(`refuses to start on ${address} without a token or mTLS, naming the address and the fix`, async () => {
      await assert.rejects(startAdminServer({ address }), (e: unknown) => {
        assert.ok(e instanceof XdsError);
        assert.equal(e.code, "invalid_config");
        assert.ok(e.message.includes(address), e.message);
        assert.match(e.message, /--admin-token-file/);
        return true;
      });
    });
  }

  it("counts 127.0.0.0/8, ::1 and localhost as loopback, and nothing else", () => {
    for (const host of [
      "127.0.0.1",
      "127.4.5.6",
      "::1",
      "0:0:0:0:0:0:0:1",
      "::ffff:127.0.0.1",
      "localhost",
      "LOCALHOST",
    ]) {
      assert.equal(isLoopbackHost(host), true, host);
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "::ffff:10.0.0.1", "128.0.0.1", "localhost.example", ""]) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });

  it("refuses an empty token", async () => {
    await assert.rejects(
      startAdminServer({ address: "127.0.0.1:0", token: "" }),
      (e: unknown) => e instanceof XdsError && e.code === "invalid_config" && e.details.field === "token",
    );
  });
});

describe("an admin server with a token", () => {
  const cache = new SnapshotCache();
  let server: XdsServerHandle;
  let admin: AdminServer;
  let base: string;
  before(async () => {
    cache.setSnapshot("n1", Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })] }));
    server = await XdsServer.builder()
      .withCache(cache)
      .withMetrics()
      .withHealthService()
      .withConfig({ drainTimeoutMs: 100 })
      .serve("127.0.0.1:0");
    admin = await startAdminServer({
      address: "127.0.0.1:0",
      token,
      handle: server,
      cache,
      extraDebug: { build: () => ({ version: "1" }) },
      statusPage: (_req, res) => res.end("<h1>status</h1>"),
      rest: restGateway({ cache }),
    });
    base = `http://${admin.address}`;
  });
  after(async () => {
    await admin.close();
    await server.shutdown();
    cache.close();
  });

  it("answers /healthz and /readyz without the token", async () => {
    for (const path of ["/healthz", "/readyz"]) assert.equal((await fetch(`${base}${path}`)).status, 200, path);
  });

  it("answers 401 with a Bearer challenge and a JSON body naming what is needed to every other page", async () => {
    for (const path of guarded) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 401, path);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/, path);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(body.code, "unauthenticated");
      assert.match(body.message, /Authorization: Bearer <token>/);
      assert.match(body.message, /--admin-token-file/);
    }
  });

  it("refuses the REST gateway without the token, so the admin port is no way around the xDS port's authorizer", async () => {
    const res = await fetch(`${base}/v3/discovery:clusters`, { method: "POST", body: '{"node":{"id":"n1"}}' });
    assert.equal(res.status, 401);
    const ok = await fetch(`${base}/v3/discovery:clusters`, {
      method: "POST",
      body: '{"node":{"id":"n1"}}',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(ok.status, 200);
  });

  it("serves every page to a request with the token", async () => {
    for (const path of guarded.filter((p) => p !== "/nope")) {
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, path);
    }
  });

  it("refuses a wrong token without repeating it", async () => {
    const wrong = "wrong-token-that-must-not-be-echoed";
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${wrong}` } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    const text = await res.text();
    assert.ok(!text.includes(wrong) && !text.includes(token), text);
    const prefix = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token.slice(0, -1)}` } });
    assert.equal(prefix.status, 401, "a prefix of the token is not the token");
  });

  it("takes ?token= on the status page only, where a browser cannot send a header", async () => {
    assert.equal((await fetch(`${base}/?token=${token}`)).status, 200);
    assert.equal((await fetch(`${base}/debug/streams?token=${token}`)).status, 401);
    assert.equal((await fetch(`${base}/?token=nope`)).status, 401);
  });

  it("gives a browser asking for the status page a form for the token", async () => {
    const res = await fetch(`${base}/`, { headers: { accept: "text/html,application/xhtml+xml" } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await res.text(), /<input type="password" name="token"/);
  });
});

describe("an admin server over TLS", () => {
  let certs: ReturnType<typeof makeTestCerts> | undefined;
  try {
    certs = makeTestCerts(["spiffe://test/operator"]);
  } catch (error) {
    console.log(`# admin TLS tests skipped: openssl could not make test certificates (${String(error)})`);
  }

  /** GET over HTTPS trusting the test CA, with a client certificate when given. */
  function get(address: string, path: string, client?: { cert: string; key: string }): Promise<number> {
    const c = certs as NonNullable<typeof certs>;
    return new Promise((resolve, reject) => {
      const req = https.get(`https://${address}${path}`, { ca: c.ca, ...client, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
    });
  }

  it("serves HTTPS with the given certificate", { skip: !certs }, async () => {
    const c = certs as NonNullable<typeof certs>;
    const admin = await startAdminServer({ address: "127.0.0.1:0", tls: { cert: c.serverCert, key: c.serverKey } });
    try {
      assert.equal(await get(admin.address, "/healthz"), 200);
    } finally {
      await admin.close();
    }
  });

  it("with a CA, needs a verified client certificate for every page but the probes", { skip: !certs }, async () => {
    const c = certs as NonNullable<typeof certs>;
    const admin = await startAdminServer({
      address: "127.0.0.1:0",
      tls: { cert: c.serverCert, key: c.serverKey, ca: c.ca },
      extraDebug: { build: () => ({}) },
    });
    try {
      assert.equal(await get(admin.address, "/healthz"), 200);
      assert.equal(await get(admin.address, "/debug/build"), 401);
      // A certificate signed by another CA is not verified: the server's own is self-consistent but not a client of this CA.
      const other = makeTestCerts([]);
      assert.equal(await get(admin.address, "/debug/build", { cert: other.serverCert, key: other.serverKey }), 401);
      assert.equal(await get(admin.address, "/debug/build", c.clients["spiffe://test/operator"]), 200);
    } finally {
      await admin.close();
    }
  });

  it("lets a token or mTLS stand in front of a non-loopback address", () => {
    // Deciding before listening: tests never bind 0.0.0.0.
    assert.throws(() => assertExposureAllowed("0.0.0.0:9901", "0.0.0.0", false, false), /--admin-token-file/);
    assert.doesNotThrow(() => assertExposureAllowed("0.0.0.0:9901", "0.0.0.0", true, false));
    assert.doesNotThrow(() => assertExposureAllowed("0.0.0.0:9901", "0.0.0.0", false, true));
  });
});
