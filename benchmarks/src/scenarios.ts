/**
 * The four scenarios of `pnpm bench`. Each run starts a fresh server process
 * and fresh load generators, so that no run inherits another's heap.
 */
import type { Mode } from "./ads-client.js";
import type { BenchConfig, ImplName } from "./config.js";
import type { FixtureShape } from "./fixture.js";
import { nowMs } from "./ipc.js";
import type { MemorySample } from "./process-stats.js";
import { Bench, type Measurement, targetOf, type WorkerPool } from "./run.js";

/** One measured run, as it goes into latest.json. */
export interface RunRecord {
  readonly scenario: 1 | 2 | 3 | 4 | 5;
  /** What was measured: "seed", "update", "idle", "node-snapshots", "churn". */
  readonly kind: string;
  readonly impl: ImplName;
  readonly mode: Mode;
  readonly clients: number;
  readonly shape: FixtureShape;
  readonly measurement?: Measurement;
  /** Scenario 2 and 4: the seed that preceded the update (same run). */
  readonly seed?: Measurement;
  /** The seed is also reported as a scenario-1 run. */
  readonly sharedSeed?: boolean;
  readonly memory?: Record<string, unknown>;
  readonly churn?: Record<string, unknown>;
  /** Scenario 5: the replica figures (see replicas.ts). */
  readonly replicas?: Record<string, unknown>;
  readonly error?: string;
  readonly wallMs: number;
}

type Log = (line: string) => void;

/**
 * The run that stands for a scenario, server, N (and mode): the only one, or,
 * when it was repeated, the completed run with the median time to last ACK.
 */
export function representative(
  runs: readonly RunRecord[],
  scenario: number,
  impl: ImplName,
  clients?: number,
  mode?: string,
): RunRecord | undefined {
  const matching = runs.filter(
    (r) =>
      r.scenario === scenario &&
      r.impl === impl &&
      (clients === undefined || r.clients === clients) &&
      (mode === undefined || r.mode === mode),
  );
  if (matching.length <= 1) return matching[0];
  const done = matching
    .filter((r) => r.measurement?.status === "ok")
    .sort((a, b) => (a.measurement?.lastMs ?? 0) - (b.measurement?.lastMs ?? 0));
  return done[Math.floor((done.length - 1) / 2)] ?? matching[0];
}

function describe(m: Measurement): string {
  const s = (ms: number | undefined) => (ms === undefined ? "-" : `${(ms / 1000).toFixed(2)}s`);
  return (
    `${m.status}: ${m.completed}/${m.clients} done, first ${s(m.firstMs)} median ${s(m.medianMs)} last ${s(m.lastMs)}` +
    `, ${(m.payloadBytes / 1e6).toFixed(1)} MB, server CPU ${m.server.cpuSeconds.toFixed(2)}s` +
    `, peak RSS ${(m.server.peakRssBytes / 2 ** 20).toFixed(0)} MiB` +
    (m.server.eventLoopMs
      ? `, loop p99 ${m.server.eventLoopMs.p99.toFixed(0)}ms max ${m.server.eventLoopMs.max.toFixed(0)}ms`
      : "") +
    (m.problems.length > 0 ? `; problems: ${m.problems.slice(0, 3).join(" | ")}` : "")
  );
}

/** Where runs get their load generators; set once by main. */
let pool: WorkerPool | undefined;
export function useWorkerPool(workers: WorkerPool): void {
  pool = workers;
}

async function withBench<T>(impl: ImplName, label: string, config: BenchConfig, fn: (bench: Bench) => Promise<T>) {
  if (!pool) throw new Error("useWorkerPool first");
  const bench = new Bench(impl, label, config, pool);
  try {
    await bench.start();
    return await fn(bench);
  } finally {
    await bench.close().catch(() => bench.server.kill());
  }
}

async function record(
  base: Omit<RunRecord, "wallMs" | "error">,
  log: Log,
  fn: () => Promise<Partial<RunRecord>>,
): Promise<RunRecord> {
  const started = Date.now();
  log(`- scenario ${base.scenario} ${base.kind} ${base.impl} ${base.mode} N=${base.clients}`);
  try {
    const out = { ...base, ...(await fn()), wallMs: Date.now() - started };
    if (out.measurement) log(`    ${describe(out.measurement)}`);
    return out;
  } catch (error) {
    log(`    failed: ${error instanceof Error ? error.message : String(error)}`);
    return { ...base, error: error instanceof Error ? error.message : String(error), wallMs: Date.now() - started };
  }
}

/**
 * Scenario 1 (seed stress): the seed snapshot pushed to N streams that are
 * already open and waiting. Scenario 2 (one endpoint changes): after that
 * seed, one endpoint of one assignment changes. One run does both when both
 * are wanted, so that a 2.5 GB seed is not pushed twice.
 */
export async function seedAndUpdate(
  config: BenchConfig,
  impl: ImplName,
  mode: Mode,
  clients: number,
  want: { readonly seed: boolean; readonly update: boolean },
  log: Log,
): Promise<RunRecord[]> {
  const shape = config.seedShape;
  const base = { impl, mode, clients, shape };
  const label = `${want.seed ? "s1" : ""}${want.seed && want.update ? "+" : ""}${want.update ? "s2" : ""}-${impl}-${mode}-n${clients}`;
  const started = Date.now();
  let seedWallMs = 0;
  let seed: Measurement | undefined;
  let update: Measurement | undefined;
  let error: string | undefined;
  log(
    `- scenario ${want.seed ? "1 seed" : ""}${want.seed && want.update ? " + " : ""}${want.update ? "2 update" : ""} ${impl} ${mode} N=${clients}`,
  );
  try {
    await withBench(impl, label, config, async (bench) => {
      const seedSpec = { ...shape, step: 0 };
      const seedPlan = await bench.plan(seedSpec);
      await bench.stage(seedSpec);
      await bench.open(clients, mode);
      await bench.target(targetOf(seedPlan, mode, false));
      seed = await bench.measure(clients);
      seedWallMs = Date.now() - started;
      log(`    seed: ${describe(seed)}`);
      if (!want.update || seed.status !== "ok") return;
      const settleMs = await bench.settle();
      if (settleMs > 500) {
        log(`    the server saw the last seed ACKs ${(settleMs / 1000).toFixed(1)}s after the clients sent them`);
      }
      const spec = { ...shape, step: 1 };
      const plan = await bench.plan(spec);
      await bench.stage(spec);
      await bench.target(targetOf(plan, mode, true));
      update = await bench.measure(clients);
      log(`    update: ${describe(update)}`);
    });
  } catch (reason) {
    error = reason instanceof Error ? reason.message : String(reason);
    log(`    failed: ${error}`);
  }
  const out: RunRecord[] = [];
  if (want.seed) {
    out.push({
      scenario: 1,
      kind: "seed",
      ...base,
      ...(seed ? { measurement: seed } : {}),
      ...(error && !seed ? { error } : {}),
      wallMs: seedWallMs || Date.now() - started,
    });
  }
  if (want.update) {
    out.push({
      scenario: 2,
      kind: "update",
      ...base,
      ...(seed ? { seed, sharedSeed: want.seed } : {}),
      ...(update ? { measurement: update } : {}),
      ...(error ? { error } : {}),
      wallMs: Date.now() - started,
    });
  }
  return out;
}

function perStream(before: MemorySample, after: MemorySample, n: number) {
  return {
    rssBytesPerStream: (after.rssBytes - before.rssBytes) / n,
    heapBytesPerStream: (after.heapUsedBytes - before.heapUsedBytes) / n,
    externalBytesPerStream: (after.externalBytes - before.externalBytes) / n,
  };
}

/** Scenario 3a: N streams that hold the shared snapshot and sit idle: what each costs the server. */
export async function idleStreams(config: BenchConfig, clients: number, log: Log): Promise<RunRecord> {
  const shape = config.idleShape;
  return record({ scenario: 3, kind: "idle", impl: "ours", mode: "sotw", clients, shape }, log, () =>
    withBench("ours", `s3-ours-idle-n${clients}`, config, async (bench) => {
      const spec = { ...shape, step: 0 };
      const plan = await bench.plan(spec);
      await bench.stage(spec);
      await bench.server.call("warm");
      const before = await bench.server.call<MemorySample>("memory");
      await bench.open(clients, "sotw");
      await bench.target(targetOf(plan, "sotw", false));
      const measurement = await bench.measure(clients);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const after = await bench.server.call<MemorySample>("memory");
      const memory = { before, after, ...perStream(before, after, clients) };
      log(
        `    idle: ${(memory.rssBytesPerStream / 1024).toFixed(1)} KiB RSS, ${(memory.heapBytesPerStream / 1024).toFixed(1)} KiB heap per stream`,
      );
      return { measurement, memory };
    }),
  );
}

/** Scenario 3b: node keys each with its own identical snapshot, against one snapshot (and keys sharing it). */
export async function nodeSnapshots(config: BenchConfig, log: Log): Promise<RunRecord> {
  const shape = config.idleShape;
  const keys = config.nodeSnapshotKeys;
  return record({ scenario: 3, kind: "node-snapshots", impl: "ours", mode: "sotw", clients: keys, shape }, log, () =>
    withBench("ours", `s3-ours-node-snapshots-${keys}`, config, async (bench) => {
      const m = await bench.server.call<
        Record<"base" | "withOne" | "withShared" | "cleared" | "withOwn", MemorySample>
      >("nodeSnapshots", { spec: { ...shape, step: 0 }, keys });
      const oneHeap = m.withOne.heapUsedBytes - m.base.heapUsedBytes;
      const sharedHeap = m.withShared.heapUsedBytes - m.base.heapUsedBytes;
      const ownHeap = m.withOwn.heapUsedBytes - m.cleared.heapUsedBytes;
      const memory = {
        samples: m,
        oneSnapshotHeapBytes: oneHeap,
        sharedKeysHeapBytes: sharedHeap,
        ownSnapshotsHeapBytes: ownHeap,
        ownOverOne: ownHeap / oneHeap,
        oneSnapshotRssBytes: m.withOne.rssBytes - m.base.rssBytes,
        ownSnapshotsRssBytes: m.withOwn.rssBytes - m.cleared.rssBytes,
      };
      log(
        `    one snapshot ${(oneHeap / 2 ** 20).toFixed(2)} MiB heap; ${keys} keys sharing it ${(sharedHeap / 2 ** 20).toFixed(2)} MiB; ` +
          `${keys} own identical snapshots ${(ownHeap / 2 ** 20).toFixed(1)} MiB (${memory.ownOverOne.toFixed(1)}x)`,
      );
      return { memory };
    }),
  );
}

/** Scenario 4: updates at a steady rate while a fraction of the clients reconnects every second. */
export async function churn(config: BenchConfig, log: Log): Promise<RunRecord> {
  const shape = config.churnShape;
  const clients = config.churnClients;
  return record({ scenario: 4, kind: "churn", impl: "ours", mode: "sotw", clients, shape }, log, () =>
    withBench("ours", `s4-ours-churn-n${clients}`, config, async (bench) => {
      const seedSpec = { ...shape, step: 0 };
      const seedPlan = await bench.plan(seedSpec);
      await bench.stage(seedSpec);
      await bench.open(clients, "sotw");
      await bench.target(targetOf(seedPlan, "sotw", false));
      const seed = await bench.measure(clients);
      if (seed.status !== "ok") return { seed };
      await bench.settle();
      const finalPlan = await bench.plan({ ...shape, step: config.churnUpdates });
      await bench.target(targetOf(finalPlan, "sotw", false));
      await bench.mark();
      const intervalMs = 1000 / config.churnUpdatesPerSecond;
      const durationMs = config.churnUpdates * intervalMs;
      const started = nowMs();
      const [updates, reconnects] = await Promise.all([
        bench.server.call<{ lastApplyAt: number; applyMsMax: number; durationMs: number }>("churn", {
          spec: seedSpec,
          from: 1,
          to: config.churnUpdates,
          intervalMs,
          nodes: clients,
        }),
        bench.churnClients(durationMs, config.churnReconnectFraction),
      ]);
      const measurement = await bench.waitAndCollect(updates.lastApplyAt, 0, config.churnSettleMs, false);
      const leftBehind = clients - measurement.completed;
      log(
        `    ${config.churnUpdates} updates in ${(updates.durationMs / 1000).toFixed(1)}s, ${reconnects} reconnects; ` +
          `${leftBehind} clients left behind`,
      );
      return {
        seed,
        measurement,
        churn: {
          updates: config.churnUpdates,
          updatesPerSecond: config.churnUpdatesPerSecond,
          reconnectFractionPerSecond: config.churnReconnectFraction,
          reconnects,
          updatesDurationMs: updates.durationMs,
          applyMsMax: updates.applyMsMax,
          windowMs: nowMs() - started,
          leftBehind,
        },
      };
    }),
  );
}
