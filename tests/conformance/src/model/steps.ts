/**
 * A fuzz sequence as plain data: the clients it opens and the steps it takes.
 * Plain JSON rather than fast-check command objects, so that a shrunk failing
 * sequence is saved to `regressions.json` as it is and replayed on every run.
 */
import fc from "fast-check";
import { fuzzNames, fuzzTypes, nodeLabels } from "./world.js";

/** A client of a sequence: protocol, ADS or the per-type service of `type`, and its node. */
export interface ClientSpec {
  readonly protocol: "sotw" | "delta";
  readonly ads: boolean;
  /** Index into fuzzTypes: the per-type service's type (ADS clients use every type). */
  readonly type: number;
  readonly node: number;
}

/** Subscription forms: names only, `*` with the names, or the legacy empty list (first request). */
export type WildcardForm = "names" | "star" | "legacy";

export type Step =
  | {
      readonly k: "set";
      readonly node: number;
      readonly type: number;
      readonly name: number;
      readonly generation: number;
      readonly ttl: boolean;
    }
  | { readonly k: "remove"; readonly node: number; readonly type: number; readonly name: number }
  | {
      readonly k: "subscribe";
      readonly c: number;
      readonly type: number;
      readonly names: readonly number[];
      readonly form: WildcardForm;
    }
  | { readonly k: "ack"; readonly c: number; readonly type: number }
  | { readonly k: "nack"; readonly c: number; readonly type: number }
  | { readonly k: "stale"; readonly c: number; readonly type: number; readonly names: readonly number[] }
  | { readonly k: "reconnect"; readonly c: number; readonly old: boolean }
  | { readonly k: "restart" }
  | { readonly k: "settle" };

/** A whole sequence: which cache mode it runs against, its clients, its steps. */
export interface Sequence {
  readonly ads: boolean;
  readonly clients: readonly ClientSpec[];
  readonly steps: readonly Step[];
}

const type = fc.integer({ min: 0, max: fuzzTypes.length - 1 });
const node = fc.integer({ min: 0, max: nodeLabels.length - 1 });
const name = fc.integer({ min: 0, max: fuzzNames.length - 1 });
const client = fc.integer({ min: 0, max: 2 });
const names = fc.uniqueArray(name, { maxLength: fuzzNames.length });

export const arbClient: fc.Arbitrary<ClientSpec> = fc.record({
  protocol: fc.constantFrom("sotw" as const, "delta" as const),
  ads: fc.boolean(),
  type,
  node,
});

export const arbStep: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant("set" as const),
      node,
      type,
      name,
      generation: fc.integer({ min: 0, max: 3 }),
      ttl: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("remove" as const), node, type, name }) },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant("subscribe" as const),
      c: client,
      type,
      names,
      form: fc.constantFrom("names" as const, "star" as const, "legacy" as const),
    }),
  },
  { weight: 6, arbitrary: fc.record({ k: fc.constant("ack" as const), c: client, type }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("nack" as const), c: client, type }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("stale" as const), c: client, type, names }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("reconnect" as const), c: client, old: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ k: "settle" as const }) },
);

/** A restart is slow (a new server), so it is rarer than one step in a hundred. */
const arbRestart: fc.Arbitrary<Step> = fc.constant({ k: "restart" as const });

export function arbSequence(ads: boolean, maxSteps: number): fc.Arbitrary<Sequence> {
  return fc.record({
    ads: fc.constant(ads),
    clients: fc.array(arbClient, { minLength: 1, maxLength: 3 }),
    steps: fc.array(fc.oneof({ weight: 150, arbitrary: arbStep }, { weight: 1, arbitrary: arbRestart }), {
      maxLength: maxSteps,
      // fast-check's default size keeps arrays near ten; protocol bugs need longer histories.
      size: "max",
    }),
  });
}
