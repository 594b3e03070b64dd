/**
 * The file-source main job as separate processes, started the way an operator
 * starts them (`main.ts` with flags), each on loopback ports chosen by the OS.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const fileSourceDir = join(dirname(fileURLToPath(import.meta.url)), "../../../../examples/file-source");

/** One running process of the main job. */
export interface ControlPlane {
  readonly name: string;
  /** Where xDS clients connect, `host:port`. */
  readonly xds: string;
  /** The admin server, `host:port`. */
  readonly admin: string;
  /** What it printed, for failure messages. */
  output(): string;
  /** SIGKILL: no resignation, no goodbye, as a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** Sends `signal` without waiting. */
  signal(signal: NodeJS.Signals): void;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** The exit code, null while running or when a signal ended it. */
  exitCode(): number | null;
}

/** Starts `main.ts` with `args`; resolves once it printed where it serves. */
export async function startControlPlane(name: string, args: readonly string[]): Promise<ControlPlane> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "src/main.ts", "--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", ...args],
    { cwd: fileSourceDir, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const addresses = await new Promise<{ xds: string; admin: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /xDS on (\S+), admin and status page on http:\/\/([^/\s]+)\//.exec(output);
      if (match?.[1] && match[2]) {
        clearTimeout(timer);
        resolve({ xds: match[1], admin: match[2] });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${output}`));
    });
  });
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    name,
    ...addresses,
    output: () => output,
    kill: () => signal("SIGKILL"),
    stop: () => signal("SIGTERM"),
    signal: (sig) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
    exited,
    exitCode: () => child.exitCode,
  };
}

/** GET on a control plane's admin server: status and body. */
export async function admin(plane: ControlPlane, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://${plane.admin}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

/** The store status a control plane reports at `/debug/store`. */
export async function storeStatus(plane: ControlPlane): Promise<{
  writer: boolean;
  replica: { connected: boolean; revision: string; writer: string };
}> {
  return JSON.parse((await admin(plane, "/debug/store")).body);
}
