/**
 * The main job as a user runs it: examples/file-source's start script with a
 * config file, a real grpc-js-xds client calling xds:///greeter, config edits
 * moving its traffic, a broken edit reported while calls keep succeeding, and
 * the status page in a real headless Chromium.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type Backend, ClientProcess, eventually, killAllClients, startBackend } from "./harness.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const mainJob = join(repoRoot, "examples/file-source");
const bundled = readFileSync(join(mainJob, "config/default.yaml"), "utf8");
const chromium = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";

/** The bundled config with its endpoint on `port`, plus whatever `edit` changes. */
const configFor = (port: number, edit: (yaml: string) => string = (y) => y) =>
  edit(bundled.replace("portValue: 50051", `portValue: ${port}`));

interface MainJob {
  readonly child: ChildProcess;
  readonly xds: string;
  readonly admin: string;
  readonly output: string[];
}

async function startMainJob(configPath: string): Promise<MainJob> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/main.ts",
      "--config",
      configPath,
      "--xds-address",
      "127.0.0.1:0",
      "--admin-address",
      "127.0.0.1:0",
    ],
    { cwd: mainJob, stdio: ["ignore", "pipe", "pipe"] },
  );
  const output: string[] = [];
  child.stdout?.setEncoding("utf8").on("data", (c: string) => output.push(c));
  child.stderr?.setEncoding("utf8").on("data", (c: string) => output.push(c));
  const line = await eventually(
    "the main job's start-up line",
    () => /xDS on (\S+), admin and status page on http:\/\/(\S+)\//.exec(output.join("")) ?? undefined,
    { timeoutMs: 30_000 },
  );
  return { child, xds: line[1] as string, admin: line[2] as string, output };
}

async function json(url: string): Promise<Record<string, unknown>> {
  return (await (await fetch(url)).json()) as Record<string, unknown>;
}

describe("the file-source main job with a real grpc-js-xds client", () => {
  let a: Backend;
  let b: Backend;
  let job: MainJob;
  let client: ClientProcess;
  let configPath: string;
  before(async () => {
    a = await startBackend("A");
    b = await startBackend("B");
    configPath = join(mkdtempSync(join(tmpdir(), "main-job-")), "xds.yaml");
    writeFileSync(configPath, configFor(a.port));
    job = await startMainJob(configPath);
    process.env["XDS_TARGET"] = "xds:///greeter";
    client = await ClientProcess.start(job.xds, "greeter-client-1");
  });
  after(async () => {
    await killAllClients();
    job?.child.kill("SIGTERM");
    await Promise.all([a?.close(), b?.close()]);
  });

  it("answers /healthz and /readyz on the admin address", async () => {
    assert.equal((await (await fetch(`http://${job.admin}/healthz`)).text()).trim(), "ok");
    assert.equal((await fetch(`http://${job.admin}/readyz`)).status, 200);
  });

  it("routes the client's first call to the configured endpoint", async () => {
    const result = await client.firstCall();
    assert.deepEqual(result.ok && result.backend, "A");
  });

  it("moves traffic when the config file is edited", async () => {
    writeFileSync(configPath, configFor(b.port));
    await client.untilServedBy("B", 10_000);
  });

  it("reports a broken edit on /debug and keeps serving the last good config", async () => {
    writeFileSync(
      configPath,
      configFor(a.port, (y) => y.replace("route: { cluster: greeter }", "route: { cluster: nowhere }")),
    );
    const status = await eventually("the rejected reload", async () => {
      const s = (await json(`http://${job.admin}/debug/config`)) as {
        ok: boolean;
        problems: { message: string; resource: string }[];
      };
      return s.ok ? undefined : s;
    });
    assert.equal(status.problems[0]?.resource, 'routes[0] "greeter-route"');
    assert.match(status.problems[0]?.message ?? "", /"nowhere"/);
    assert.match(job.output.join(""), /config rejected; still serving the last good config/);
    const results = await client.calls({ count: 20 });
    assert.ok(
      results.every((r) => r.ok && r.backend === "B"),
      `calls after the broken edit: ${JSON.stringify(results.filter((r) => !r.ok))}`,
    );
  });

  it("shows the node, its acks and a NACK on the status page in headless Chromium", {
    skip: !existsSync(chromium) && `no Chromium at ${chromium} (.ci/run installs Debian's chromium)`,
  }, async () => {
    const { chromium: launcher } = await import("playwright-core");
    const browser = await launcher.launch({
      executablePath: chromium,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://${job.admin}/`);
      await page.locator('tr.node[data-node="greeter-client-1"] td.ACKED').first().waitFor({ timeout: 10_000 });
      await page.locator("#reload-error").waitFor({ timeout: 10_000 });
      assert.match((await page.locator("pre.error").textContent()) ?? "", /"nowhere"/);
      // A config the client rejects: gRPC refuses a wildcard in the middle of a domain.
      writeFileSync(
        configPath,
        configFor(b.port, (y) => y.replace('domains: ["*"]', 'domains: ["bad*domain.example"]')),
      );
      const nack = page.locator('tr.node[data-node="greeter-client-1"] td.nack .bad').first();
      await nack.waitFor({ timeout: 10_000 });
      assert.match((await nack.textContent()) ?? "", /wildcard|domain/i);
      await page.screenshot({ path: join(tmpdir(), "file-source-status.png"), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
