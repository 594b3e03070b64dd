// The main job locked down by flags (issue 15): mTLS with SPIFFE identities
// bound to node groups, certificate rotation without a restart, and start-up
// errors that name the file. Real processes, real openssl certificates.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import { DiscoveryRequestSchema } from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { SecretDiscoveryService } from "@nebucloud/xds-proto/envoy/service/secret/v3/sds_pb";
import { ClientStatusDiscoveryService } from "@nebucloud/xds-proto/envoy/service/status/v3/csds_pb";

const dir = mkdtempSync(join(tmpdir(), "main-security-"));
const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

/** A certificate signed by the test CA, with `san` as its subjectAltName. */
function issue(name: string, san: string): void {
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  );
  openssl(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "1",
    "-extfile",
    `${name}.ext`,
  );
}

let haveOpenssl = true;
try {
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=ca",
  );
  issue("server", "IP:127.0.0.1,DNS:localhost");
  issue("server2", "IP:127.0.0.1,DNS:localhost");
  issue("edge", "URI:spiffe://test/edge");
  issue("api", "URI:spiffe://test/api");
} catch (error) {
  haveOpenssl = false;
  console.log(`# main job mTLS tests skipped: openssl could not make certificates (${String(error)})`);
}
const pem = (file: string) => readFileSync(join(dir, file), "utf8");

const inline = (file: string) => JSON.stringify(haveOpenssl ? pem(file) : "");
const config = () => `
clusters:
  - { name: shared-cluster, type: STATIC, connectTimeout: 1s }
nodes:
  - name: edge
    match: { clusterPrefix: edge }
    clusters:
      - { name: edge-cluster, type: STATIC, connectTimeout: 1s }
    secrets:
      - name: edge-cert
        tlsCertificate:
          certificateChain: { inlineString: ${inline("edge.pem")} }
          privateKey: { inlineString: ${inline("edge.key")} }
      - name: edge-internal
        tlsCertificate:
          certificateChain: { inlineString: ${inline("edge.pem")} }
          privateKey: { inlineString: ${inline("edge.key")} }
  - name: api
    match: { cluster: api }
    clusters:
      - { name: api-cluster, type: STATIC, connectTimeout: 1s }
`;
const security = `
identities:
  spiffe://test/edge: { groups: [edge], nodeIds: ["edge-*"], secrets: [edge-cert] }
  spiffe://test/api: { groups: [api] }
admins: [spiffe://test/api]
`;

interface Job {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<number | null>;
}

function run(args: string[]): Job {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: new URL("..", import.meta.url),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout?.setEncoding("utf8").on("data", (c: string) => output.push(c));
  child.stderr?.setEncoding("utf8").on("data", (c: string) => output.push(c));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output, exited };
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the main job locked down with --tls-cert, --tls-key, --client-ca and --security (issue 15)", {
  skip: !haveOpenssl,
}, () => {
  let job: Job;
  let xds: string;
  const tlsFlags = () => [
    "--tls-cert",
    join(dir, "tls.pem"),
    "--tls-key",
    join(dir, "tls.key"),
    "--client-ca",
    join(dir, "ca.pem"),
  ];
  before(async () => {
    writeFileSync(join(dir, "xds.yaml"), config());
    writeFileSync(join(dir, "security.yaml"), security);
    writeFileSync(join(dir, "tls.pem"), pem("server.pem"));
    writeFileSync(join(dir, "tls.key"), pem("server.key"));
    job = run([
      "--config",
      join(dir, "xds.yaml"),
      "--security",
      join(dir, "security.yaml"),
      ...tlsFlags(),
      "--xds-address",
      "127.0.0.1:0",
      "--admin-address",
      "127.0.0.1:0",
    ]);
    xds = (await waitFor("the start-up line", () => /xDS on (\S+),/.exec(job.output.join(""))?.[1])) as string;
  });
  after(async () => {
    job?.child.kill("SIGTERM");
    await job?.exited;
  });

  const transport = (identity: "edge" | "api" | undefined) =>
    createGrpcTransport({
      baseUrl: `https://${xds}`,
      nodeOptions: {
        ca: pem("ca.pem"),
        ...(identity ? { cert: pem(`${identity}.pem`), key: pem(`${identity}.key`) } : {}),
      },
    });

  async function clusters(identity: "edge" | "api" | undefined, node: { id: string; cluster: string }) {
    const requests = [
      create(DiscoveryRequestSchema, { node, typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster" }),
    ];
    async function* stream() {
      yield* requests;
      await new Promise((r) => setTimeout(r, 2000));
    }
    try {
      for await (const response of createClient(
        AggregatedDiscoveryService,
        transport(identity),
      ).streamAggregatedResources(stream())) {
        return response.resources.map((r) => Buffer.from(r.value.subarray(2, 2 + (r.value[1] ?? 0))).toString()).sort();
      }
      return [];
    } catch (e) {
      assert.ok(e instanceof ConnectError, String(e));
      return Code[e.code];
    }
  }

  it("serves an identity its own node group", async () => {
    assert.deepEqual(await clusters("edge", { id: "edge-1", cluster: "edge-eu" }), ["edge-cluster", "shared-cluster"]);
  });

  it("refuses an identity another group, by node.cluster as by node.id", async () => {
    assert.equal(await clusters("edge", { id: "edge-1", cluster: "api" }), "PermissionDenied");
    assert.equal(await clusters("edge", { id: "api-1", cluster: "edge-eu" }), "PermissionDenied");
  });

  it("sends an identity only the Secrets its grant lists", async () => {
    const q = [
      create(DiscoveryRequestSchema, {
        node: { id: "edge-2", cluster: "edge-eu" },
        resourceNames: ["edge-cert", "edge-internal"],
      }),
    ];
    async function* requests() {
      yield* q;
      await new Promise((r) => setTimeout(r, 2000));
    }
    for await (const response of createClient(SecretDiscoveryService, transport("edge")).streamSecrets(requests())) {
      const names = response.resources.map((r) => Buffer.from(r.value.subarray(2, 2 + (r.value[1] ?? 0))).toString());
      assert.deepEqual(names, ["edge-cert"]);
      break;
    }
  });

  it("answers xdsctl with the identity's client certificate for its own node, and refuses another's", async () => {
    const xdsctl = fileURLToPath(new URL("../../../packages/xds-client/dist/bin/xdsctl.js", import.meta.url));
    const certFlags = ["--ca", join(dir, "ca.pem"), "--cert", join(dir, "edge.pem"), "--key", join(dir, "edge.key")];
    const get = (node: string, cluster: string) =>
      promisify(execFile)(
        process.execPath,
        [xdsctl, "get", "clusters", "--server", xds, "--node", node, "--cluster", cluster, ...certFlags, "-o", "json"],
        { timeout: 20_000 },
      ).then(
        (r) => ({ ok: true, out: r.stdout }),
        (e: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
      );
    const own = await get("edge-9", "edge-eu");
    assert.ok(own.ok, own.out);
    assert.match(own.out, /edge-cluster/);
    const other = await get("edge-9", "api");
    assert.equal(other.ok, false);
    assert.doesNotMatch(other.out, /api-cluster/);
    assert.match(other.out, /PERMISSION_DENIED|permission|may not/i);
  });

  it("refuses a caller without a certificate on every group", async () => {
    assert.equal(await clusters(undefined, { id: "edge-1", cluster: "edge-eu" }), "PermissionDenied");
    assert.equal(await clusters(undefined, { id: "x", cluster: "" }), "PermissionDenied");
  });

  it("shows CSDS callers only their own nodes, and an admin every node", async () => {
    const held = clusters("edge", { id: "edge-csds", cluster: "edge-eu" });
    const ids = async (identity: "edge" | "api") =>
      (await createClient(ClientStatusDiscoveryService, transport(identity)).fetchClientStatus({})).config.map(
        (c) => c.node?.id,
      );
    await new Promise((r) => setTimeout(r, 300));
    const api = await clusters("api", { id: "api-1", cluster: "api" });
    assert.deepEqual(api, ["api-cluster", "shared-cluster"]);
    const edgeSees = await ids("edge");
    assert.ok(
      edgeSees.every((id) => id?.startsWith("edge-")),
      JSON.stringify(edgeSees),
    );
    assert.ok((await ids("api")).includes("edge-csds"));
    await held;
  });

  it("serves a rotated certificate without a restart", async () => {
    const serial = () =>
      new Promise<string>((resolve, reject) => {
        const [host, port] = xds.split(":") as [string, string];
        const socket = tlsConnect({ host, port: Number(port), ca: pem("ca.pem"), ALPNProtocols: ["h2"] }, () => {
          resolve(socket.getPeerX509Certificate()?.serialNumber ?? "");
          socket.end();
        });
        socket.on("error", reject);
      });
    const before = await serial();
    // As Kubernetes and cert-manager do: new files renamed into place.
    writeFileSync(join(dir, "tls.key.new"), pem("server2.key"));
    writeFileSync(join(dir, "tls.pem.new"), pem("server2.pem"));
    renameSync(join(dir, "tls.key.new"), join(dir, "tls.key"));
    renameSync(join(dir, "tls.pem.new"), join(dir, "tls.pem"));
    let now = before;
    for (let i = 0; i < 100 && now === before; i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = await serial();
    }
    assert.notEqual(now, before);
    assert.match(job.output.join(""), /TLS material reloaded/);
  });

  it("refuses to start when a TLS file is missing, naming it, with no stack trace", async () => {
    const failed = run([
      "--tls-cert",
      join(dir, "nope.pem"),
      "--tls-key",
      join(dir, "tls.key"),
      "--xds-address",
      "127.0.0.1:0",
      "--admin-address",
      "127.0.0.1:0",
    ]);
    assert.equal(await failed.exited, 2);
    const text = failed.output.join("");
    assert.match(text, /--tls-cert .*nope\.pem: cannot read it \(ENOENT\)/);
    assert.doesNotMatch(text, /\n\s+at /);
  });

  it("refuses to start when the key does not match the certificate", async () => {
    const failed = run([
      "--tls-cert",
      join(dir, "server.pem"),
      "--tls-key",
      join(dir, "edge.key"),
      "--xds-address",
      "127.0.0.1:0",
      "--admin-address",
      "127.0.0.1:0",
    ]);
    assert.equal(await failed.exited, 2);
    assert.match(failed.output.join(""), /--tls-key .*edge\.key does not match the certificate in --tls-cert/);
  });
});
