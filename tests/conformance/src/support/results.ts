/**
 * Results every spec file appends to one JSON-lines file per test run, read by
 * `zz-summary.spec.ts` for the one-line summary. `node --test` runs each spec
 * file in a child of the same runner process, so the runner's pid names the
 * run. Numbers are what the tests measured, never constants.
 */
import { appendFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One line of the results file. */
export type ResultLine =
  | { readonly kind: "case"; readonly id: string; readonly name: string; readonly status: CaseStatus }
  | { readonly kind: "fuzz"; readonly property: string; readonly inputs: number; readonly passed: boolean }
  | { readonly kind: "fault"; readonly name: string; readonly survived: boolean; readonly numbers: object }
  | { readonly kind: "lost"; readonly where: string; readonly resources: number };

/** passed; failed; known: failed and listed in known-failures.json; unexpected-pass: listed there but passed. */
export type CaseStatus = "passed" | "failed" | "known" | "unexpected-pass";

export const resultsFile = join(
  tmpdir(),
  `xds-conformance-${process.env["XDS_CONFORMANCE_RUN"] ?? process.ppid}.jsonl`,
);

export function record(line: ResultLine): void {
  appendFileSync(resultsFile, `${JSON.stringify(line)}\n`);
}

export function readResults(): ResultLine[] {
  if (!existsSync(resultsFile)) return [];
  return readFileSync(resultsFile, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as ResultLine);
}

export function clearResults(): void {
  rmSync(resultsFile, { force: true });
}
