// Stages the .proto tree that buf compiles: copies every declared source from
// its provider (an npm package, or an extracted upstream archive), normalises
// it, and drops exactly the files that cannot compile, with the reason for each.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = join(packageDir, "..", "..");
export const stageDir = join(packageDir, ".proto");
const require = createRequire(join(packageDir, "package.json"));

export function readJson(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

export function readSources() {
  return readJson(join(packageDir, "proto-sources.json")).sources;
}

/** The directory and exact version of an npm package that provides protos. */
export function npmPackage(name) {
  const manifestPath = require.resolve(`${name}/package.json`);
  const pinned = readJson(join(packageDir, "package.json")).devDependencies?.[name];
  const installed = readJson(manifestPath).version;
  return { dir: dirname(manifestPath), pinned, installed };
}

function listProtos(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of readdirSync(d)) {
      const full = join(d, entry);
      if (statSync(full).isDirectory()) walk(full);
      else if (entry.endsWith(".proto")) out.push(full);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

function copyTree(from, to) {
  let count = 0;
  for (const file of listProtos(from)) {
    const target = join(to, relative(from, file));
    mkdirSync(dirname(target), { recursive: true });
    // The npm copies use CRLF; left alone, carriage returns end up in generated comments.
    writeFileSync(target, readFileSync(file, "utf8").replace(/\r\n?/g, "\n"));
    count++;
  }
  return count;
}

/**
 * protoc-gen-validate copies older than upstream lack StringRules.ignore_empty,
 * which four Envoy files use. Add the field exactly as upstream defines it rather
 * than delete the annotations: resource validation reads them.
 */
function patchValidateProto() {
  const path = join(stageDir, "validate", "validate.proto");
  if (!existsSync(path)) return [];
  const text = readFileSync(path, "utf8");
  const start = text.indexOf("message StringRules {");
  if (start < 0) throw new Error(`${path}: no StringRules message; the protoc-gen-validate layout changed`);
  const end = text.indexOf("\n}\n", start);
  if (text.slice(start, end).includes("ignore_empty")) return [];
  const field =
    "\n\n    // IgnoreEmpty specifies that the validation rules of this field should be\n" +
    "    // evaluated only if the field is not empty\n    optional bool ignore_empty = 26;";
  writeFileSync(path, text.slice(0, end) + field + text.slice(end));
  return ["validate/validate.proto: added StringRules.ignore_empty = 26 (missing from this copy)"];
}

const importPattern = /^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm;

function importsOf(path) {
  return [...readFileSync(join(stageDir, path), "utf8").matchAll(importPattern)].map((m) => m[1]);
}

const isWellKnown = (path) => path.startsWith("google/protobuf/");

/**
 * Copies every source from the chosen provider into `.proto/`.
 * @param {{ from?: string }} options `from`: a directory holding one extracted
 *   archive per source, named after the source (upstream provider); default npm.
 */
export function stage(options = {}) {
  rmSync(stageDir, { recursive: true, force: true });
  mkdirSync(stageDir, { recursive: true });
  const sources = readSources();
  const owner = new Map();
  const providers = [];
  for (const source of sources) {
    const entries = options.from ? source.archive : source.npm;
    for (const entry of entries) {
      let base;
      if (options.from) {
        base = join(options.from, source.name);
        if (!existsSync(base))
          throw new Error(`--from ${options.from}: no directory ${source.name}/ for ${source.repository}`);
      } else {
        const pkg = npmPackage(entry.package);
        if (pkg.pinned !== pkg.installed) {
          throw new Error(
            `${entry.package}: package.json pins ${pkg.pinned ?? "nothing"}, ${pkg.installed} is installed; run pnpm install`,
          );
        }
        base = pkg.dir;
        providers.push(`${entry.package}@${pkg.installed}`);
      }
      const from = join(base, entry.from);
      if (!existsSync(from)) throw new Error(`${source.name}: ${from} does not exist`);
      copyTree(from, join(stageDir, entry.to));
    }
    for (const root of source.roots) owner.set(root, source);
  }
  const patches = patchValidateProto();
  const all = listProtos(stageDir).map((f) => relative(stageDir, f).split(sep).join("/"));
  const sourceOf = (file) => {
    for (const [root, source] of owner) if (file.startsWith(`${root}/`)) return source;
    return undefined;
  };
  return { files: all, sourceOf, patches, providers: [...new Set(providers)] };
}

/**
 * Removes the files that cannot compile: those that import (directly or not) a
 * file no source provides, then whatever `buf build` still rejects. Sources of
 * scope "imported" keep only what the rest imports.
 * @returns {{ files: string[], skipped: { file: string, reason: string }[] }}
 */
export function prune({ files, sourceOf }) {
  const present = new Set(files);
  const imports = new Map(files.map((f) => [f, importsOf(f)]));
  const skipped = new Map();
  // A file is unresolvable when an import is missing or itself unresolvable.
  let changed = true;
  while (changed) {
    changed = false;
    for (const file of present) {
      if (skipped.has(file)) continue;
      for (const dep of imports.get(file)) {
        if (isWellKnown(dep)) continue;
        if (!present.has(dep)) {
          skipped.set(file, `imports ${dep}, which no declared source provides`);
        } else if (skipped.has(dep)) {
          skipped.set(file, `imports ${dep}, which is skipped`);
        } else continue;
        changed = true;
        break;
      }
    }
  }
  for (const file of skipped.keys()) present.delete(file);
  // Keep only what the primary trees reach from sources that are there to satisfy imports.
  const reached = new Set();
  const visit = (file) => {
    if (reached.has(file) || !present.has(file)) return;
    reached.add(file);
    for (const dep of imports.get(file)) visit(dep);
  };
  for (const file of present) if (sourceOf(file)?.scope !== "imported") visit(file);
  for (const file of [...present]) {
    if (!reached.has(file)) {
      present.delete(file);
      rmSync(join(stageDir, file));
    }
  }
  for (const file of skipped.keys()) rmSync(join(stageDir, file), { force: true });
  // Whatever buf still rejects is dropped too, with its first error as the reason.
  for (let round = 0; round < 10; round++) {
    const errors = bufBuildErrors();
    if (errors.size === 0) break;
    for (const [file, reason] of errors) {
      skipped.set(file, reason);
      present.delete(file);
      rmSync(join(stageDir, file), { force: true });
    }
  }
  return {
    files: [...present].sort(),
    skipped: [...skipped].map(([file, reason]) => ({ file, reason })).sort((a, b) => a.file.localeCompare(b.file)),
  };
}

export function bufBin() {
  return join(dirname(require.resolve("@bufbuild/buf/package.json")), "bin", "buf");
}

function bufBuildErrors() {
  try {
    execFileSync(bufBin(), ["build", stageDir, "-o", "/dev/null", "--error-format", "text"], {
      cwd: stageDir,
      stdio: ["ignore", "ignore", "pipe"],
      maxBuffer: 64 << 20,
    });
    return new Map();
  } catch (error) {
    const errors = new Map();
    for (const line of String(error.stderr).split("\n")) {
      const m = /^([^:\s]+\.proto):\d+:\d+:(.*)$/.exec(line.trim());
      if (m && !errors.has(m[1])) errors.set(m[1], `buf: ${m[2].trim()}`);
    }
    if (errors.size === 0) throw new Error(`buf build failed:\n${error.stderr}`);
    return errors;
  }
}

/** SHA-256 over every staged file's path and bytes: what `--check` compares. */
export function treeHash(files) {
  const hash = createHash("sha256");
  for (const file of [...files].sort()) {
    hash
      .update(file)
      .update("\0")
      .update(readFileSync(join(stageDir, file)))
      .update("\0");
  }
  return hash.digest("hex");
}

/**
 * Downloads and extracts the archive of every source at its declared commit
 * into a temporary directory laid out for `stage({ from })`. Needs the network.
 */
export async function download(sources) {
  const dir = mkdtempSync(join(tmpdir(), "xds-protos-"));
  for (const source of sources) {
    if (source.commit === "unknown")
      throw new Error(`${source.name}: no commit declared; pass --commit ${source.name}=SHA`);
    const url = `https://codeload.github.com/${source.repository}/tar.gz/${source.commit}`;
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const archive = join(dir, `${source.name}.tar.gz`);
    writeFileSync(archive, Buffer.from(await response.arrayBuffer()));
    mkdirSync(join(dir, source.name));
    execFileSync("tar", ["-xzf", archive, "-C", join(dir, source.name), "--strip-components=1"]);
  }
  return dir;
}
