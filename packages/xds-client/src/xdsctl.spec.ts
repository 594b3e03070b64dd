import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { TypeUrl } from "@nebucloud/xds-core";
import { parse as parseYaml } from "yaml";
import { ExitCode } from "./cli/exit-code.js";
import { record, until } from "./test-support/harness.js";
import { closedPort } from "./test-support/ports.js";
import { XdsClient } from "./xds-client.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const xdsctlScript = join(root, "packages/xds-client/src/bin/xdsctl.ts");
const fileSourceScript = join(root, "examples/file-source/src/main.ts");

const config = `
clusters:
  - name: backend
    type: EDS
    connectTimeout: 1s
    edsClusterConfig:
      edsConfig: { ads: {}, resourceApiVersion: V3 }
endpoints:
  - clusterName: backend
    endpoints:
      - loadBalancingWeight: 1
        lbEndpoints:
          - endpoint:
              address:
                socketAddress: { address: 127.0.0.1, portValue: 50051 }
`;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs xdsctl to completion (killed after 90 s: loading every Envoy type under tsx is slow on a busy machine). */
function xdsctl(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", xdsctlScript, ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("xdsctl against the file-source main job", { timeout: 600_000 }, () => {
  let dir: string;
  let job: ChildProcess | undefined;
  let server = "";
  let output = "";
  const clients: XdsClient[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "xdsctl-"));
    const path = join(dir, "config.yaml");
    writeFileSync(path, config);
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        fileSourceScript,
        "--config",
        path,
        "--xds-address",
        "127.0.0.1:0",
        "--admin-address",
        "127.0.0.1:0",
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    job = child;
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    await until("the main job to listen", () => /xDS on (\S+),/.test(output) || child.exitCode !== null, 90_000);
    const address = /xDS on (\S+),/.exec(output)?.[1];
    assert.ok(address, `the main job did not start:\n${output}`);
    server = address;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (job && job.exitCode === null) {
      const exited = new Promise((resolve) => job?.once("exit", resolve));
      job.kill("SIGTERM");
      const timer = setTimeout(() => job?.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints the clusters as YAML with their @type", async () => {
    const run = await xdsctl("get", "clusters", "--server", server, "--node", "n1");
    assert.equal(run.code, ExitCode.Ok, run.stderr);
    const resources = parseYaml(run.stdout) as Record<string, unknown>[];
    assert.equal(resources.length, 1);
    assert.equal(resources[0]?.["@type"], TypeUrl.Cluster);
    assert.equal(resources[0]?.["name"], "backend");
    assert.match(run.stdout, /name: backend/);
  });

  it("prints named endpoints as JSON with --output json, over delta", async () => {
    const run = await xdsctl(
      "get",
      "eds",
      "backend",
      "--server",
      server,
      "--node",
      "n1",
      "--output",
      "json",
      "--delta",
    );
    assert.equal(run.code, ExitCode.Ok, run.stderr);
    const resources = JSON.parse(run.stdout) as Record<string, unknown>[];
    assert.deepEqual(
      resources.map((r) => r["clusterName"]),
      ["backend"],
    );
  });

  it("shows in status the node a client connected as, with its clusters ACKED", async () => {
    const client = new XdsClient({ server, node: { id: "ctl-node" } });
    clients.push(client);
    const seen = record();
    client.watch(TypeUrl.Cluster, "*", seen.handler);
    await until("the client's clusters", () => seen.changes.length > 0, 30_000);
    await until("the ACK", () => client.status()[0]?.version !== "", 5000);
    const run = await xdsctl("status", "--server", server);
    assert.equal(run.code, ExitCode.Ok, run.stderr);
    const [header, ...rows] = run.stdout.trim().split("\n");
    assert.match(header ?? "", /^NODE\s+TYPE\s+RESOURCE\s+STATUS\s+VERSION\s+ERROR$/);
    const row = rows.find((line) => line.startsWith("ctl-node"));
    assert.ok(row, run.stdout);
    assert.match(row, /^ctl-node\s+clusters\s+backend\s+ACKED\s+\S+/);
  });

  it("fails with exit code 2 and the list of known types for an unknown type", async () => {
    const run = await xdsctl("get", "gizmos", "--server", server);
    assert.equal(run.code, ExitCode.Usage);
    assert.match(run.stderr, /unknown resource type "gizmos"/);
    assert.match(run.stderr, /clusters \(cds\), endpoints \(eds\), listeners \(lds\), routes \(rds\)/);
    assert.equal(run.stdout, "");
  });

  it("fails with exit code 3, naming the address, when the server is unreachable", async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const run = await xdsctl("get", "clusters", "--server", address, "--timeout", "5000");
    assert.equal(run.code, ExitCode.Unreachable, run.stderr);
    assert.match(run.stderr, new RegExp(`cannot reach the xDS server at ${address.replace(/\./g, "\\.")}`));
  });

  it("fails with exit code 5, naming it, for a resource that does not exist", async () => {
    const run = await xdsctl("get", "clusters", "backend", "nope", "--server", server, "--timeout", "2000");
    assert.equal(run.code, ExitCode.NotFound, run.stderr);
    assert.match(run.stderr, /clusters not found on \S+: nope/);
    assert.match(run.stdout, /name: backend/, "what exists is still printed");
  });

  it("exits 0 after the first update of a watch with --count 1", async () => {
    const run = await xdsctl("watch", "clusters", "--server", server, "--count", "1");
    assert.equal(run.code, ExitCode.Ok, run.stderr);
    assert.match(run.stdout, /^---\n/);
    assert.match(run.stdout, /name: backend/);
  });
});
