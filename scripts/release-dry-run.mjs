#!/usr/bin/env node
// `pnpm release:dry`: what a release would publish, without publishing or
// changing anything in the work tree.
//
// The release workflow runs changesets: while changesets are pending it opens a
// "Version packages" pull request (`changeset version`: bumps versions, writes
// each package's CHANGELOG.md, deletes the changesets); once that is merged,
// `pnpm release` (`changeset publish`) publishes every package whose version
// is not on the registry yet. This script
// 1. asks `changeset status` for the versions the pending changesets lead to;
// 2. packs each public package with pnpm (as `pnpm publish` packs: `files`
//    applied, workspace:* rewritten), sets the new versions in a copy of the
//    packed package.json, and lets `npm pack --dry-run` name the tarball that
//    would be published, with its size and file count;
// 3. says whether that version is already on the npm registry (then
//    `changeset publish` would skip it).
// Run `pnpm build` first: the tarballs hold dist/.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "release-dry-run-"));

/** pnpm itself: the one running this script, else through npx. */
function pnpm(args, options) {
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: pnpm sets it for the script it runs; no turbo task reads it
  const execpath = process.env.npm_execpath;
  if (execpath && /pnpm/.test(execpath)) return execFileSync(process.execPath, [execpath, ...args], options);
  return execFileSync("npx", ["-y", "pnpm@10", ...args], options);
}

/** Whether name@version is on the registry: true, false, or undefined when the registry cannot say. */
function published(name, version) {
  const result = spawnSync("npm", ["view", `${name}@${version}`, "version", "--json"], {
    encoding: "utf8",
    timeout: 15_000,
  });
  if (result.status === 0) return result.stdout.trim() !== "";
  if (/E404|404 Not Found/.test(result.stderr)) return false;
  return undefined;
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

try {
  const statusFile = join(work, "status.json");
  execFileSync(join(root, "node_modules", ".bin", "changeset"), ["status", "--output", statusFile], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const status = JSON.parse(readFileSync(statusFile, "utf8"));
  const bumps = new Map(status.releases.filter((r) => r.type !== "none").map((r) => [r.name, r]));

  console.log(`Pending changesets: ${status.changesets.length}`);
  for (const changeset of status.changesets) {
    const names = changeset.releases.map((r) => `${r.name} (${r.type})`).join(", ");
    console.log(`  .changeset/${changeset.id}.md: ${names}`);
  }

  const packages = [];
  for (const dir of readdirSync(join(root, "packages")).sort()) {
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8"));
    } catch {
      continue;
    }
    if (!manifest.private) packages.push({ dir, manifest });
  }
  const newVersion = (name, current) => bumps.get(name)?.newVersion ?? current;

  console.log(
    bumps.size > 0
      ? "\nThe release workflow would open a 'Version packages' pull request; merging it publishes:"
      : "\nNo pending changesets: `changeset publish` would publish the current versions not yet on the registry:",
  );
  const rows = [];
  for (const { dir, manifest } of packages) {
    const out = mkdtempSync(join(work, `${dir}-`));
    const packed = JSON.parse(
      pnpm(["pack", "--json", "--pack-destination", out], { cwd: join(root, "packages", dir), encoding: "utf8" }),
    );
    execFileSync("tar", ["-xzf", packed.filename, "-C", out]);
    const extracted = join(out, "package");
    const packedManifest = JSON.parse(readFileSync(join(extracted, "package.json"), "utf8"));
    const version = newVersion(manifest.name, manifest.version);
    packedManifest.version = version;
    for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
      for (const name of Object.keys(packedManifest[field] ?? {})) {
        const sibling = packages.find((p) => p.manifest.name === name);
        if (sibling) packedManifest[field][name] = newVersion(name, sibling.manifest.version);
      }
    }
    writeFileSync(join(extracted, "package.json"), `${JSON.stringify(packedManifest, null, 2)}\n`);
    const [dry] = JSON.parse(
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: extracted,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }),
    );
    const onRegistry = published(manifest.name, version);
    rows.push({
      name: `${manifest.name}@${version}`,
      from: manifest.version,
      tarball: dry.filename,
      size: kib(dry.size),
      unpacked: kib(dry.unpackedSize),
      files: dry.entryCount,
      note: onRegistry === true ? "already published: skipped" : onRegistry === false ? "new" : "registry unreachable",
      deps: Object.entries(packedManifest.dependencies ?? {})
        .filter(([name]) => name.startsWith("@nebucloud/"))
        .map(([name, range]) => `${name}@${range}`),
    });
  }
  for (const row of rows) {
    console.log(
      `  ${row.name.padEnd(30)} (from ${row.from})  ${row.tarball.padEnd(34)} ${row.size.padStart(11)} packed, ${row.unpacked.padStart(11)} unpacked, ${String(row.files).padStart(5)} files  [${row.note}]`,
    );
    if (row.deps.length > 0) console.log(`      depends on ${row.deps.join(", ")}`);
  }
  console.log("\nNothing was published, and nothing in the work tree changed (dry run).");
} finally {
  rmSync(work, { recursive: true, force: true });
}
