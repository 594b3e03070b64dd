/**
 * What a server process reports about a measurement window: CPU seconds,
 * peak and current RSS, heap, and event-loop delay percentiles.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";

export interface WindowStats {
  readonly cpuSeconds: number;
  readonly cpuUserSeconds: number;
  readonly cpuSystemSeconds: number;
  /** Peak RSS in the window: the kernel's high-water mark (reset at the window's start) where it can be reset, else sampled. */
  readonly peakRssBytes: number;
  readonly peakRssSource: "VmHWM" | "sampled";
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Event-loop delay in ms (perf_hooks.monitorEventLoopDelay, 5 ms resolution). */
  readonly eventLoopMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly mean: number };
}

/** Memory after two full GCs (needs --expose-gc). */
export interface MemorySample {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
  readonly arrayBuffersBytes: number;
}

function statusField(field: string): number | undefined {
  try {
    const match = readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Measures windows in this process: call {@link mark} at the start and {@link stats} at the end. */
export class StatsWindow {
  readonly #loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 5 });
  #cpu = process.cpuUsage();
  #hwmReset = false;
  #sampledPeak = 0;
  readonly #sampler: NodeJS.Timeout;

  constructor() {
    this.#loop.enable();
    this.#sampler = setInterval(() => {
      // Only where the kernel's high-water mark cannot be reset: sampling costs the server ~1% CPU.
      if (!this.#hwmReset) this.#sampledPeak = Math.max(this.#sampledPeak, process.memoryUsage.rss());
    }, 20);
    this.#sampler.unref();
  }

  /** Starts a window: CPU, event-loop histogram and peak RSS start over. */
  mark(): void {
    this.#cpu = process.cpuUsage();
    this.#loop.reset();
    this.#sampledPeak = process.memoryUsage.rss();
    try {
      // Linux: writing 5 resets the peak RSS (VmHWM) to the current RSS.
      writeFileSync("/proc/self/clear_refs", "5");
      this.#hwmReset = true;
    } catch {
      this.#hwmReset = false;
    }
  }

  stats(): WindowStats {
    const cpu = process.cpuUsage(this.#cpu);
    const rss = process.memoryUsage.rss();
    this.#sampledPeak = Math.max(this.#sampledPeak, rss);
    const hwm = this.#hwmReset ? statusField("VmHWM") : undefined;
    const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0);
    return {
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      cpuUserSeconds: cpu.user / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      peakRssBytes: hwm ?? this.#sampledPeak,
      peakRssSource: hwm !== undefined ? "VmHWM" : "sampled",
      rssBytes: rss,
      heapUsedBytes: process.memoryUsage().heapUsed,
      eventLoopMs: {
        p50: ms(this.#loop.percentile(50)),
        p99: ms(this.#loop.percentile(99)),
        max: ms(this.#loop.max),
        mean: ms(this.#loop.mean),
      },
    };
  }
}

/** Memory after full GCs, so that what is left is what is held. */
export async function settledMemory(): Promise<MemorySample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const m = process.memoryUsage();
  return {
    rssBytes: m.rss,
    heapUsedBytes: m.heapUsed,
    externalBytes: m.external,
    arrayBuffersBytes: m.arrayBuffers,
  };
}

/** CPU seconds and RSS of another process, from /proc (works while that process is busy). */
export function procStats(pid: number): { cpuSeconds: number; rssBytes: number; peakRssBytes: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name, in clock ticks (100/s on Linux).
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0) * 1024;
    return { cpuSeconds: ticks / 100, rssBytes: kb("VmRSS"), peakRssBytes: kb("VmHWM") };
  } catch {
    return undefined;
  }
}
