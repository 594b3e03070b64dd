/**
 * The main job with an admin token and a Secret holding a real private key:
 * who may read the admin port, and that the key appears on none of its pages,
 * in none of its logs, and in neither `xdsctl status` nor CSDS.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { noChromium, withHeadlessPage } from "./test-support/headless-chromium.js";
import { makeKeyPair, secretsYaml } from "./test-support/key-material.js";

const mainJob = fileURLToPath(new URL("..", import.meta.url));
const xdsctlBin = fileURLToPath(new URL("../../../packages/xds-client/dist/bin/xdsctl.js", import.meta.url));
const bundled = readFileSync(join(mainJob, "config/default.yaml"), "utf8");
const token = "admin-token-for-tests-7f3a9c";

/** Runs the main job with `args` after the config; resolves once it prints its start-up line, or exits. */
function startMainJob(args: string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: mainJob,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout?.setEncoding("utf8").on("data", (c: string) => output.push(c));
  child.stderr?.setEncoding("utf8").on("data", (c: string) => output.push(c));
  const started = new Promise<{ xds: string; admin: string } | { exitCode: number | null }>((resolve) => {
    const onData = () => {
      const line = /xDS on (\S+), admin and status page on http:\/\/(\S+)\//.exec(output.join(""));
      if (line) resolve({ xds: line[1] as string, admin: line[2] as string });
    };
    child.stdout?.on("data", onData);
    child.once("exit", (exitCode) => resolve({ exitCode }));
  });
  return { child, output, started };
}

async function until(condition: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the main job's admin flags", () => {
  it("exits 2 with one line naming the path when the token file is empty or unreadable", async () => {
    const dir = mkdtempSync(join(tmpdir(), "admin-token-"));
    writeFileSync(join(dir, "empty"), "\n");
    for (const [path, reason] of [
      [join(dir, "empty"), /the file is empty/],
      [join(dir, "missing"), /cannot read it \(ENOENT\)/],
    ] as const) {
      const job = startMainJob(["--admin-token-file", path, "--xds-address", "127.0.0.1:0"]);
      assert.deepEqual(await job.started, { exitCode: 2 });
      const text = job.output.join("");
      assert.match(text, new RegExp(`--admin-token-file ${path}: `));
      assert.match(text, reason);
      assert.equal(text.trim().split("\n").length, 1, text);
    }
  });

  it("refuses an admin address that is not loopback without a token, exit 2, before listening", async () => {
    const job = startMainJob(["--xds-address", "127.0.0.1:0", "--admin-address", "0.0.0.0:0"]);
    assert.deepEqual(await job.started, { exitCode: 2 });
    assert.match(job.output.join(""), /admin address 0\.0\.0\.0:0 is not a loopback address.*--admin-token-file/);
  });
});

describe("the main job with an admin token and a Secret holding a private key", () => {
  const pair = makeKeyPair("server-a");
  const other = makeKeyPair("server-b");
  const keyBody = pair.key.split("\n").filter((l) => l && !l.startsWith("-----"));
  /** Every form the key takes in the config: PEM lines, the PEM body joined, the base64 of the whole PEM. */
  const material = [...keyBody, keyBody.join(""), Buffer.from(pair.key).toString("base64")];
  const assertNoKey = (where: string, text: string) => {
    for (const piece of material) assert.ok(!text.includes(piece), `${where} shows key material`);
  };
  let dir: string;
  let configPath: string;
  let job: ReturnType<typeof startMainJob>;
  let xds: string;
  let admin: string;
  const auth = { authorization: `Bearer ${token}` };
  const watchers: ChildProcess[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "main-admin-"));
    configPath = join(dir, "xds.yaml");
    writeFileSync(join(dir, "token"), `${token}\n`);
    writeFileSync(configPath, `${bundled}\n${secretsYaml(pair)}`);
    job = startMainJob([
      "--config",
      configPath,
      "--admin-token-file",
      join(dir, "token"),
      "--xds-address",
      "127.0.0.1:0",
      "--admin-address",
      "127.0.0.1:0",
    ]);
    const started = await job.started;
    assert.ok("admin" in started, job.output.join(""));
    ({ xds, admin } = started);
    // A client that holds the Secret, so CSDS and xdsctl status have it to (not) show.
    const watch = spawn(process.execPath, [xdsctlBin, "watch", "secrets", "--server", xds, "--node", "holder"], {
      stdio: "ignore",
    });
    watchers.push(watch);
  });
  after(() => {
    for (const w of watchers) w.kill("SIGTERM");
    job?.child.kill("SIGTERM");
  });

  it("needs the token for the status page, /metrics and /debug/*, never for /healthz and /readyz", async () => {
    assert.equal((await fetch(`http://${admin}/healthz`)).status, 200);
    assert.equal((await fetch(`http://${admin}/readyz`)).status, 200);
    for (const path of ["/", "/metrics", "/debug", "/debug/status", "/debug/config", "/debug/streams"]) {
      assert.equal((await fetch(`http://${admin}${path}`)).status, 401, path);
      assert.equal((await fetch(`http://${admin}${path}`, { headers: auth })).status, 200, path);
    }
  });

  it("shows the key on no admin page, in no log and in neither xdsctl status nor CSDS, across a reload and a rejected one", async () => {
    await until(async () => {
      const s = (await (await fetch(`http://${admin}/debug/streams`, { headers: auth })).json()) as {
        streams: { node: { id: string } | null; types: { ackedVersion: string }[] }[];
      };
      return s.streams.some((st) => st.node?.id === "holder" && st.types.some((t) => t.ackedVersion !== ""));
    });
    const pages = async () => {
      const { pages: debug } = (await (await fetch(`http://${admin}/debug`, { headers: auth })).json()) as {
        pages: string[];
      };
      for (const path of ["/", "/metrics", "/debug", ...debug]) {
        assertNoKey(path, await (await fetch(`http://${admin}${path}`, { headers: auth })).text());
      }
    };
    const xdsctl = async (...args: string[]) => {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [xdsctlBin, ...args, "--server", xds]);
      return stdout + stderr;
    };
    const status = async () => {
      const table = await xdsctl("status");
      assert.match(table, /holder/);
      assertNoKey("xdsctl status", table);
      // The JSON form is CSDS's ClientStatusResponse as the server sent it.
      const csds = await xdsctl("status", "--output", "json");
      assert.match(csds, /Secret/);
      assertNoKey("CSDS (xdsctl status --output json)", csds);
    };
    await pages();
    await status();
    // A good reload: another key, then a rejected one whose key is PEM text in inlineBytes.
    writeFileSync(configPath, `${bundled}\n${secretsYaml(other)}`);
    await until(() => job.output.join("").split("config loaded").length > 2);
    writeFileSync(
      configPath,
      `${bundled}\nsecrets:\n  - ${JSON.stringify({
        name: "server-cert",
        tlsCertificate: { certificateChain: { inlineString: pair.cert }, privateKey: { inlineBytes: pair.key } },
      })}\n`,
    );
    await until(() => /config rejected/.test(job.output.join("")));
    assert.match(job.output.join(""), /private_key\.inline_bytes: is not base64: PEM text must go in inlineString/);
    await pages();
    await status();
    assertNoKey("the main job's logs", job.output.join(""));
  });

  it("shows the status page in headless Chromium once opened with ?token=, which leaves the address bar", {
    skip: noChromium,
  }, async () => {
    await withHeadlessPage(async (page) => {
      const refused = await page.goto(`http://${admin}/`);
      assert.equal(refused?.status(), 401);
      await page.locator('input[name="token"]').fill(token);
      await page.locator("button").click();
      await page.locator('tr.node[data-node="holder"]').first().waitFor({ timeout: 10_000 });
      assert.equal(new URL(page.url()).search, "", "the token stayed in the address bar");
      // A reload cannot send the header either: the stored token reopens the page.
      await page.reload();
      await page.locator('tr.node[data-node="holder"]').first().waitFor({ timeout: 10_000 });
      assertNoKey("the status page as rendered", await page.content());
    });
  });
});
