/**
 * Runs last (the glob sorts it last): reads what every spec file recorded and
 * prints the one line a person can quote. Every number is counted from the
 * results, none is written here.
 */
import assert from "node:assert/strict";
import { after, it } from "node:test";
import { clearResults, readResults, resultsFile } from "./support/results.js";

const results = readResults();

it("summarises the run", () => {
  assert.ok(results.length > 0, `no results in ${resultsFile}: run the whole suite (pnpm test), not this file alone`);
});

after(() => {
  const cases = results.filter((r) => r.kind === "case");
  const passed = cases.filter((r) => r.status === "passed").length;
  const known = cases.filter((r) => r.status === "known").length;
  const fuzz = results.filter((r) => r.kind === "fuzz");
  const inputs = fuzz.reduce((sum, r) => sum + r.inputs, 0);
  const fuzzFailed = fuzz.filter((r) => !r.passed).length;
  const faults = results.filter((r) => r.kind === "fault");
  const survived = faults.filter((r) => r.survived).length;
  const lost = results.filter((r) => r.kind === "lost").reduce((sum, r) => sum + r.resources, 0);
  const notes = [
    known > 0 ? `${known} known failure${known === 1 ? "" : "s"}` : "",
    fuzzFailed > 0 ? `${fuzzFailed} fuzz propert${fuzzFailed === 1 ? "y" : "ies"} failed` : "",
  ].filter(Boolean);
  console.log(
    `conformance: ${passed}/${cases.length} cases passed, fuzz inputs tried: ${inputs}, faults survived: ${survived}/${faults.length}, resources lost: ${lost}${notes.length > 0 ? ` (${notes.join(", ")})` : ""}`,
  );
  clearResults();
});
