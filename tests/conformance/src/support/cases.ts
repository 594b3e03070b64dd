/**
 * Numbered conformance cases. Each test name is `Cnn[.variant] behaviour
 * (source)`. A case listed in `known-failures.json` (id -> reason) still runs:
 * its failure is reported as known, and a pass fails the run so the list never
 * goes stale. Nothing is skipped silently.
 */
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { record } from "./results.js";

const knownFailures: Readonly<Record<string, string>> = JSON.parse(
  readFileSync(new URL("../../known-failures.json", import.meta.url), "utf8"),
) as Record<string, string>;

/** Registers case `id` (e.g. `C01.sotw-ads`), titled `what (source)`. */
export function conformanceCase(
  id: string,
  what: string,
  source: string,
  fn: () => Promise<void>,
  options: { timeout?: number } = {},
): void {
  const name = `${id} ${what} (${source})`;
  const known = knownFailures[id] ?? knownFailures[id.split(".")[0] ?? id];
  it(name, { timeout: options.timeout ?? 20_000 }, async () => {
    try {
      await fn();
    } catch (error) {
      if (known !== undefined) {
        record({ kind: "case", id, name, status: "known" });
        console.log(`# ${id}: known failure (${known}): ${String(error)}`);
        return;
      }
      record({ kind: "case", id, name, status: "failed" });
      throw error;
    }
    if (known !== undefined) {
      record({ kind: "case", id, name, status: "unexpected-pass" });
      throw new Error(`${id} passes but known-failures.json lists it (${known}): remove it from the list`);
    }
    record({ kind: "case", id, name, status: "passed" });
  });
}
