import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, parse } from "node:path";
import { cleanEnv, run } from "./run.js";

const require = createRequire(import.meta.url);
/** This package's own TypeScript compiler, used on the consumer's code. */
const tsc = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");

/** Options of {@link ConsumerProject.create}. */
export interface ConsumerOptions {
  /** Tarballs to install (every @nebucloud package the program needs, directly or not). */
  readonly tarballs: readonly string[];
  /** Registry packages the program imports itself, as `name@range`. */
  readonly dependencies: readonly string[];
  /** The program, a TypeScript file (ESM). */
  readonly program: string;
}

/**
 * An empty npm project in the OS temp directory, far from this workspace, so
 * that nothing resolves through the workspace's node_modules. Its program is
 * type-checked and compiled with `tsc` (strict, NodeNext) against what npm
 * installed, then run with plain `node`.
 */
export class ConsumerProject {
  private constructor(readonly dir: string) {}

  /** A fresh project with its tarballs and dependencies installed. */
  static async create(label: string, options: ConsumerOptions): Promise<ConsumerProject> {
    const dir = mkdtempSync(join(tmpdir(), `xds-consumer-${label}-`));
    for (let up = dirname(dir); ; up = dirname(up)) {
      if (existsSync(join(up, "node_modules"))) {
        throw new Error(`${up}/node_modules exists: a consumer in ${dir} could resolve packages from it`);
      }
      if (up === parse(up).root) break;
    }
    const project = new ConsumerProject(dir);
    writeFileSync(
      join(dir, "package.json"),
      `${JSON.stringify({ name: `consumer-${label}`, version: "0.0.0", private: true, type: "module" }, null, 2)}\n`,
    );
    // skipLibCheck stays off, so that the published .d.ts files are checked as a
    // consumer's compiler sees them. lib DOM: @connectrpc/connect's declarations
    // name fetch's HeadersInit, which only lib.dom declares.
    writeFileSync(
      join(dir, "tsconfig.json"),
      `${JSON.stringify(
        {
          compilerOptions: {
            target: "ES2022",
            lib: ["ES2023", "DOM"],
            module: "NodeNext",
            moduleResolution: "NodeNext",
            strict: true,
            types: ["node"],
            outDir: "out",
          },
          files: ["program.ts"],
        },
        null,
        2,
      )}\n`,
    );
    copyFileSync(options.program, join(dir, "program.ts"));
    await run(
      "npm",
      [
        "install",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        "--loglevel=error",
        ...options.tarballs,
        ...options.dependencies,
        // A TypeScript consumer on Node.js has Node's types; nothing else comes from here.
        "@types/node@20",
      ],
      { cwd: dir, timeoutMs: 4 * 60_000, env: cleanEnv() },
    );
    return project;
  }

  /** Every package npm installed, by its path in node_modules, with its version and where it came from. */
  installed(): Map<string, { readonly version: string; readonly resolved: string }> {
    const lock = JSON.parse(readFileSync(join(this.dir, "package-lock.json"), "utf8")) as {
      packages: Record<string, { version?: string; resolved?: string }>;
    };
    const installed = new Map<string, { version: string; resolved: string }>();
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path === "") continue;
      installed.set(path, { version: entry.version ?? "", resolved: entry.resolved ?? "" });
    }
    return installed;
  }

  /** Type-checks and compiles the program, runs it, and resolves with what it printed. */
  async runProgram(timeoutMs = 60_000): Promise<string> {
    await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: this.dir, timeoutMs: 120_000, env: cleanEnv() });
    const { stdout } = await run(process.execPath, ["out/program.js"], { cwd: this.dir, timeoutMs, env: cleanEnv() });
    return stdout;
  }

  /** Deletes the project. */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
