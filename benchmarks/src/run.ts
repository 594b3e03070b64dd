/**
 * One measurement: a server under test in its own process and load-generator
 * processes with their clients, driven step by step over IPC.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Mode, Target } from "./ads-client.js";
import type { BenchConfig, ImplName } from "./config.js";
import type { StateSpec } from "./fixture.js";
import { Child, nowMs } from "./ipc.js";
import type { OpenArgs, WorkerResults } from "./load-worker.js";
import { procStats, type WindowStats } from "./process-stats.js";
import type { Plan } from "./server-impl.js";

const here = path.dirname(fileURLToPath(import.meta.url));
export const resultsDir = path.resolve(here, "../results");

/** Server figures for a window; from the server itself, or from /proc when it could not answer. */
export interface ServerFigures {
  readonly cpuSeconds: number;
  readonly peakRssBytes: number;
  readonly eventLoopMs: { readonly p50: number; readonly p99: number; readonly max: number } | undefined;
  readonly source: "server" | "proc";
}

/** What one measured window gave. */
export interface Measurement {
  readonly status: "ok" | "over-budget" | "over-memory" | "incomplete";
  readonly clients: number;
  readonly completed: number;
  /** ms from the server's apply (t0) to each completed client's ACK, ascending. */
  readonly completionsMs: number[];
  readonly firstMs: number | undefined;
  readonly medianMs: number | undefined;
  /** Time to the last client's ACK; undefined unless every client completed. */
  readonly lastMs: number | undefined;
  /** Longest the window ran (budget or until the last client). */
  readonly elapsedMs: number;
  readonly applyMs: number;
  readonly payloadBytes: number;
  readonly wireBytes: number;
  readonly bytesPerClient: { readonly mean: number; readonly min: number; readonly max: number } | undefined;
  readonly responses: number;
  readonly server: ServerFigures;
  readonly workersCpuSeconds: number;
  readonly unexpectedEnds: number;
  readonly reconnects: number;
  readonly problems: string[];
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([promise, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref())]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The load-generator processes, forked once for the whole bench (their
 * start-up is seconds of module loading) and reused run after run; one that
 * died is replaced.
 */
export class WorkerPool {
  readonly #workers: (Child | undefined)[] = [];
  readonly #size: number;
  readonly #profile: boolean;

  /** With `profile`, each load generator writes a .cpuprofile into results/ when it exits. */
  constructor(size: number, profile = false) {
    this.#size = size;
    this.#profile = profile;
    for (let i = 0; i < size; i++) this.get(i);
  }

  get size(): number {
    return this.#size;
  }

  get(index: number): Child {
    let worker = this.#workers[index];
    if (!worker?.alive) {
      const flags = this.#profile
        ? [
            "--cpu-prof",
            "--cpu-prof-dir",
            resultsDir,
            "--cpu-prof-name",
            `load-generator-${index}-${Date.now()}.cpuprofile`,
          ]
        : [];
      worker = Child.fork(`load generator ${index}`, path.join(here, "load-worker.ts"), [], flags);
      this.#workers[index] = worker;
    }
    return worker;
  }

  async stop(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w?.stop(5000)));
  }
}

/** A server process and its load generators for one run. */
export class Bench {
  readonly impl: ImplName;
  readonly label: string;
  readonly server: Child;
  readonly #config: BenchConfig;
  readonly #pool: WorkerPool;
  #workers: Child[] = [];
  #clients = 0;
  address = "";
  #markCpu = 0;

  constructor(impl: ImplName, label: string, config: BenchConfig, pool: WorkerPool) {
    this.impl = impl;
    this.#pool = pool;
    this.label = label;
    this.#config = config;
    const flags = config.cpuProfile
      ? ["--cpu-prof", "--cpu-prof-dir", resultsDir, "--cpu-prof-name", `${label}.cpuprofile`]
      : [];
    const args = config.cpuProfileWindows ? [impl, path.join(resultsDir, label)] : [impl];
    this.server = Child.fork(`server ${label}`, path.join(here, "server-process.ts"), args, flags);
  }

  async start(): Promise<void> {
    this.address = (await this.server.call<{ address: string }>("start")).address;
  }

  plan(spec: StateSpec): Promise<Plan> {
    return this.server.call<Plan>("plan", { spec });
  }

  async stage(spec: StateSpec): Promise<void> {
    await this.server.call("stage", { spec });
  }

  /** Forks the load generators and opens `clients` streams (node-0 ..), then waits until the server has them all. */
  async open(clients: number, mode: Mode): Promise<void> {
    const config = this.#config;
    const workers = Math.max(1, Math.min(this.#pool.size, clients));
    const per = Math.ceil(clients / workers);
    this.#clients = clients;
    const opens: Promise<unknown>[] = [];
    for (let w = 0; w < workers; w++) {
      const first = w * per;
      const count = Math.min(per, clients - first);
      if (count <= 0) break;
      const worker = this.#pool.get(w);
      this.#workers.push(worker);
      const args: OpenArgs = {
        address: this.address,
        mode,
        first,
        count,
        streamsPerSession: config.streamsPerSession,
        streamWindow: config.streamWindow,
        connectionWindow: config.connectionWindow,
      };
      opens.push(worker.call("open", args));
    }
    await Promise.all(opens);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { streams } = await this.server.call<{ streams: number }>("subscribed");
      if (streams >= clients) return;
      if (Date.now() > deadline) throw new Error(`${this.label}: only ${streams} of ${clients} streams subscribed`);
      await sleep(50);
    }
  }

  /**
   * Waits until the server has seen every client's ACKs (a client counts as
   * done when it writes its ACK; the server may read it later), so that the
   * next update does not race ACKs still in flight. Returns how long it took.
   */
  async settle(timeoutMs = 30_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      const { streams } = await this.server.call<{ streams: number | undefined }>("settled");
      if (streams === undefined || streams >= this.#clients) return Date.now() - started;
      if (Date.now() - started > timeoutMs)
        throw new Error(`${this.label}: only ${streams} of ${this.#clients} streams settled`);
      await sleep(50);
    }
  }

  async target(target: Target): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.call("target", { target })));
  }

  async mark(): Promise<void> {
    await this.server.call("mark");
    this.#markCpu = procStats(this.server.pid)?.cpuSeconds ?? 0;
  }

  /** Applies the staged state to `nodes` node keys and measures until every client meets the target. */
  async measure(nodes: number): Promise<Measurement> {
    await this.mark();
    const { t0, applyMs } = await this.server.call<{ t0: number; applyMs: number }>("apply", { nodes });
    return this.waitAndCollect(t0, applyMs, this.#config.budgetMs);
  }

  /**
   * Polls the load generators until every client is done, the budget is spent
   * or the server grows too large. A server over budget is killed (it may be
   * stuck), unless `killOnBudget` is false: then the clients not done are
   * simply reported as left behind.
   */
  async waitAndCollect(t0: number, applyMs: number, budgetMs: number, killOnBudget = true): Promise<Measurement> {
    let status: Measurement["status"] = "ok";
    for (;;) {
      const progress = await Promise.all(this.#workers.map((w) => w.call<{ done: number; total: number }>("progress")));
      const done = progress.reduce((n, p) => n + p.done, 0);
      if (done >= this.#clients) break;
      const proc = procStats(this.server.pid);
      if (proc && proc.rssBytes > this.#config.maxRssBytes) {
        status = "over-memory";
        break;
      }
      if (nowMs() - t0 > budgetMs) {
        status = killOnBudget ? "over-budget" : "incomplete";
        break;
      }
      await sleep(this.#clients > 1 ? 100 : 10);
    }
    const elapsedMs = nowMs() - t0;
    const proc = procStats(this.server.pid);
    const stats =
      status === "ok" || status === "incomplete"
        ? await withTimeout(this.server.call<WindowStats>("stats"), 10_000).catch(() => undefined)
        : undefined;
    const server: ServerFigures = stats
      ? {
          cpuSeconds: stats.cpuSeconds,
          peakRssBytes: stats.peakRssBytes,
          eventLoopMs: stats.eventLoopMs,
          source: "server",
        }
      : {
          cpuSeconds: (proc?.cpuSeconds ?? 0) - this.#markCpu,
          peakRssBytes: proc?.peakRssBytes ?? 0,
          eventLoopMs: undefined,
          source: "proc",
        };
    if (status === "over-budget" || status === "over-memory") this.server.kill();
    const results = await Promise.all(this.#workers.map((w) => w.call<WorkerResults>("results")));
    const completeAt = results.flatMap((r) => r.completeAt);
    const bytes = results.flatMap((r) => r.bytesToTarget).filter((b) => !Number.isNaN(b));
    const completionsMs = completeAt
      .filter((t) => !Number.isNaN(t))
      .map((t) => t - t0)
      .sort((a, b) => a - b);
    const completed = completionsMs.length;
    if (status === "ok" && completed < this.#clients) status = "incomplete";
    return {
      status,
      clients: this.#clients,
      completed,
      completionsMs,
      firstMs: completionsMs[0],
      medianMs: completed > 0 ? completionsMs[Math.floor((completed - 1) / 2)] : undefined,
      lastMs: completed === this.#clients ? completionsMs[completed - 1] : undefined,
      elapsedMs,
      applyMs,
      payloadBytes: results.reduce((n, r) => n + r.payloadBytes, 0),
      wireBytes: results.reduce((n, r) => n + r.wireBytes, 0),
      bytesPerClient:
        bytes.length > 0
          ? {
              mean: bytes.reduce((a, b) => a + b, 0) / bytes.length,
              min: Math.min(...bytes),
              max: Math.max(...bytes),
            }
          : undefined,
      responses: results.reduce((n, r) => n + r.responses, 0),
      server,
      workersCpuSeconds: results.reduce((n, r) => n + r.cpuSeconds, 0),
      unexpectedEnds: results.reduce((n, r) => n + r.unexpectedEnds, 0),
      reconnects: results.reduce((n, r) => n + r.reconnects, 0),
      problems: results.flatMap((r) => r.problems).slice(0, 10),
    };
  }

  /** Reconnects a fraction of the clients every second for `durationMs` (all load generators at once). */
  async churnClients(durationMs: number, fractionPerSecond: number): Promise<number> {
    const replies = await Promise.all(
      this.#workers.map((w) => w.call<{ reconnects: number }>("churn", { durationMs, fractionPerSecond })),
    );
    return replies.reduce((n, r) => n + r.reconnects, 0);
  }

  /** Ends the load generators' streams (a generator that does not answer is killed), then stops the server. */
  async close(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (w) => {
        const closed = await withTimeout(
          w.call("close").then(
            () => true,
            () => false,
          ),
          10_000,
        );
        if (!closed) w.kill();
      }),
    );
    this.#workers = [];
    await this.server.stop(this.#config.cpuProfile ? 30_000 : 10_000);
  }
}

/** Load-generator target from a plan: SotW versions, or delta counts plus the changed resources' versions. */
export function targetOf(plan: Plan, mode: Mode, withChanged: boolean): Target {
  if (mode === "sotw") return { sotw: plan.versions };
  const delta: Record<string, { count: number; versions: Record<string, string> }> = {};
  for (const [typeUrl, count] of Object.entries(plan.counts)) delta[typeUrl] = { count, versions: {} };
  if (withChanged) {
    for (const c of plan.changed) {
      const entry = delta[c.typeUrl];
      if (entry) entry.versions[c.name] = c.version;
    }
  }
  return { delta };
}
