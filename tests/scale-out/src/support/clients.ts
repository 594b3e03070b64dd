/** Failover clients run in a child process ({@link ./client-process.ts}), seen from the test. */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ClientReport } from "./client-process.js";

export type { ClientReport };

const script = join(dirname(fileURLToPath(import.meta.url)), "client-process.ts");

export interface ClientProcess {
  readonly pid: number;
  /** The state of every client in it; rejects after `timeoutMs` (a paused process does not answer). */
  report(timeoutMs?: number): Promise<ClientReport[]>;
  /** SIGSTOP / SIGCONT: the process stops reading, writing and answering PINGs, as if the network were gone. */
  pause(): void;
  resume(): void;
  /** Stops the clients and waits for the exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** Starts `count` failover clients, nodes `node-<first>`…, subscribed to `clusters` endpoints, spread over `replicas`. */
export function startClientProcess(
  replicas: readonly string[],
  count: number,
  first: number,
  clusters: number,
): ClientProcess {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", script, replicas.join(","), String(count), String(first), String(clusters)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => waiting.shift()?.(line));
  const signal = (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  return {
    pid: child.pid ?? 0,
    report: (timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`client process ${child.pid} did not report in ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiting.push((line) => {
          clearTimeout(timer);
          resolve(JSON.parse(line));
        });
        child.stdin?.write("r\n");
      }),
    pause: () => signal("SIGSTOP"),
    resume: () => signal("SIGCONT"),
    stop: async () => {
      signal("SIGCONT");
      child.stdin?.end();
      const timer = setTimeout(() => signal("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
