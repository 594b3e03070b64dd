/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and sums self time per function,
 * so the report can say where a server's CPU went.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly hitCount?: number;
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface SelfTime {
  readonly fn: string;
  readonly where: string;
  readonly selfMs: number;
  readonly percent: number;
}

/** Shortens a file URL to the part after node_modules/.pnpm/<pkg>/node_modules or the repo root. */
function shortUrl(url: string): string {
  if (!url) return "(native)";
  const file = url.replace(/^file:\/\//, "");
  const nm = file.lastIndexOf("node_modules/");
  if (nm >= 0) return file.slice(nm + "node_modules/".length);
  const packages = file.indexOf("/packages/");
  if (packages >= 0) return file.slice(packages + 1);
  const bench = file.indexOf("/benchmarks/");
  if (bench >= 0) return file.slice(bench + 1);
  return path.basename(file);
}

/** Self time per function (samples × their time deltas), largest first. */
export function topSelfTime(file: string, limit = 15): { totalMs: number; top: SelfTime[] } {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // Each sample's time is the delta to the next one.
    const dt = deltas[i + 1] ?? 0;
    const id = samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  const byFunction = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const fn = node.callFrame.functionName || "(anonymous)";
    if (fn === "(idle)") continue;
    total += us;
    const where = node.callFrame.url ? `${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}` : "";
    const key = `${fn}\0${where}`;
    const entry = byFunction.get(key) ?? { fn, where, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
  }
  const top = [...byFunction.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: e.us / 1000, percent: total > 0 ? (100 * e.us) / total : 0 }));
  return { totalMs: total / 1000, top };
}
