#!/usr/bin/env node
// `pnpm check:packages`: packs every package under packages/ exactly as
// `pnpm publish` would (workspace:* rewritten to versions, `files` applied),
// then checks each tarball with
// - `attw` (@arethetypeswrong/cli): every entry point resolves to JavaScript and
//   to matching type declarations under Node16/NodeNext and bundler resolution;
// - `publint --strict`: the package.json fields (exports, files, types
//   conditions, engines...) are what npm, Node.js and bundlers expect.
// It expects a build (the root script runs `turbo run build` first). A package
// whose `exports` names nothing but `./package.json` exports nothing yet and is
// reported as skipped. Exits 1 when any check fails.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const bin = (name) => join(root, "node_modules", ".bin", name);

// The packages are ESM only (`"type": "module"`, no `require` condition) and
// need Node.js 20.11+, so attw's `esm-only` profile applies: it ignores the
// node10 and CommonJS-from-node16 resolutions, which cannot load them by design.
const attwProfile = "esm-only";

// attw does not expand subpath patterns: xds-proto's `./*` (one module per
// .proto, ~500 of them) is shown as "(wildcard)". Check `.` plus generated
// modules a consumer imports most, so that the pattern is proved to resolve
// to both the .js and the .d.ts of a real module.
const extraEntrypoints = {
  "@nebucloud/xds-proto": [
    "./envoy/config/cluster/v3/cluster_pb",
    "./envoy/service/discovery/v3/discovery_pb",
    "./envoy/service/discovery/v3/ads_pb",
  ],
};

/** pnpm itself: the one running this script, else through npx. */
function pnpm(args, options) {
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: pnpm sets it for the script it runs; no turbo task reads it
  const execpath = process.env.npm_execpath;
  if (execpath && /pnpm/.test(execpath)) return execFileSync(process.execPath, [execpath, ...args], options);
  return execFileSync("npx", ["-y", "pnpm@10", ...args], options);
}

function exportsSomething(manifest) {
  const exported = manifest.exports;
  if (exported === undefined) return manifest.main !== undefined;
  if (typeof exported === "string") return true;
  return Object.keys(exported).some((key) => key !== "./package.json");
}

const work = mkdtempSync(join(tmpdir(), "check-packages-"));
const results = [];
try {
  for (const dir of readdirSync(join(root, "packages")).sort()) {
    const packageDir = join(root, "packages", dir);
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
    } catch {
      continue;
    }
    if (manifest.private) continue;
    if (!exportsSomething(manifest)) {
      results.push({ name: manifest.name, status: "skipped", reason: "exports nothing yet" });
      continue;
    }
    const out = mkdtempSync(join(work, `${dir}-`));
    const packed = JSON.parse(
      pnpm(["pack", "--json", "--pack-destination", out], { cwd: packageDir, encoding: "utf8" }),
    );
    const tarball = packed.filename;
    const size = statSync(tarball).size;
    console.log(`\n## ${manifest.name}: ${tarball.split("/").pop()}, ${(size / 1024).toFixed(1)} KiB packed`);

    const entrypoints = extraEntrypoints[manifest.name] ?? [];
    const attwArgs = ["--profile", attwProfile, "--format", "table-flipped", "--no-color"];
    if (entrypoints.length > 0) attwArgs.push("--include-entrypoints", ...entrypoints, "--");
    const attw = spawnSync(bin("attw"), [...attwArgs, tarball], { stdio: "inherit" });

    const publint = spawnSync(bin("publint"), ["run", tarball, "--strict"], { stdio: "inherit" });
    const ok = attw.status === 0 && publint.status === 0;
    results.push({
      name: manifest.name,
      status: ok ? "ok" : "failed",
      reason: ok ? `${(size / 1024).toFixed(1)} KiB` : `attw exit ${attw.status}, publint exit ${publint.status}`,
    });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

console.log("\ncheck:packages (attw --profile esm-only, publint --strict)");
for (const r of results) console.log(`  ${r.status.padEnd(7)} ${r.name} (${r.reason})`);
if (results.some((r) => r.status === "failed")) process.exit(1);
