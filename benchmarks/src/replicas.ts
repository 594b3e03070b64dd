/**
 * Scenario 5: replicas sharing state through a real etcd. A writer (this
 * process, an `EtcdSnapshotStore` candidate) publishes; three replicas (the
 * file-source main job with `--store … --replica`, separate processes) serve;
 * each has its own load generator of ADS clients. Measured: from `publish` to
 * the last client on the last replica ACKing, for the seed and for one
 * endpoint changing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { EtcdSnapshotStore } from "@nebucloud/xds-etcd";
import { findEtcd, startEtcd } from "@nebucloud/xds-etcd/testing";
import type { BenchConfig } from "./config.js";
import { adsTypes, buildState, countsOf, type StateSpec } from "./fixture.js";
import { nowMs } from "./ipc.js";
import type { OpenArgs, WorkerResults } from "./load-worker.js";
import { procStats } from "./process-stats.js";
import { WorkerPool } from "./run.js";
import type { RunRecord } from "./scenarios.js";

type Log = (line: string) => void;

const fileSource = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../examples/file-source");
/** The node key the file-source main job serves every node outside a node group from. */
const sharedKey = "(shared)";
const REPLICAS = 3;

/** One timed publish, as reported. */
export interface ReplicaWindow {
  /** `publish` to the state committed in etcd. */
  readonly commitMs: number;
  /** `publish` to each client's ACK of the published versions: first, median, last. */
  readonly firstMs: number | undefined;
  readonly medianMs: number | undefined;
  readonly lastMs: number | undefined;
  /** Per replica, `publish` to its last client's ACK. */
  readonly lastByReplicaMs: (number | undefined)[];
  readonly completed: number;
  /** CPU seconds of the three replica processes together over the window. */
  readonly replicasCpuSeconds: number;
}

interface Replica {
  readonly child: ChildProcess;
  readonly xds: string;
}

async function startReplica(store: string, name: string): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/main.ts",
      ...["--store", store, "--replica", "--identity", name],
      ...["--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0"],
    ],
    { cwd: fileSource, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const xds = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${output}`)), 60_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /xDS on (\S+),/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}: ${output}`)));
  });
  return { child, xds };
}

const cpuOf = (replicas: readonly Replica[]) =>
  replicas.reduce((sum, r) => sum + (procStats(r.child.pid ?? 0)?.cpuSeconds ?? 0), 0);

/** The SotW versions a client subscribed to everything ACKs once `spec` is served. */
function versionsOf(snapshot: Snapshot): Record<string, string> {
  return Object.fromEntries(adsTypes.map((t) => [t, snapshot.version(t)]));
}

export async function replicasScenario(config: BenchConfig, log: Log): Promise<RunRecord> {
  const started = Date.now();
  const clientsPerReplica = config.replicaClients;
  const shape = config.seedShape;
  const base = {
    scenario: 5 as const,
    kind: "replicas",
    impl: "ours" as const,
    mode: "sotw" as const,
    clients: clientsPerReplica * REPLICAS,
    shape,
  };
  if (!findEtcd()) {
    log("scenario 5: skipped: no etcd binary (install Debian's etcd-server or set ETCD_BIN)");
    return { ...base, error: "skipped: no etcd binary", wallMs: Date.now() - started };
  }
  const etcd = await startEtcd();
  const url = `etcd://${etcd.hostPort}/bench`;
  const writerCache = new SnapshotCache();
  const writer = EtcdSnapshotStore.open({ url, target: writerCache, identity: "bench-writer" });
  const replicas: Replica[] = [];
  const pool = new WorkerPool(REPLICAS);
  try {
    replicas.push(
      ...(await Promise.all(Array.from({ length: REPLICAS }, (_, i) => startReplica(url, `replica-${i}`)))),
    );
    for (let i = 0; i < REPLICAS; i++) {
      const args: OpenArgs = {
        address: replicas[i]?.xds ?? "",
        mode: "sotw",
        first: i * clientsPerReplica,
        count: clientsPerReplica,
        streamsPerSession: config.streamsPerSession,
        streamWindow: config.streamWindow,
        connectionWindow: config.connectionWindow,
      };
      await pool.get(i).call("open", args);
    }
    const window = async (spec: StateSpec): Promise<ReplicaWindow> => {
      const snapshot = Snapshot.fromResources(buildState(spec));
      for (let i = 0; i < REPLICAS; i++) {
        await pool.get(i).call("target", { target: { sotw: versionsOf(snapshot) } });
      }
      const cpuBefore = cpuOf(replicas);
      const t0 = nowMs();
      writer.publish({ snapshots: new Map([[sharedKey, snapshot]]), meta: { groups: [] } });
      const committed = writer.whenPublished().then(() => nowMs() - t0);
      const deadline = t0 + config.budgetMs;
      for (;;) {
        const progress = await Promise.all(
          replicas.map((_, i) => pool.get(i).call<{ done: number; total: number }>("progress")),
        );
        if (progress.every((p) => p.done >= p.total) || nowMs() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const results = await Promise.all(replicas.map((_, i) => pool.get(i).call<WorkerResults>("results")));
      const perReplica = results.map((r) => r.completeAt.filter((t) => !Number.isNaN(t)).map((t) => t - t0));
      const all = perReplica.flat().sort((a, b) => a - b);
      const total = clientsPerReplica * REPLICAS;
      return {
        commitMs: await committed,
        firstMs: all[0],
        medianMs: all[Math.floor((all.length - 1) / 2)],
        lastMs: all.length === total ? all[all.length - 1] : undefined,
        lastByReplicaMs: perReplica.map((list) => (list.length === clientsPerReplica ? Math.max(...list) : undefined)),
        completed: all.length,
        replicasCpuSeconds: cpuOf(replicas) - cpuBefore,
      };
    };
    const seed = await window({ ...shape, step: 0 });
    log(
      `scenario 5: seed to ${REPLICAS} replicas × ${clientsPerReplica}: last ACK ${seed.lastMs?.toFixed(0) ?? "-"} ms (commit ${seed.commitMs.toFixed(0)} ms)`,
    );
    // Let the ACKs land before the next window starts.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const update = await window({ ...shape, step: 1 });
    log(
      `scenario 5: one endpoint changes: last ACK ${update.lastMs?.toFixed(0) ?? "-"} ms (commit ${update.commitMs.toFixed(0)} ms)`,
    );
    return {
      ...base,
      replicas: { replicas: REPLICAS, clientsPerReplica, resources: countsOf(shape), seed, update },
      wallMs: Date.now() - started,
    };
  } catch (error) {
    return { ...base, error: String(error), wallMs: Date.now() - started };
  } finally {
    await Promise.all(
      replicas.map((_, i) =>
        pool
          .get(i)
          .call("close")
          .catch(() => {}),
      ),
    );
    await pool.stop();
    for (const r of replicas) r.child.kill("SIGKILL");
    await writer.close();
    writerCache.close();
    await etcd.destroy();
  }
}
