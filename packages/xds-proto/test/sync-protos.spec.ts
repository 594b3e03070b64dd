import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const repoRoot = join(packageDir, "..", "..");
const fixtures = join(packageDir, "test", "fixtures", "upstream");

/** A scratch copy of the workspace parts sync-protos touches, so the real gen/ is left alone. */
function scratchWorkspace(): { root: string; pkg: string } {
  const root = mkdtempSync(join(tmpdir(), "xds-proto-sync-"));
  const pkg = join(root, "packages", "xds-proto");
  mkdirSync(pkg, { recursive: true });
  for (const file of ["buf.yaml", "buf.gen.yaml"]) cpSync(join(repoRoot, file), join(root, file));
  for (const file of ["package.json", "proto-sources.json", "skipped-protos.json"]) {
    cpSync(join(packageDir, file), join(pkg, file));
  }
  cpSync(join(packageDir, "scripts"), join(pkg, "scripts"), { recursive: true });
  symlinkSync(join(packageDir, "node_modules"), join(pkg, "node_modules"));
  return { root, pkg };
}

function syncProtos(pkg: string, args: string[]) {
  return spawnSync(process.execPath, [join(pkg, "scripts", "sync-protos.mjs"), ...args], {
    cwd: pkg,
    encoding: "utf8",
  });
}

describe("sync-protos --from DIR (the upstream-archive provider, offline)", () => {
  let scratch: { root: string; pkg: string };
  let run: ReturnType<typeof syncProtos>;
  before(() => {
    scratch = scratchWorkspace();
    run = syncProtos(scratch.pkg, [
      "--from",
      fixtures,
      "--commit",
      "data-plane-api=1111111111111111111111111111111111111111@2026-01-02",
      "--commit",
      "xds=2222222222222222222222222222222222222222@2026-01-03",
    ]);
  });
  after(() => rmSync(scratch.root, { recursive: true, force: true }));

  it("exits zero", () => {
    assert.equal(run.status, 0, run.stderr + run.stdout);
  });

  it("prints the old and the new commits", () => {
    assert.match(run.stdout, /data-plane-api\s+f8b75d1\w+ \(2024-07-19\) -> 1{40} \(2026-01-02\)/);
    assert.match(run.stdout, /xds\s+\w+ \(\d{4}-\d{2}-\d{2}\) -> 2{40} \(2026-01-03\)/);
  });

  it("prints the message types added and removed", () => {
    assert.match(run.stdout, /Message types: \d+ \(\d+ added, \d+ removed\)/);
    assert.match(run.stdout, /\+ envoy\.service\.metrics\.v3\.StreamMetricsMessage/);
  });

  it("records the new commits in package.json's envoy field and in proto-sources.json", () => {
    const envoy = JSON.parse(readFileSync(join(scratch.pkg, "package.json"), "utf8")).envoy;
    assert.equal(envoy["api-commit"], "1".repeat(40));
    assert.equal(envoy["api-date"], "2026-01-02");
    assert.equal(envoy["xds-commit"], "2".repeat(40));
    assert.equal(envoy.provider, "archive");
    const sources = JSON.parse(readFileSync(join(scratch.pkg, "proto-sources.json"), "utf8")).sources;
    assert.equal(sources.find((s: { name: string }) => s.name === "data-plane-api").commit, "1".repeat(40));
  });

  it("generates the archive's files, including ones the npm package cannot provide", () => {
    assert.ok(existsSync(join(scratch.pkg, "gen", "envoy", "config", "cluster", "v3", "cluster_pb.js")));
    // client_model has no npm provider; from archives, metrics_service compiles.
    assert.ok(existsSync(join(scratch.pkg, "gen", "envoy", "service", "metrics", "v3", "metrics_service_pb.js")));
    assert.ok(existsSync(join(scratch.pkg, "gen", "io", "prometheus", "client", "metrics_pb.js")));
    assert.match(
      readFileSync(join(scratch.pkg, "gen", "envoy", "config", "cluster", "v3", "cluster_pb.d.ts"), "utf8"),
      /fixtureOnlyField/,
    );
  });

  it("contributes only imported files from sources of scope 'imported'", () => {
    assert.ok(!existsSync(join(scratch.pkg, "gen", "opentelemetry")), "nothing imports the OpenTelemetry fixture");
  });
});

describe("sync-protos --check", () => {
  it("passes on the committed metadata and the installed npm source", () => {
    const run = syncProtos(packageDir, ["--check"]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /sync-protos --check: ok/);
  });

  it("fails, naming the field, when the recorded commit disagrees with the declared sources", () => {
    const scratch = scratchWorkspace();
    try {
      const manifestPath = join(scratch.pkg, "package.json");
      const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
      manifest.envoy["api-commit"] = "0".repeat(40);
      writeFileSync(manifestPath, JSON.stringify(manifest));
      const run = syncProtos(scratch.pkg, ["--check"]);
      assert.equal(run.status, 1);
      assert.match(run.stderr, /envoy\.api-commit: package\.json records "0{40}"/);
    } finally {
      rmSync(scratch.root, { recursive: true, force: true });
    }
  });

  it("fails when the installed proto tree no longer hashes to the recorded one", () => {
    const scratch = scratchWorkspace();
    try {
      const manifestPath = join(scratch.pkg, "package.json");
      const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
      manifest.envoy.protoHash = "f".repeat(64);
      writeFileSync(manifestPath, JSON.stringify(manifest));
      const run = syncProtos(scratch.pkg, ["--check"]);
      assert.equal(run.status, 1);
      assert.match(run.stderr, /envoy\.protoHash/);
    } finally {
      rmSync(scratch.root, { recursive: true, force: true });
    }
  });
});
