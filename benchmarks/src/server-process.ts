/**
 * A server under test in its own process (argv[2]: ours, limit or naive),
 * driven by the main process over IPC. Reports CPU, peak RSS and event-loop
 * delay for measurement windows the main process marks.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import type { StateSpec } from "./fixture.js";
import { nowMs, serveCalls } from "./ipc.js";
import { StatsWindow, settledMemory } from "./process-stats.js";
import type { ServerImpl } from "./server-impl.js";
import type { OursServer } from "./servers/ours.js";

/** Only the server under test is loaded, so that no other library sits in this process's heap. */
async function load(name: string | undefined): Promise<ServerImpl> {
  if (name === "ours") return new (await import("./servers/ours.js")).OursServer();
  if (name === "limit") return new (await import("./servers/limit.js")).LimitServer();
  if (name === "naive") return new (await import("./servers/naive.js")).NaiveServer();
  throw new Error(`unknown server ${name}`);
}

const impl = await load(process.argv[2]);
const window = new StatsWindow();

/**
 * BENCH_CPU_PROF=window: argv[3] is a path prefix; each measured window (mark
 * to stats) is profiled with the V8 CPU profiler through node:inspector, the
 * same profiler and file format as `node --cpu-prof`.
 */
const profilePrefix = process.argv[3];
let profiler: Session | undefined;
let windows = 0;
function post<T>(method: string): Promise<T> {
  return new Promise((resolve, reject) =>
    profiler?.post(method, (error, result) => (error ? reject(error) : resolve(result as T))),
  );
}
async function startProfile(): Promise<void> {
  if (!profilePrefix) return;
  if (!profiler) {
    profiler = new Session();
    profiler.connect();
    await post("Profiler.enable");
  }
  await post("Profiler.start");
}
async function stopProfile(): Promise<void> {
  if (!profilePrefix || !profiler) return;
  const { profile } = await post<{ profile: unknown }>("Profiler.stop");
  writeFileSync(`${profilePrefix}-window${++windows}.cpuprofile`, JSON.stringify(profile));
}

serveCalls({
  start: () => impl.start().then((address) => ({ address })),
  plan: (args: { spec: StateSpec }) => impl.plan(args.spec),
  stage: (args: { spec: StateSpec }) => {
    impl.stage(args.spec);
    return {};
  },
  warm: () => {
    impl.warm?.();
    return {};
  },
  subscribed: () => ({ streams: impl.subscribed() }),
  settled: () => ({ streams: impl.settled?.() }),
  mark: async () => {
    await startProfile();
    window.mark();
    return {};
  },
  /** Applies the staged state; returns the monotonic time just before (t0) and how long the call took. */
  apply: (args: { nodes: number }) => {
    const t0 = nowMs();
    impl.apply(args.nodes);
    return { t0, applyMs: nowMs() - t0 };
  },
  stats: async () => {
    const stats = window.stats();
    await stopProfile();
    return stats;
  },
  memory: () => settledMemory(),
  /**
   * The churn scenario's updates, run here so that their pace does not depend
   * on IPC: steps `from`..`to` of the schedule, one every `intervalMs`, each
   * staged and applied to `nodes` node keys.
   */
  churn: async (args: { spec: StateSpec; from: number; to: number; intervalMs: number; nodes: number }) => {
    const start = nowMs();
    let lastApplyAt = start;
    let applyMsMax = 0;
    for (let step = args.from; step <= args.to; step++) {
      const due = start + (step - args.from) * args.intervalMs;
      const wait = due - nowMs();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      impl.stage({ ...args.spec, step });
      lastApplyAt = nowMs();
      impl.apply(args.nodes);
      applyMsMax = Math.max(applyMsMax, nowMs() - lastApplyAt);
    }
    return { lastApplyAt, applyMsMax, durationMs: nowMs() - start };
  },
  nodeSnapshots: (args: { spec: StateSpec; keys: number }) => {
    const ours = impl as Partial<OursServer>;
    if (!ours.nodeSnapshots) throw new Error("nodeSnapshots is measured on ours only");
    return ours.nodeSnapshots(args);
  },
  exit: () => impl.stop(),
});
