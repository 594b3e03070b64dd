/**
 * What `pnpm bench` runs, from environment knobs (see README.md).
 */
import type { FixtureShape } from "./fixture.js";

export type ImplName = "ours" | "limit" | "naive";

export interface BenchConfig {
  readonly quick: boolean;
  /** Scenarios to run (1-5). */
  readonly scenarios: ReadonlySet<number>;
  readonly impls: ReadonlySet<ImplName>;
  /** Scenario 1: the snapshot and the client counts. */
  readonly seedShape: FixtureShape;
  readonly seedClients: readonly number[];
  /**
   * Scenario 1 runs at every N but the largest, repeated (ours and the limit
   * taking turns); the summary and the targets use each one's median run, so
   * that one unlucky run on a shared machine does not decide a ratio.
   */
  readonly seedRepeats: number;
  /** Scenario 2: clients (the snapshot is `seedShape`). */
  readonly updateClients: number;
  /** Scenario 3: the snapshot idle streams share, the stream counts, and node keys with their own snapshot. */
  readonly idleShape: FixtureShape;
  readonly idleClients: readonly number[];
  readonly nodeSnapshotKeys: number;
  /** Scenario 4. */
  readonly churnShape: FixtureShape;
  readonly churnClients: number;
  readonly churnUpdates: number;
  readonly churnUpdatesPerSecond: number;
  readonly churnReconnectFraction: number;
  /** How long every client may take to reach the final version after the last churn update. */
  readonly churnSettleMs: number;
  /** Scenario 5: ADS clients on each of the three replicas (the snapshot is `seedShape`). */
  readonly replicaClients: number;
  /** Load-generator processes and ADS streams per HTTP/2 session. */
  readonly workers: number;
  readonly streamsPerSession: number;
  readonly streamWindow: number;
  readonly connectionWindow: number;
  /** Per measured window: past it the server is stopped and reported as "> budget". */
  readonly budgetMs: number;
  /** A server whose RSS passes this is stopped and reported as over the memory budget. */
  readonly maxRssBytes: number;
  /** Write a .cpuprofile of every server process into results/ (BENCH_CPU_PROF=1 or all). */
  readonly cpuProfile: boolean;
  /** Instead, profile only each measured window of the servers (BENCH_CPU_PROF=window). */
  readonly cpuProfileWindows: boolean;
  /** Profile the load generators too (BENCH_CPU_PROF=all). */
  readonly cpuProfileLoadGenerators: boolean;
}

function list(value: string | undefined): string[] | undefined {
  return value
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function numbers(value: string | undefined): number[] | undefined {
  return list(value)?.map(Number);
}

function int(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not ${value}`);
  return n;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const quick = env["BENCH_QUICK"] === "1";
  const seedShape: FixtureShape = quick
    ? { clusters: 100, endpointsPerCluster: 10, clustersPerListener: 100 }
    : { clusters: 1000, endpointsPerCluster: 100, clustersPerListener: 100 };
  const smallShape: FixtureShape = { clusters: 100, endpointsPerCluster: 10, clustersPerListener: 100 };
  return {
    quick,
    scenarios: new Set(numbers(env["BENCH_SCENARIOS"]) ?? [1, 2, 3, 4, 5]),
    impls: new Set((list(env["BENCH_IMPLS"]) ?? ["ours", "limit", "naive"]) as ImplName[]),
    seedShape,
    seedClients: numbers(env["BENCH_N"]) ?? (quick ? [1, 10, 100] : [1, 100, 1000]),
    seedRepeats: int("BENCH_SEED_REPEATS", quick ? 1 : 3),
    updateClients: int("BENCH_UPDATE_N", quick ? 100 : 1000),
    idleShape: smallShape,
    idleClients: quick ? [100, 500] : [1000, 5000],
    nodeSnapshotKeys: quick ? 100 : 1000,
    churnShape: smallShape,
    churnClients: quick ? 100 : 1000,
    churnUpdates: quick ? 20 : 100,
    churnUpdatesPerSecond: 10,
    churnReconnectFraction: 0.1,
    churnSettleMs: 30_000,
    replicaClients: int("BENCH_REPLICA_N", quick ? 20 : 100),
    workers: int("BENCH_WORKERS", 2),
    streamsPerSession: int("BENCH_STREAMS_PER_SESSION", 100),
    streamWindow: int("BENCH_STREAM_WINDOW", 16 * 1024 * 1024),
    connectionWindow: int("BENCH_CONNECTION_WINDOW", 256 * 1024 * 1024),
    budgetMs: int("BENCH_BUDGET_S", quick ? 30 : 120) * 1000,
    maxRssBytes: int("BENCH_MAX_RSS_MB", 8192) * 1024 * 1024,
    cpuProfile: env["BENCH_CPU_PROF"] === "1" || env["BENCH_CPU_PROF"] === "all",
    cpuProfileWindows: env["BENCH_CPU_PROF"] === "window",
    cpuProfileLoadGenerators: env["BENCH_CPU_PROF"] === "all",
  };
}
