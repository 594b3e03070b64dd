#!/usr/bin/env node
// Keeps @nebucloud/xds-proto in step with upstream Envoy.
//
//   sync-protos --check
//       Fails when the `envoy` metadata in package.json disagrees with
//       proto-sources.json or with the proto tree the installed source yields.
//   sync-protos [--npm-version V] [--from DIR | --upstream] [--commit NAME=SHA[@DATE]]...
//       Changes the pin (the npm package version, and/or the commits of named
//       sources), regenerates, records the metadata, and prints the old and new
//       commits and the message types added and removed.
//       --from DIR   fill sources from extracted archives in DIR/<source name>/
//       --upstream   download those archives first (needs the network; CI only)
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generate } from "./generate.mjs";
import { download, packageDir, prune, readJson, readSources, repoRoot, stage, treeHash } from "./proto-tree.mjs";

const manifestPath = join(packageDir, "package.json");
const sourcesPath = join(packageDir, "proto-sources.json");

/** The `envoy` field recorded for a set of sources and a staged tree. */
export function metadataFor(sources, protoHash, provider) {
  const by = Object.fromEntries(sources.map((s) => [s.name, s]));
  return {
    "api-commit": by["data-plane-api"].commit,
    "api-date": by["data-plane-api"].date,
    "xds-commit": by.xds.commit,
    "xds-date": by.xds.date,
    provider,
    sources: Object.fromEntries(
      sources.map((s) => [s.name, { repository: s.repository, commit: s.commit, date: s.date }]),
    ),
    protoHash,
  };
}

function messageNames() {
  try {
    const out = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { allFiles } from ${JSON.stringify(join(packageDir, "gen", "all_files.js"))};
         import { createRegistry } from "@bufbuild/protobuf";
         const names = [];
         for (const t of createRegistry(...allFiles)) if (t.kind === "message") names.push(t.typeName);
         process.stdout.write(JSON.stringify(names));`,
      ],
      { cwd: packageDir, stdio: ["ignore", "pipe", "ignore"], maxBuffer: 64 << 20 },
    );
    return new Set(JSON.parse(String(out)));
  } catch {
    return new Set();
  }
}

function check() {
  const recorded = readJson(manifestPath).envoy ?? {};
  const sources = readSources();
  const problems = [];
  if (recorded.provider && recorded.provider !== "npm") {
    problems.push(`recorded provider is ${recorded.provider}; --check verifies the npm provider only`);
  }
  const staged = stage();
  const { files } = prune(staged);
  const expected = metadataFor(sources, treeHash(files), "npm");
  for (const key of Object.keys(expected)) {
    const a = JSON.stringify(recorded[key]);
    const b = JSON.stringify(expected[key]);
    if (a !== b) problems.push(`envoy.${key}: package.json records ${a ?? "nothing"}, the source yields ${b}`);
  }
  if (problems.length > 0) {
    console.error(
      `sync-protos --check: the recorded metadata and the installed proto source disagree:\n  ${problems.join("\n  ")}`,
    );
    console.error("Run `pnpm sync-protos` to regenerate and record them.");
    process.exit(1);
  }
  console.log(
    `sync-protos --check: ok (data-plane-api ${expected["api-commit"].slice(0, 7)} ${expected["api-date"]}, cncf/xds ${expected["xds-commit"].slice(0, 7)}, ${files.length} files, ${staged.providers.join(", ")})`,
  );
}

async function sync(values) {
  const manifest = readJson(manifestPath);
  const declared = readJson(sourcesPath);
  const oldSources = structuredClone(declared.sources);
  for (const spec of values.commit ?? []) {
    const m = /^([\w.-]+)=([0-9a-zA-Z._-]+)(?:@(\d{4}-\d{2}-\d{2}))?$/.exec(spec);
    if (!m) throw new Error(`--commit ${spec}: expected NAME=SHA or NAME=SHA@YYYY-MM-DD`);
    const source = declared.sources.find((s) => s.name === m[1]);
    if (!source) throw new Error(`--commit ${spec}: no source named ${m[1]} in proto-sources.json`);
    source.commit = m[2];
    source.date = m[3] ?? "unknown";
  }
  writeFileSync(sourcesPath, `${JSON.stringify(declared, null, 2)}\n`);
  if (values["npm-version"]) {
    manifest.devDependencies["@grpc/grpc-js-xds"] = values["npm-version"];
    writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    execFileSync("npx", ["-y", "pnpm@10", "install", "--no-frozen-lockfile"], { cwd: repoRoot, stdio: "inherit" });
  }
  const from = values.upstream ? await download(declared.sources) : values.from;
  const before = messageNames();
  const result = generate({ from, writeSkipped: true });
  const after = messageNames();
  const updated = readJson(manifestPath);
  updated.envoy = metadataFor(declared.sources, result.protoHash, result.provider);
  writeFileSync(manifestPath, `${JSON.stringify(updated, null, 2)}\n`);

  console.log("Upstream commits (old -> new):");
  for (const source of declared.sources) {
    const old = oldSources.find((s) => s.name === source.name);
    const mark = old?.commit === source.commit ? " " : "*";
    console.log(
      `${mark} ${source.name.padEnd(22)} ${old?.commit ?? "-"} (${old?.date ?? "-"}) -> ${source.commit} (${source.date})`,
    );
  }
  const added = [...after].filter((n) => !before.has(n)).sort();
  const removed = [...before].filter((n) => !after.has(n)).sort();
  console.log(`Message types: ${after.size} (${added.length} added, ${removed.length} removed)`);
  for (const name of added) console.log(`  + ${name}`);
  for (const name of removed) console.log(`  - ${name}`);
  console.log(`Files: ${result.files.length} generated, ${result.skipped.length} skipped (skipped-protos.json)`);
}

const { values } = parseArgs({
  options: {
    check: { type: "boolean", default: false },
    from: { type: "string" },
    upstream: { type: "boolean", default: false },
    "npm-version": { type: "string" },
    commit: { type: "string", multiple: true },
  },
});
try {
  if (values.check) check();
  else await sync(values);
} catch (error) {
  console.error(`sync-protos: ${error.message}`);
  process.exit(1);
}
