/**
 * M1-M2: the model-based protocol fuzzer (issue 16, item 4). Random sequences
 * of snapshot changes and client actions (subscribe, unsubscribe, wildcard on
 * and off, ACK, NACK, stale nonces, reconnect with the versions held or old
 * ones, server restarts; SotW and delta, ADS and per-type) against a real
 * server, with invariants checked after every step and at quiescence (see
 * src/model/). M1 runs the default cache, M2 the ADS-mode cache that holds
 * named requests. Saved regressions replay first; a new failure is shrunk and
 * appended to regressions.json. FUZZ_RUNS sets the sequences per property,
 * FUZZ_SEED replays a run.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { FuzzHarness } from "./model/fuzz-harness.js";
import { arbSequence, type Sequence } from "./model/steps.js";
import { record } from "./support/results.js";

const regressionsFile = new URL("../regressions.json", import.meta.url);
interface Regression {
  readonly note: string;
  readonly sequence: Sequence;
}
const regressions = JSON.parse(readFileSync(regressionsFile, "utf8")) as Regression[];

const runs = Number(process.env["FUZZ_RUNS"] ?? "") || 50;
const seed = Number(process.env["FUZZ_SEED"] ?? "") || Date.now() % 2 ** 31;
const maxSteps = 40;

for (const [id, ads] of [
  ["M1", false],
  ["M2", true],
] as const) {
  describe(`${id} model fuzzer, ${ads ? "ADS-mode cache" : "default cache"}`, () => {
    let harness: FuzzHarness;
    before(async () => {
      harness = await FuzzHarness.start(ads);
    });
    after(async () => {
      await harness.stop();
    });

    it(`${id} replays every saved regression sequence`, async () => {
      for (const regression of regressions.filter((r) => r.sequence.ads === ads)) {
        await harness.run(regression.sequence).catch((error: unknown) => {
          throw new Error(`regression "${regression.note}": ${String(error)}`);
        });
      }
    });

    it(`${id} keeps every invariant over random sequences (seed ${seed})`, { timeout: 3_600_000 }, async () => {
      const started = Date.now();
      let steps = 0;
      const result = await fc.check(
        fc.asyncProperty(arbSequence(ads, maxSteps), async (sequence) => {
          steps += await harness.run(sequence);
        }),
        { numRuns: runs, seed },
      );
      const seconds = (Date.now() - started) / 1000;
      console.log(
        `# ${id}: ${result.numRuns} sequences, ${steps} steps (shrinking included), ${seconds.toFixed(1)} s, seed ${seed}`,
      );
      record({ kind: "fuzz", property: `${id} model`, inputs: steps, passed: !result.failed });
      if (result.failed && result.counterexample) {
        const [sequence] = result.counterexample;
        const saved = [...regressions, { note: `found with seed ${seed}: ${String(result.errorInstance)}`, sequence }];
        writeFileSync(regressionsFile, `${JSON.stringify(saved, null, 2)}\n`);
        throw new Error(
          `${fc.defaultReportMessage(result)}\nshrunk to ${sequence.steps.length} steps, saved in regressions.json`,
        );
      }
    });
  });
}
