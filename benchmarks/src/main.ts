/**
 * `pnpm bench`: runs the scenarios against ours, the limit and the naive
 * server, and writes results/latest.json, results/latest.md and
 * results/time-to-last-ack.svg. See README.md.
 */
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type BenchConfig, configFromEnv, type ImplName } from "./config.js";
import { topSelfTime } from "./cpu-profile.js";
import { replicasScenario } from "./replicas.js";
import {
  bytesText,
  type Machine,
  markdown,
  type ProfileSummary,
  secs,
  svg,
  type TargetResult,
  timeCell,
} from "./report.js";
import { resultsDir, WorkerPool } from "./run.js";
import {
  churn,
  idleStreams,
  nodeSnapshots,
  type RunRecord,
  representative,
  seedAndUpdate,
  useWorkerPool,
} from "./scenarios.js";

const log = (line: string) => console.log(line);

function machineNow(start: readonly number[]): Machine {
  return {
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageStart: start,
    loadAverageEnd: os.loadavg(),
  };
}

const kib = bytesText;
const ms = secs;

/** The issue's targets, judged on what ran (quick runs judge the same positions at their smaller N). */
function judge(config: BenchConfig, runs: readonly RunRecord[]): TargetResult[] {
  const out: TargetResult[] = [];
  const get = (scenario: number, impl: ImplName, clients: number, mode?: string) =>
    representative(runs, scenario, impl, clients, mode);
  const mid = config.seedClients[1] ?? config.seedClients[0] ?? 1;
  const top = config.seedClients[config.seedClients.length - 1] ?? 1;
  const ok = (r: RunRecord | undefined) => (r?.measurement?.status === "ok" ? r.measurement.lastMs : undefined);

  const ours1 = ok(get(1, "ours", mid));
  const limit1 = ok(get(1, "limit", mid));
  const naive1run = get(1, "naive", mid);
  const cpu = (impl: ImplName) => get(1, impl, mid)?.measurement?.server.cpuSeconds;
  const cpuNote = (a: ImplName, b: ImplName) => {
    const x = cpu(a);
    const y = cpu(b);
    return x !== undefined && y !== undefined && y > 0
      ? ` (server CPU: ${a} ${x.toFixed(2)} s, ${b} ${y.toFixed(2)} s: ${(x / y).toFixed(1)}×)`
      : "";
  };
  if (ours1 !== undefined && limit1 !== undefined) {
    out.push({
      target: `scenario 1 at N=${mid}: within 1.5× of the limit`,
      measured: `ours ${ms(ours1)}, limit ${ms(limit1)}: ${(ours1 / limit1).toFixed(2)}×${cpuNote("ours", "limit")}`,
      met: ours1 <= 1.5 * limit1,
    });
  }
  if (ours1 !== undefined && naive1run?.measurement) {
    const naive = naive1run.measurement;
    const naiveMs = naive.status === "ok" ? naive.lastMs : naive.elapsedMs;
    out.push({
      target: `scenario 1 at N=${mid}: at least 10× faster than naive`,
      measured: `naive ${timeCell(naive, config)}, ours ${ms(ours1)}: ${naive.status === "ok" ? "" : "> "}${((naiveMs ?? 0) / ours1).toFixed(1)}×${cpuNote("naive", "ours")}`,
      met: (naiveMs ?? 0) >= 10 * ours1,
    });
  }
  const top1 = get(1, "ours", top)?.measurement;
  if (top1) {
    const p99 = top1.server.eventLoopMs?.p99;
    out.push({
      target: `scenario 1 at N=${top}: event-loop p99 < 100 ms`,
      measured:
        p99 === undefined
          ? `not measured (${top1.status})`
          : `p99 ${p99.toFixed(0)} ms (max ${top1.server.eventLoopMs?.max.toFixed(0)} ms)`,
      met: p99 === undefined ? false : p99 < 100,
    });
  }
  const sotw = get(2, "ours", config.updateClients, "sotw")?.measurement;
  const delta = get(2, "ours", config.updateClients, "delta")?.measurement;
  const limit2 = get(2, "limit", config.updateClients)?.measurement;
  if (sotw?.bytesPerClient && delta?.bytesPerClient) {
    const r = delta.bytesPerClient.mean / sotw.bytesPerClient.mean;
    const part = (x: number) => (x < 1 ? `1/${(1 / x).toFixed(x > 0.1 ? 1 : 0)}` : `${x.toFixed(2)}×`);
    const seed = get(2, "ours", config.updateClients, "sotw")?.seed?.bytesPerClient?.mean;
    out.push({
      target: `scenario 2: delta bytes per client < 1/500 of SotW`,
      measured:
        `delta ${kib(delta.bytesPerClient.mean)}, SotW ${kib(sotw.bytesPerClient.mean)} per client: delta is ${part(r)} of SotW. ` +
        "Our SotW already sends only the changed assignment (EDS is not a full-state type)" +
        (seed
          ? `; against the ${kib(seed)} per client of the seed (what resending every resource costs), delta is ${part(delta.bytesPerClient.mean / seed)}`
          : ""),
      met: r < 1 / 500,
    });
  }
  const limit2ms = limit2?.status === "ok" ? limit2.lastMs : undefined;
  for (const [name, m] of [
    ["delta", delta],
    ["SotW", sotw],
  ] as const) {
    if (m && limit2ms !== undefined) {
      const t = m.status === "ok" ? m.lastMs : undefined;
      out.push({
        target: `scenario 2 (${name}): time to last ACK within 2× of the limit`,
        measured: `ours ${timeCell(m, config)}, limit ${ms(limit2ms)}${t !== undefined ? `: ${(t / limit2ms).toFixed(2)}×` : ""}`,
        met: t !== undefined && t <= 2 * limit2ms,
      });
    }
  }
  const idleTop = config.idleClients[config.idleClients.length - 1] ?? 0;
  const idle = runs.find((r) => r.scenario === 3 && r.kind === "idle" && r.clients === idleTop);
  const perStream = (idle?.memory as { rssBytesPerStream?: number } | undefined)?.rssBytesPerStream;
  if (idle) {
    out.push({
      target: `scenario 3: ≤ 30 KiB RSS per idle stream at N=${idleTop}`,
      measured: perStream === undefined ? `failed: ${idle.error}` : `${kib(perStream)} per stream`,
      met: perStream !== undefined && perStream <= 30 * 1024,
    });
  }
  const snaps = runs.find((r) => r.scenario === 3 && r.kind === "node-snapshots");
  const own = (snaps?.memory as { ownOverOne?: number } | undefined)?.ownOverOne;
  if (snaps) {
    out.push({
      target: `scenario 3: ${config.nodeSnapshotKeys} node keys with identical snapshots < 2× one snapshot (heap)`,
      measured: own === undefined ? `failed: ${snaps.error}` : `${own.toFixed(1)}× one snapshot`,
      met: own !== undefined && own < 2,
    });
  }
  const c = runs.find((r) => r.scenario === 4);
  if (c) {
    const left = (c.churn as { leftBehind?: number } | undefined)?.leftBehind;
    out.push({
      target: "scenario 4: no client left behind",
      measured:
        left === undefined ? `did not finish: ${c.error ?? c.seed?.status}` : `${left} left behind of ${c.clients}`,
      met: left === 0,
    });
  }
  return out;
}

async function main(): Promise<void> {
  const config = configFromEnv();
  const loadStart = os.loadavg();
  const started = Date.now();
  mkdirSync(resultsDir, { recursive: true });
  if (config.cpuProfile || config.cpuProfileWindows) {
    for (const f of readdirSync(resultsDir)) if (f.endsWith(".cpuprofile")) rmSync(path.join(resultsDir, f));
  }
  log(
    `pnpm bench${config.quick ? " (quick)" : ""}: scenarios ${[...config.scenarios].join(",")}, servers ${[...config.impls].join(",")}; ` +
      `${os.cpus().length} cores, load ${loadStart.map((x) => x.toFixed(2)).join("/")}`,
  );
  const pool = new WorkerPool(config.workers, config.cpuProfileLoadGenerators);
  useWorkerPool(pool);
  const runs: RunRecord[] = [];
  const has = (impl: ImplName) => config.impls.has(impl);
  // Scenario 2 runs over SotW (ours and the limit) start with scenario 1's seed at the same N: one run does both.
  const s1 = config.scenarios.has(1);
  const s2 = config.scenarios.has(2);
  const updates = new Set<string>();
  if (s1) {
    const largest = Math.max(...config.seedClients);
    for (const n of config.seedClients) {
      const repeats = n === largest ? 1 : config.seedRepeats;
      for (let round = 0; round < repeats; round++) {
        // Who goes first alternates: a run right after another inherits warm load generators.
        const order = round % 2 === 0 ? (["ours", "limit", "naive"] as const) : (["limit", "ours", "naive"] as const);
        for (const impl of order) {
          // The naive server is an order of magnitude off: one run says so.
          if (!has(impl) || (impl === "naive" && round > 0)) continue;
          const update = s2 && impl !== "naive" && n === config.updateClients && round === 0;
          if (update) updates.add(impl);
          runs.push(...(await seedAndUpdate(config, impl, "sotw", n, { seed: true, update }, log)));
        }
      }
    }
  }
  if (s2) {
    for (const impl of ["ours", "limit"] as const) {
      if (has(impl) && !updates.has(impl)) {
        runs.push(
          ...(await seedAndUpdate(config, impl, "sotw", config.updateClients, { seed: false, update: true }, log)),
        );
      }
    }
    if (has("ours")) {
      runs.push(
        ...(await seedAndUpdate(config, "ours", "delta", config.updateClients, { seed: false, update: true }, log)),
      );
    }
  }
  if (config.scenarios.has(3) && has("ours")) {
    for (const n of config.idleClients) runs.push(await idleStreams(config, n, log));
    runs.push(await nodeSnapshots(config, log));
  }
  if (config.scenarios.has(4) && has("ours")) runs.push(await churn(config, log));
  if (config.scenarios.has(5) && has("ours")) runs.push(await replicasScenario(config, log));
  await pool.stop();

  const wallMs = Date.now() - started;
  const machine = machineNow(loadStart);
  const targets = judge(config, runs);
  const profiles: ProfileSummary[] = [];
  if (config.cpuProfile || config.cpuProfileWindows) {
    const files = readdirSync(resultsDir)
      .filter((f) => f.endsWith(".cpuprofile"))
      .sort((a, b) => statSync(path.join(resultsDir, a)).mtimeMs - statSync(path.join(resultsDir, b)).mtimeMs);
    for (const file of files) {
      try {
        profiles.push({ label: file.replace(/\.cpuprofile$/, ""), file, ...topSelfTime(path.join(resultsDir, file)) });
      } catch (error) {
        log(`could not read ${file}: ${String(error)}`);
      }
    }
  }
  const json = {
    generatedAt: new Date().toISOString(),
    wallMs,
    machine,
    config: { ...config, scenarios: [...config.scenarios], impls: [...config.impls] },
    targets,
    runs,
    profiles,
  };
  writeFileSync(path.join(resultsDir, "latest.json"), `${JSON.stringify(json, null, 2)}\n`);
  const md = markdown(machine, config, runs, targets, profiles, wallMs);
  writeFileSync(path.join(resultsDir, "latest.md"), md);
  if (config.scenarios.has(1)) writeFileSync(path.join(resultsDir, "time-to-last-ack.svg"), svg(config, runs));
  log("");
  log(md);
  log(
    `wrote ${path.relative(process.cwd(), resultsDir)}/latest.{json,md}${config.scenarios.has(1) ? " and time-to-last-ack.svg" : ""} in ${(wallMs / 1000).toFixed(0)} s`,
  );
}

await main();
