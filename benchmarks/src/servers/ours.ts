/**
 * The server under test: `@nebucloud/xds-server` over a `SnapshotCache`,
 * built exactly as a user would (`XdsServer.builder().withCache(cache)
 * .withMetrics().serve(...)`), one node key per client sharing one snapshot.
 */
import type { Message } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { Resource, versionOf } from "@nebucloud/xds-core";
import { XdsServer, type XdsServerHandle } from "@nebucloud/xds-server";
import { adsTypes, buildState, CDS, changeAt, changedBy, countsOf, EDS, LDS, type StateSpec } from "../fixture.js";
import { settledMemory } from "../process-stats.js";
import type { Plan, ServerImpl } from "../server-impl.js";

type Resources = Record<string, Resource[]>;

function wrap(byType: Record<string, Message[]>): Resources {
  const out: Resources = {};
  for (const [typeUrl, messages] of Object.entries(byType))
    out[typeUrl] = messages.map((m) => Resource.from(typeUrl, m));
  return out;
}

function sameShape(a: StateSpec, b: StateSpec): boolean {
  return (
    a.clusters === b.clusters &&
    a.endpointsPerCluster === b.endpointsPerCluster &&
    a.clustersPerListener === b.clustersPerListener
  );
}

export class OursServer implements ServerImpl {
  readonly #cache = new SnapshotCache();
  #handle: XdsServerHandle | undefined;
  #staged: { spec: StateSpec; resources: Resources; snapshot: Snapshot } | undefined;

  async start(): Promise<string> {
    this.#handle = await XdsServer.builder().withCache(this.#cache).withMetrics().serve("127.0.0.1:0");
    return this.#handle.address;
  }

  plan(spec: StateSpec): Plan {
    // A throwaway copy: versions need encodings, and the copy that is served
    // must be encoded inside the timed window, as a fresh snapshot would be.
    const resources = wrap(buildState(spec));
    const versions: Record<string, string> = {};
    for (const typeUrl of adsTypes) versions[typeUrl] = versionOf(resources[typeUrl] ?? []);
    const changed = Object.entries(wrap(changedBy(spec, spec.step))).flatMap(([typeUrl, list]) =>
      list.map((r) => ({ typeUrl, name: r.name, version: r.version })),
    );
    return { versions, counts: countsOf(spec), changed };
  }

  stage(spec: StateSpec): void {
    const previous = this.#staged;
    let resources: Resources;
    if (previous && sameShape(previous.spec, spec) && spec.step === previous.spec.step + 1) {
      // The next step of the schedule: only what changed is new; every other resource (and its encoding) is reused.
      resources = { ...previous.resources };
      const change = changeAt(spec, spec.step);
      const changed = wrap(changedBy(spec, spec.step));
      const eds = [...(resources[EDS] ?? [])];
      eds[change.endpointIndex] = changed[EDS]?.[0] as Resource;
      resources[EDS] = eds;
      if (change.clusterIndex !== undefined) {
        const cds = [...(resources[CDS] ?? [])];
        cds[change.clusterIndex] = changed[CDS]?.[0] as Resource;
        resources[CDS] = cds;
      }
    } else {
      resources = wrap(buildState(spec));
    }
    this.#staged = { spec, resources, snapshot: Snapshot.fromResources(resources) };
  }

  apply(nodes: number): void {
    const snapshot = this.#staged?.snapshot;
    if (!snapshot) throw new Error("apply before stage");
    for (let i = 0; i < nodes; i++) this.#cache.setSnapshot(`node-${i}`, snapshot);
  }

  subscribed(): number {
    let n = 0;
    for (const stream of this.#handle?.streams() ?? []) {
      const types = new Set(stream.status().map((s) => s.typeUrl));
      if (types.has(CDS) && types.has(LDS)) n++;
    }
    return n;
  }

  settled(): number {
    let n = 0;
    for (const stream of this.#handle?.streams() ?? []) {
      const status = stream.status();
      // A type with nothing sent (a reconnect that already held everything) has nothing to ACK.
      if (status.length > 0 && status.every((s) => s.sentVersion === "" || s.ackedVersion === s.sentVersion)) n++;
    }
    return n;
  }

  warm(): void {
    const snapshot = this.#staged?.snapshot;
    for (const typeUrl of adsTypes) snapshot?.version(typeUrl);
  }

  /**
   * Heap and RSS of one snapshot, of `keys` node keys sharing it, and of `keys`
   * node keys each holding its own identical snapshot (built from fresh
   * messages, encoded and hashed as serving would), after full GCs.
   */
  async nodeSnapshots(args: { spec: StateSpec; keys: number }) {
    const build = () => {
      const snapshot = Snapshot.fromResources(wrap(buildState(args.spec)));
      for (const typeUrl of adsTypes) snapshot.version(typeUrl);
      return snapshot;
    };
    const base = await settledMemory();
    const one = build();
    this.#cache.setSnapshot("solo", one);
    const withOne = await settledMemory();
    for (let i = 0; i < args.keys; i++) this.#cache.setSnapshot(`shared-${i}`, one);
    const withShared = await settledMemory();
    for (let i = 0; i < args.keys; i++) this.#cache.clearSnapshot(`shared-${i}`);
    const cleared = await settledMemory();
    for (let i = 0; i < args.keys; i++) this.#cache.setSnapshot(`own-${i}`, build());
    const withOwn = await settledMemory();
    return { base, withOne, withShared, cleared, withOwn };
  }

  async stop(): Promise<void> {
    this.#handle?.forceShutdown();
  }
}
