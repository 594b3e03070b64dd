import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pnpmCommand, run } from "./run.js";

/** The workspace root. */
export const workspaceRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** A package under packages/ as published. */
export interface PackedPackage {
  readonly name: string;
  readonly version: string;
  /** The tarball `pnpm pack` wrote. */
  readonly tarball: string;
  /** Its size in bytes. */
  readonly bytes: number;
  /** How many files it holds. */
  readonly files: number;
  /** The `dependencies` of its package.json. */
  readonly dependencies: Readonly<Record<string, string>>;
}

interface Manifest {
  readonly name: string;
  readonly private?: boolean;
  readonly exports?: string | Record<string, unknown>;
  readonly dependencies?: Record<string, string>;
}

/** Whether a manifest exports anything but `./package.json`. */
function exportsSomething(manifest: Manifest): boolean {
  if (manifest.exports === undefined) return false;
  if (typeof manifest.exports === "string") return true;
  return Object.keys(manifest.exports).some((key) => key !== "./package.json");
}

/** The publishable packages under packages/, and those left out with the reason. */
export function publishablePackages(): { dirs: string[]; leftOut: string[] } {
  const dirs: string[] = [];
  const leftOut: string[] = [];
  for (const dir of readdirSync(join(workspaceRoot, "packages")).sort()) {
    let manifest: Manifest;
    try {
      manifest = JSON.parse(readFileSync(join(workspaceRoot, "packages", dir, "package.json"), "utf8")) as Manifest;
    } catch {
      continue;
    }
    if (manifest.private) continue;
    if (exportsSomething(manifest)) dirs.push(dir);
    else leftOut.push(`${manifest.name}: its package.json exports nothing yet`);
  }
  return { dirs, leftOut };
}

/** Builds every package under packages/ with turbo (cached builds are free). */
export async function buildPackages(): Promise<void> {
  const [command, prefix] = pnpmCommand();
  await run(
    command,
    [...prefix, "exec", "turbo", "run", "build", "--filter=./packages/*", "--output-logs=errors-only"],
    {
      cwd: workspaceRoot,
      timeoutMs: 8 * 60_000,
    },
  );
}

/** `pnpm pack`s the package in packages/`dir` into `destination`. */
export async function packPackage(dir: string, destination: string): Promise<PackedPackage> {
  const [command, prefix] = pnpmCommand();
  const { stdout } = await run(command, [...prefix, "pack", "--json", "--pack-destination", destination], {
    cwd: join(workspaceRoot, "packages", dir),
    timeoutMs: 120_000,
  });
  const packed = JSON.parse(stdout.slice(stdout.indexOf("{"))) as {
    name: string;
    version: string;
    filename: string;
    files: unknown[];
  };
  const manifest = JSON.parse(readFileSync(join(workspaceRoot, "packages", dir, "package.json"), "utf8")) as Manifest;
  return {
    name: packed.name,
    version: packed.version,
    tarball: packed.filename,
    bytes: statSync(packed.filename).size,
    files: packed.files.length,
    dependencies: manifest.dependencies ?? {},
  };
}
