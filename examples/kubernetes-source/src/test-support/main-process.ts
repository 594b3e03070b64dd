import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../main.ts", import.meta.url));

/** Rejects with `what` when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The program, started as an operator starts it, on loopback ports the OS picks. */
export interface MainProcess {
  readonly child: ChildProcess;
  /** Where xDS clients connect. */
  readonly xds: string;
  /** The admin server. */
  readonly admin: string;
  /** Everything it printed so far. */
  output(): string;
}

/** Starts `main.ts` with `args`; resolves once it printed its start-up line. */
export async function startMain(args: readonly string[]): Promise<MainProcess> {
  let output = "";
  const child = spawn(
    process.execPath,
    ["--import", "tsx", main, ...args, "--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const started = new Promise<string>((resolve) => {
    lines.on("line", (line) => {
      output += `${line}\n`;
      if (line.startsWith("xds-kubernetes-source:")) resolve(line);
    });
  });
  const line = await within(started, 20_000, `start-up line (output: ${output})`);
  const match = /xDS on (\S+), admin on http:\/\/(\S+)\/$/.exec(line);
  assert.ok(match, line);
  return { child, xds: match[1] as string, admin: match[2] as string, output: () => output };
}
