/**
 * latest.md (tables and targets) and time-to-last-ack.svg (hand-written) from
 * the runs of one `pnpm bench`.
 */
import type { BenchConfig, ImplName } from "./config.js";
import type { SelfTime } from "./cpu-profile.js";
import type { Measurement } from "./run.js";
import { type RunRecord, representative } from "./scenarios.js";

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly os: string;
  /** 1/5/15-minute load averages when the bench started and ended: other work on the machine shows here. */
  readonly loadAverageStart: readonly number[];
  readonly loadAverageEnd: readonly number[];
}

export interface TargetResult {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

export interface ProfileSummary {
  readonly label: string;
  readonly file: string;
  readonly totalMs: number;
  readonly top: readonly SelfTime[];
}

const impls: readonly ImplName[] = ["ours", "limit", "naive"];

export function secs(ms: number | undefined): string {
  if (ms === undefined) return "-";
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? "-" : (bytes / 2 ** 20).toFixed(0);
}

export function bytesText(bytes: number | undefined): string {
  if (bytes === undefined || Number.isNaN(bytes)) return "-";
  const size = Math.abs(bytes);
  if (size >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
  if (size >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes.toFixed(0)} B`;
}

/** The time a run is judged by, with "> budget" or "incomplete" spelled out. */
export function timeCell(m: Measurement | undefined, config: BenchConfig, error?: string): string {
  if (!m) return error ? "failed" : "-";
  if (m.status === "over-budget") return `> ${secs(config.budgetMs)} (budget; ${m.completed}/${m.clients} done)`;
  if (m.status === "over-memory")
    return `> ${mib(config.maxRssBytes)} MiB RSS (stopped; ${m.completed}/${m.clients} done)`;
  if (m.status === "incomplete") return `incomplete (${m.completed}/${m.clients})`;
  return secs(m.lastMs);
}

function loop(m: Measurement | undefined): string {
  const l = m?.server.eventLoopMs;
  if (!m) return "-";
  if (!l) return "n/a";
  return `${l.p50.toFixed(0)}/${l.p99.toFixed(0)}/${l.max.toFixed(0)}`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return "-";
  return `${(a / b).toFixed(2)}×`;
}

const find = representative;

function summaryRow(
  label: string,
  n: number,
  byImpl: Partial<Record<ImplName, RunRecord | undefined>>,
  config: BenchConfig,
) {
  const m = (impl: ImplName) => byImpl[impl]?.measurement;
  const last = (impl: ImplName) => (m(impl)?.status === "ok" ? m(impl)?.lastMs : undefined);
  const cells = impls.map((impl) => (byImpl[impl] ? timeCell(m(impl), config, byImpl[impl]?.error) : "-"));
  let naiveOverOurs = ratio(last("naive"), last("ours"));
  const naive = m("naive");
  const ours = last("ours");
  if (naive && naive.status !== "ok" && ours !== undefined) naiveOverOurs = `> ${(naive.elapsedMs / ours).toFixed(1)}×`;
  const triple = (f: (x: Measurement) => string) =>
    impls.map((impl) => (m(impl) ? f(m(impl) as Measurement) : "-")).join(" / ");
  return `| ${label} | ${n} | ${cells.join(" | ")} | ${ratio(ours, last("limit"))} | ${naiveOverOurs} | ${triple((x) => x.server.cpuSeconds.toFixed(2))} | ${triple((x) => mib(x.server.peakRssBytes))} | ${impls.map((impl) => loop(m(impl))).join(" · ")} |`;
}

/** One publish of scenario 5, as `replicas.ts` reports it. */
interface ReplicaWindowFigures {
  readonly commitMs: number;
  readonly firstMs: number | undefined;
  readonly medianMs: number | undefined;
  readonly lastMs: number | undefined;
  readonly lastByReplicaMs: (number | null | undefined)[];
  readonly completed: number;
  readonly replicasCpuSeconds: number;
}

export function markdown(
  machine: Machine,
  config: BenchConfig,
  runs: readonly RunRecord[],
  targets: readonly TargetResult[],
  profiles: readonly ProfileSummary[],
  wallMs: number,
): string {
  const lines: string[] = [];
  const shape = (s: { clusters: number; endpointsPerCluster: number }) =>
    `${s.clusters} clusters × ${s.endpointsPerCluster} endpoints`;
  lines.push("# pnpm bench: latest results", "");
  lines.push(
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, Node ${machine.node}, ${machine.os}.`,
    `Load average (1/5/15 min) at start ${machine.loadAverageStart.map((x) => x.toFixed(2)).join("/")}, at end ${machine.loadAverageEnd.map((x) => x.toFixed(2)).join("/")}: anything above ~0 is other work sharing the machine.`,
    `Whole run: ${(wallMs / 1000).toFixed(0)} s${config.quick ? " (BENCH_QUICK=1: small sizes, not comparable with a full run)" : ""}${config.cpuProfile ? " (BENCH_CPU_PROF=1: servers ran under the profiler; times are inflated)" : ""}.`,
    "",
  );
  lines.push("## Summary", "");
  lines.push(
    "Time to last ACK: from the server's setSnapshot (apply) to the moment the last client ACKed the target version of CDS, EDS, LDS and RDS. " +
      "CPU s, peak RSS (MiB) and event-loop delay (p50/p99/max ms) are the server process's own over that window, for ours / limit / naive. " +
      `Scenario 1 below the largest N ran ${config.seedRepeats} time(s) for ours and the limit, taking turns; each figure here is from the run with the median time (every run is listed at the end).`,
    "",
  );
  lines.push(
    "| scenario | N | ours | limit | naive | ours ÷ limit | naive ÷ ours | CPU s (ours / limit / naive) | peak RSS MiB (ours / limit / naive) | event loop p50/p99/max ms (ours · limit · naive) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const n of config.seedClients) {
    if (!runs.some((r) => r.scenario === 1 && r.clients === n)) continue;
    lines.push(
      summaryRow(
        `1 seed (${shape(config.seedShape)})`,
        n,
        { ours: find(runs, 1, "ours", n), limit: find(runs, 1, "limit", n), naive: find(runs, 1, "naive", n) },
        config,
      ),
    );
  }
  for (const mode of ["sotw", "delta"] as const) {
    const ours = find(runs, 2, "ours", config.updateClients, mode);
    if (!ours) continue;
    lines.push(
      summaryRow(
        `2 one endpoint changes (ours over ${mode === "sotw" ? "SotW" : "delta"}; limit SotW)`,
        config.updateClients,
        { ours, limit: find(runs, 2, "limit", config.updateClients) },
        config,
      ),
    );
  }
  const churn = runs.find((r) => r.scenario === 4);
  if (churn) {
    lines.push(
      summaryRow(`4 churn: after the last of ${config.churnUpdates} updates`, churn.clients, { ours: churn }, config),
    );
  }
  lines.push("");

  const idle = runs.filter((r) => r.scenario === 3 && r.kind === "idle");
  const snaps = runs.find((r) => r.scenario === 3 && r.kind === "node-snapshots");
  if (idle.length > 0 || snaps) {
    lines.push("## Scenario 3: memory (ours)", "");
    lines.push(
      "| what | N | RSS per stream | heap per stream | external per stream |",
      "| --- | --- | --- | --- | --- |",
    );
    for (const r of idle) {
      const mem = r.memory as
        | { rssBytesPerStream: number; heapBytesPerStream: number; externalBytesPerStream: number }
        | undefined;
      lines.push(
        `| idle ADS streams sharing one snapshot (${shape(r.shape)}) | ${r.clients} | ${bytesText(mem?.rssBytesPerStream)} | ${bytesText(mem?.heapBytesPerStream)} | ${bytesText(mem?.externalBytesPerStream)} |`,
      );
    }
    lines.push("");
    if (snaps?.memory) {
      const mem = snaps.memory as {
        oneSnapshotHeapBytes: number;
        sharedKeysHeapBytes: number;
        ownSnapshotsHeapBytes: number;
        ownOverOne: number;
        oneSnapshotRssBytes: number;
        ownSnapshotsRssBytes: number;
      };
      lines.push(
        `| node snapshots (${shape(snaps.shape)}) | heap | RSS |`,
        "| --- | --- | --- |",
        `| one snapshot on one node key | ${bytesText(mem.oneSnapshotHeapBytes)} | ${bytesText(mem.oneSnapshotRssBytes)} |`,
        `| ${snaps.clients} node keys sharing that snapshot object (incl. the one) | ${bytesText(mem.sharedKeysHeapBytes)} | - |`,
        `| ${snaps.clients} node keys, each its own identical snapshot | ${bytesText(mem.ownSnapshotsHeapBytes)} (${mem.ownOverOne.toFixed(1)}× one) | ${bytesText(mem.ownSnapshotsRssBytes)} |`,
        "",
      );
      if (mem.oneSnapshotRssBytes < 0 || mem.ownSnapshotsRssBytes < 0) {
        lines.push(
          "RSS moves by whole pages and arenas: a difference of a few MiB is within its noise, and a negative one means RSS fell (freed garbage returned to the OS). The heap column is the measure here.",
          "",
        );
      }
    } else if (snaps?.error) {
      lines.push(`Node snapshots failed: ${snaps.error}`, "");
    }
  }

  if (churn) {
    const c = churn.churn as Record<string, number> | undefined;
    lines.push("## Scenario 4: churn (ours)", "");
    if (c) {
      lines.push(
        `${c["updates"]} snapshot updates at ${c["updatesPerSecond"]}/s (one endpoint each; every tenth also a cluster) to ${churn.clients} clients ` +
          `(${shape(churn.shape)}), while ${(100 * (c["reconnectFractionPerSecond"] ?? 0)).toFixed(0)}% of the clients reconnected every second ` +
          `(${c["reconnects"]} reconnects). Updates took ${secs(c["updatesDurationMs"])} (slowest apply ${secs(c["applyMsMax"])}). ` +
          `Last client on the final version ${timeCell(churn.measurement, config)} after the last update; ` +
          `**${c["leftBehind"]} client(s) left behind**.`,
        "",
      );
    } else {
      lines.push(`Churn did not run to the end: ${churn.error ?? churn.seed?.status ?? "unknown"}`, "");
    }
  }

  const replicated = runs.find((r) => r.scenario === 5);
  if (replicated) {
    lines.push("## Scenario 5: replicas sharing state through etcd (ours)", "");
    const f = replicated.replicas as
      | {
          replicas: number;
          clientsPerReplica: number;
          seed: ReplicaWindowFigures;
          update: ReplicaWindowFigures;
        }
      | undefined;
    if (f) {
      lines.push(
        `A writer publishes through a real etcd; ${f.replicas} replicas (the file-source main job with \`--store --replica\`, separate processes) serve ` +
          `${f.clientsPerReplica} SotW ADS clients each (${shape(replicated.shape)}). Times from \`publish\` on the writer.`,
        "",
        "| publish | committed in etcd | first ACK | median ACK | last client on the last replica | last ACK per replica | replicas' CPU s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
      );
      for (const [what, w] of [
        ["seed", f.seed],
        ["one endpoint changes", f.update],
      ] as const) {
        lines.push(
          `| ${what} | ${secs(w.commitMs)} | ${secs(w.firstMs)} | ${secs(w.medianMs)} | ${w.lastMs === undefined ? `not all (${w.completed} done)` : secs(w.lastMs)} | ${w.lastByReplicaMs.map((x) => secs(x ?? undefined)).join(" / ")} | ${w.replicasCpuSeconds.toFixed(2)} |`,
        );
      }
      lines.push("");
    } else {
      lines.push(`Not measured: ${replicated.error ?? "unknown"}`, "");
    }
  }

  lines.push("## Targets", "");
  for (const t of targets) {
    lines.push(`- ${t.met === undefined ? "n/a" : t.met ? "met" : "**missed**"}: ${t.target}: ${t.measured}`);
  }
  lines.push("");

  lines.push("## Every run", "");
  lines.push(
    "Bytes per client: gRPC payload received from the target being set until that client met it. Wire: bytes read from the sockets, HTTP/2 framing included, whole window. Load-gen CPU: both load-generator processes together.",
    "",
    "| scenario | server | mode | N | status | first | median | last | bytes / client | payload | wire | server CPU s | load-gen CPU s | peak RSS MiB | loop p50/p99/max ms | stream ends / problems |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  const row = (r: RunRecord, what: string, m: Measurement) =>
    `| ${r.scenario} ${what} | ${r.impl} | ${r.mode} | ${r.clients} | ${m.status} (${m.completed}/${m.clients}) | ${secs(m.firstMs)} | ${secs(m.medianMs)} | ${secs(m.lastMs)} | ${bytesText(m.bytesPerClient?.mean)} | ${bytesText(m.payloadBytes)} | ${bytesText(m.wireBytes)} | ${m.server.cpuSeconds.toFixed(2)} | ${m.workersCpuSeconds.toFixed(2)} | ${mib(m.server.peakRssBytes)} | ${loop(m)} | ${m.unexpectedEnds}${m.problems.length > 0 ? `: ${m.problems[0]?.replace(/\|/g, "/").slice(0, 80)}` : ""} |`;
  for (const r of runs) {
    if (r.seed && !r.sharedSeed) lines.push(row(r, `${r.kind} (its seed)`, r.seed));
    if (r.measurement) lines.push(row(r, r.kind, r.measurement));
    if (r.error)
      lines.push(
        `| ${r.scenario} ${r.kind} | ${r.impl} | ${r.mode} | ${r.clients} | failed: ${r.error.replace(/\|/g, "/").slice(0, 120)} |||||||||||`,
      );
  }
  lines.push("");

  if (profiles.length > 0) {
    lines.push("## CPU profiles (server processes, top self time)", "");
    for (const p of profiles) {
      lines.push(`### ${p.label} (${(p.totalMs / 1000).toFixed(2)} s sampled, not idle; ${p.file})`, "");
      lines.push("| self ms | % | function | where |", "| --- | --- | --- | --- |");
      for (const t of p.top) lines.push(`| ${t.selfMs.toFixed(0)} | ${t.percent.toFixed(1)} | ${t.fn} | ${t.where} |`);
      lines.push("");
    }
  }
  return `${lines.join("\n")}\n`;
}

/** time-to-last-ack.svg: scenario 1, time to last ACK against N, log-log, one line per server. */
export function svg(config: BenchConfig, runs: readonly RunRecord[]): string {
  const width = 720;
  const height = 440;
  const left = 70;
  const right = 150;
  const top = 40;
  const bottom = 60;
  const colors: Record<ImplName, string> = { ours: "#1f77b4", limit: "#2ca02c", naive: "#d62728" };
  const points: { impl: ImplName; n: number; s: number; over: boolean }[] = [];
  for (const r of runs) {
    if (r.scenario !== 1 || !r.measurement) continue;
    const m = r.measurement;
    if (m.status === "ok" && m.lastMs !== undefined)
      points.push({ impl: r.impl, n: r.clients, s: m.lastMs / 1000, over: false });
    else points.push({ impl: r.impl, n: r.clients, s: m.elapsedMs / 1000, over: true });
  }
  const ns = config.seedClients;
  const xMin = Math.min(...ns);
  const xMax = Math.max(...ns);
  const ys = points.map((p) => p.s).filter((s) => s > 0);
  const yMinExp = Math.floor(Math.log10(Math.min(...ys, 0.01)));
  const yMaxExp = Math.ceil(Math.log10(Math.max(...ys, 1)));
  const xMinExp = Math.floor(Math.log10(xMin));
  const xMaxExp = Math.max(Math.ceil(Math.log10(xMax)), xMinExp + 1);
  const x = (n: number) => left + ((Math.log10(n) - xMinExp) / (xMaxExp - xMinExp)) * (width - left - right);
  const y = (s: number) =>
    top + (1 - (Math.log10(Math.max(s, 10 ** yMinExp)) - yMinExp) / (yMaxExp - yMinExp)) * (height - top - bottom);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${(left + width - right) / 2}" y="22" font-size="14" text-anchor="middle">Scenario 1: time from setSnapshot to the last client's ACK</text>`,
  );
  for (let e = yMinExp; e <= yMaxExp; e++) {
    const yy = y(10 ** e);
    out.push(
      `<line x1="${left}" y1="${yy}" x2="${width - right}" y2="${yy}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${yy + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)} s</text>`,
    );
  }
  for (let e = xMinExp; e <= xMaxExp; e++) {
    const xx = x(10 ** e);
    out.push(
      `<line x1="${xx}" y1="${top}" x2="${xx}" y2="${height - bottom}" stroke="#ddd"/>`,
      `<text x="${xx}" y="${height - bottom + 16}" text-anchor="middle">${10 ** e}</text>`,
    );
  }
  out.push(
    `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="black"/>`,
    `<text x="${(left + width - right) / 2}" y="${height - 20}" text-anchor="middle">ADS streams (N), log scale</text>`,
    `<text x="18" y="${(top + height - bottom) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(top + height - bottom) / 2})">time to last ACK, log scale</text>`,
  );
  impls.forEach((impl, i) => {
    const mine = points.filter((p) => p.impl === impl).sort((a, b) => a.n - b.n);
    if (mine.length > 0) {
      const path = mine.map((p, j) => `${j === 0 ? "M" : "L"}${x(p.n).toFixed(1)},${y(p.s).toFixed(1)}`).join(" ");
      out.push(`<path d="${path}" fill="none" stroke="${colors[impl]}" stroke-width="2"/>`);
      for (const p of mine) {
        const px = x(p.n);
        const py = y(p.s);
        if (p.over) {
          out.push(
            `<path d="M${(px - 6).toFixed(1)},${(py + 5).toFixed(1)} L${(px + 6).toFixed(1)},${(py + 5).toFixed(1)} L${px.toFixed(1)},${(py - 7).toFixed(1)} Z" fill="white" stroke="${colors[impl]}" stroke-width="2"/>`,
            `<text x="${(px - 10).toFixed(1)}" y="${(py + 4).toFixed(1)}" text-anchor="end" fill="${colors[impl]}">&gt; ${p.s.toFixed(0)} s (stopped at the budget)</text>`,
          );
        } else {
          out.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="4" fill="${colors[impl]}"/>`);
        }
      }
    }
    const ly = top + 10 + i * 20;
    out.push(
      `<line x1="${width - right + 15}" y1="${ly}" x2="${width - right + 40}" y2="${ly}" stroke="${colors[impl]}" stroke-width="2"/>`,
      `<text x="${width - right + 46}" y="${ly + 4}">${impl === "ours" ? "ours" : impl === "limit" ? "limit (node:http2)" : "naive (grpc-js)"}</text>`,
    );
  });
  out.push(
    `<text x="${width - right + 15}" y="${top + 80}" font-size="10">${config.seedShape.clusters} clusters ×</text>`,
    `<text x="${width - right + 15}" y="${top + 93}" font-size="10">${config.seedShape.endpointsPerCluster} endpoints</text>`,
    "</svg>",
  );
  return `${out.join("\n")}\n`;
}
