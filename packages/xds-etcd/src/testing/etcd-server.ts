import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** Where an etcd binary is: `$ETCD_BIN`, else `etcd` on the PATH (Debian's etcd-server installs /usr/bin/etcd). */
export function findEtcd(): string | undefined {
  const fromEnv = process.env["ETCD_BIN"];
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    const candidate = join(dir, "etcd");
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** A free loopback port (closed again before it is returned). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A single-member etcd on loopback, with its own data directory. */
export interface EtcdServer {
  /** The client URL, `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** `127.0.0.1:<port>`, for `etcd://` store URLs. */
  readonly hostPort: string;
  /** Stops it (SIGTERM) and waits; the data directory stays, so {@link start} resumes where it was. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data. */
  start(): Promise<void>;
  /** Stops it and deletes its data directory. */
  destroy(): Promise<void>;
}

/** Options of {@link startEtcd}. */
export interface StartEtcdOptions {
  /** The binary. Default {@link findEtcd}. */
  readonly bin?: string;
  /** How long to wait for it to answer `/health`. Default 20 s. */
  readonly readyTimeoutMs?: number;
}

/**
 * Starts a real etcd for tests: loopback ports only, a temporary data
 * directory, and a bounded wait until it is healthy. Throws when no binary is
 * found; tests call {@link findEtcd} first to skip with a reason instead.
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const bin = options.bin ?? findEtcd();
  if (!bin) throw new Error("no etcd binary: install Debian's etcd-server or set ETCD_BIN");
  const dataDir = mkdtempSync(join(tmpdir(), "xds-etcd-"));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | undefined;
  let output = "";
  const start = async () => {
    output = "";
    child = spawn(
      bin,
      [
        "--name=test",
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${endpoint}`,
        `--advertise-client-urls=${endpoint}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=test=${peer}`,
        "--log-level=error",
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === "x64" ? "" : process.arch },
      },
    );
    child.stdout?.on("data", (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
    });
    child.stderr?.on("data", (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
    });
    const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}:\n${output}`);
      try {
        const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
        if (response.ok && ((await response.json()) as { health?: string }).health === "true") return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill("SIGKILL");
    throw new Error(`etcd did not become healthy:\n${output}`);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => running.kill("SIGKILL"), 5000);
      running.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      running.kill("SIGTERM");
    });
  };
  await start();
  return {
    endpoint,
    hostPort: `127.0.0.1:${clientPort}`,
    stop,
    start,
    destroy: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
