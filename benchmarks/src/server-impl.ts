/**
 * What every server under test implements inside its own process, so that the
 * main process drives ours, the limit and the naive server the same way.
 */
import type { StateSpec } from "./fixture.js";

/** What clients will hold once a state is applied: what the load generators wait for. */
export interface Plan {
  /** SotW version_info per type URL for a client that subscribes to every resource. */
  readonly versions: Readonly<Record<string, string>>;
  /** Resources per type URL. */
  readonly counts: Readonly<Record<string, number>>;
  /** The resources this step changed, with their delta (per-resource) versions. */
  readonly changed: readonly { readonly typeUrl: string; readonly name: string; readonly version: string }[];
}

export interface ServerImpl {
  /** Listens on 127.0.0.1, any port; returns HOST:PORT. */
  start(): Promise<string>;
  /** What a state will look like to clients. Must not warm anything `apply` will use. */
  plan(spec: StateSpec): Plan;
  /** Builds the messages of a state, ready for `apply` (not encoded). */
  stage(spec: StateSpec): void;
  /** Makes the staged state current for node-0 .. node-(nodes-1) and starts pushing it. Timed. */
  apply(nodes: number): void;
  /** Streams that have asked for both CDS and LDS. */
  subscribed(): number;
  /** Streams whose client has ACKed everything written to it (the server has seen the ACKs); optional. */
  settled?(): number;
  /** Encodes and hashes the staged state now (for memory baselines); optional. */
  warm?(): void;
  stop(): Promise<void>;
}

/** SotW versions of the servers that number versions instead of hashing: the step that last changed the type. */
export function countedVersions(step: number, types: { cds: string; eds: string; lds: string; rds: string }) {
  return {
    [types.cds]: `cds-${step - (step % 10)}`,
    [types.eds]: `eds-${step}`,
    [types.lds]: "lds-0",
    [types.rds]: "rds-0",
  };
}
