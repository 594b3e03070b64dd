import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { TypeUrl } from "@nebucloud/xds-core";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
} from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import fc from "fast-check";
import type { Cache, DeltaResponse, SotwResponse, Watch } from "./cache.js";
import { LinearCache } from "./linear-cache.js";
import { Snapshot } from "./snapshot.js";
import { SnapshotCache } from "./snapshot-cache.js";
import { covers } from "./subscription.js";

/*
 * Model-based checks: random sequences of subscribe / unsubscribe / update /
 * cancel against a cache, with simulated clients that apply each response and
 * reopen their watch as a server does after an ACK. Whatever the history, a
 * client must end up holding what a fresh subscriber with the same
 * subscription gets, and cancelling every watch must leave none behind.
 */

const EDS = TypeUrl.Endpoint;
const NODE = create(NodeSchema, { id: "node" });
const UNIVERSE = ["a", "b", "c", "x/1", "x/2"] as const;
/** What a client may name: the universe plus a glob over the x/ names. */
const NAMEABLE = [...UNIVERSE, "x/*"];
const { FUZZ_RUNS } = process.env;
const fuzzRuns = Number(FUZZ_RUNS);
const numRuns = Number.isInteger(fuzzRuns) && fuzzRuns > 0 ? fuzzRuns : 200;

const cla = (name: string, content: number): ClusterLoadAssignment =>
  create(ClusterLoadAssignmentSchema, { clusterName: name, endpoints: [{ locality: { zone: `z${content}` } }] });

/** A cache under test: how to replace its resources and count its watches. */
interface Harness {
  readonly cache: Cache;
  /** Makes `contents` (name -> content number) the cache's whole set of resources. */
  set(contents: ReadonlyMap<string, number>, incremental: boolean): void;
  numWatches(): number;
  close(): void;
}

function snapshotHarness(): Harness {
  const cache = new SnapshotCache();
  return {
    cache,
    set: (contents) =>
      cache.setSnapshot(
        "node",
        Snapshot.fromResources({ [EDS]: [...contents].map(([name, content]) => cla(name, content)) }),
      ),
    numWatches: () => cache.numWatches(),
    close: () => cache.close(),
  };
}

function linearHarness(): Harness {
  const cache = new LinearCache(EDS);
  let current = new Map<string, number>();
  return {
    cache,
    set: (contents, incremental) => {
      if (incremental) {
        const updates = [...contents].map(([name, content]) => cla(name, content));
        const deletes = [...current.keys()].filter((name) => !contents.has(name));
        cache.updateResources(updates, deletes);
      } else {
        cache.setResources([...contents].map(([name, content]) => cla(name, content)));
      }
      current = new Map(contents);
    },
    numWatches: () => cache.numWatches() + cache.numDeltaWatches(),
    close: () => {},
  };
}

/** A subscription: every resource, or some names (possibly a glob, possibly none). */
type Subscription = { readonly wildcard: true } | { readonly wildcard: false; readonly names: readonly string[] };

type Command =
  | { readonly kind: "subscribe"; readonly subscription: Subscription }
  | { readonly kind: "resubscribe"; readonly client: number; readonly add: readonly string[] }
  | { readonly kind: "unsubscribe"; readonly client: number; readonly remove: readonly string[] }
  | { readonly kind: "set"; readonly contents: ReadonlyMap<string, number>; readonly incremental: boolean }
  | { readonly kind: "cancel"; readonly client: number };

const subscriptionArb: fc.Arbitrary<Subscription> = fc.oneof(
  fc.constant({ wildcard: true } as const),
  fc.subarray(NAMEABLE, { minLength: 1 }).map((names) => ({ wildcard: false, names }) as const),
);
const contentsArb = fc
  .subarray([...UNIVERSE])
  .chain((names) => fc.tuple(...names.map(() => fc.integer({ min: 0, max: 2 }))).map((c) => ({ names, c })))
  .map(({ names, c }) => new Map(names.map((name, i) => [name, c[i] ?? 0])));
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: subscriptionArb.map((subscription) => ({ kind: "subscribe", subscription }) as const), weight: 3 },
  {
    arbitrary: fc
      .record({ client: fc.nat(), add: fc.subarray(NAMEABLE, { minLength: 1 }) })
      .map((c) => ({ kind: "resubscribe", ...c }) as const),
    weight: 2,
  },
  {
    arbitrary: fc
      .record({ client: fc.nat(), remove: fc.subarray(NAMEABLE, { minLength: 1 }) })
      .map((c) => ({ kind: "unsubscribe", ...c }) as const),
    weight: 2,
  },
  {
    arbitrary: fc
      .record({ contents: contentsArb, incremental: fc.boolean() })
      .map((c) => ({ kind: "set", ...c }) as const),
    weight: 4,
  },
  { arbitrary: fc.nat().map((client) => ({ kind: "cancel", client }) as const), weight: 1 },
);
const scenarioArb = fc.record({
  commands: fc.array(commandArb, { maxLength: 30 }),
  final: contentsArb,
});

/** What both protocols' clients share: a subscription and an open watch. */
interface ClientBase {
  wildcard: boolean;
  subscribed: Set<string>;
  watch: Watch | undefined;
  /** Answered since its watch was opened. */
  spent: boolean;
}

/** Drives simulated clients of one protocol through a command sequence. */
abstract class World<C extends ClientBase> {
  readonly clients: C[] = [];
  /** Clients that got a response and reopen their watch once it is ACKed. */
  readonly #toReopen: C[] = [];

  constructor(readonly harness: Harness) {}

  abstract newClient(subscription: Subscription): C;
  abstract open(client: C): Watch;
  /** What the client holds: name -> version. */
  abstract held(client: C): ReadonlyMap<string, string>;
  /** Forgets held names the subscription no longer covers, as the server does. */
  abstract prune(client: C): void;
  /** What a fresh subscriber with `client`'s subscription gets (nothing: empty). */
  abstract fresh(client: C): ReadonlyMap<string, string>;

  /** Called by a response: the watch is spent; reopen it after the ACK. */
  answered(client: C): void {
    client.watch = undefined;
    client.spent = true;
    this.#toReopen.push(client);
  }

  /** Opens the client's watch; one answered at once is left spent, to be reopened by {@link settle}. */
  #start(client: C): void {
    client.spent = false;
    const watch = this.open(client);
    if (!client.spent) client.watch = watch;
  }

  /** Reopens the watches of every client that was answered, until none is. */
  settle(): void {
    for (let client = this.#toReopen.shift(); client; client = this.#toReopen.shift()) {
      if (this.clients.includes(client) && !client.watch) this.#start(client);
    }
  }

  #pick(index: number): C | undefined {
    return this.clients.length === 0 ? undefined : this.clients[index % this.clients.length];
  }

  /** The server replaces the watch when the subscription changes. */
  #replace(client: C, change: () => void): void {
    client.watch?.cancel();
    client.watch = undefined;
    change();
    this.prune(client);
    this.#start(client);
  }

  run(command: Command): void {
    switch (command.kind) {
      case "subscribe": {
        const client = this.newClient(command.subscription);
        this.clients.push(client);
        this.#start(client);
        break;
      }
      case "resubscribe": {
        const client = this.#pick(command.client);
        if (client && !client.wildcard) {
          this.#replace(client, () => {
            for (const name of command.add) client.subscribed.add(name);
          });
        }
        break;
      }
      case "unsubscribe": {
        const client = this.#pick(command.client);
        if (client && !client.wildcard) {
          this.#replace(client, () => {
            for (const name of command.remove) client.subscribed.delete(name);
          });
        }
        break;
      }
      case "set":
        this.harness.set(command.contents, command.incremental);
        break;
      case "cancel": {
        const client = this.#pick(command.client);
        if (client) {
          client.watch?.cancel();
          this.clients.splice(this.clients.indexOf(client), 1);
        }
        break;
      }
    }
    this.settle();
  }

  /** Checks the property: every client holds what a fresh subscriber gets; cancelling leaves no watch. */
  check(): void {
    for (const client of this.clients) {
      assert.ok(client.watch, "every client has a watch open after settling");
      const label = client.wildcard ? "*" : [...client.subscribed].sort().join(",");
      assert.deepEqual(sorted(this.held(client)), sorted(this.fresh(client)), `client subscribed to [${label}]`);
    }
    for (const client of this.clients) client.watch?.cancel();
    assert.equal(this.harness.numWatches(), 0);
  }
}

const sorted = (map: ReadonlyMap<string, string>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const subscriptionOf = (subscription: Subscription) => ({
  wildcard: subscription.wildcard,
  subscribed: new Set(subscription.wildcard ? [] : subscription.names),
});

interface SotwClient extends ClientBase {
  returned: Map<string, string>;
  version: string;
}

class SotwWorld extends World<SotwClient> {
  newClient(subscription: Subscription): SotwClient {
    return { ...subscriptionOf(subscription), returned: new Map(), version: "", watch: undefined, spent: false };
  }

  #request(client: SotwClient, versionInfo: string) {
    return { typeUrl: EDS, node: NODE, resourceNames: [...client.subscribed], versionInfo };
  }

  open(client: SotwClient): Watch {
    const state = { wildcard: client.wildcard, subscribed: new Set(client.subscribed), returned: client.returned };
    return this.harness.cache.createWatch(this.#request(client, client.version), state, (response: SotwResponse) => {
      client.returned = new Map(response.returned);
      client.version = response.version;
      this.answered(client);
    });
  }

  held(client: SotwClient): ReadonlyMap<string, string> {
    return client.returned;
  }

  prune(client: SotwClient): void {
    for (const name of client.returned.keys()) if (!covers(client, name)) client.returned.delete(name);
  }

  fresh(client: SotwClient): ReadonlyMap<string, string> {
    let got: ReadonlyMap<string, string> = new Map();
    const state = { wildcard: client.wildcard, subscribed: new Set(client.subscribed), returned: new Map() };
    const watch = this.harness.cache.createWatch(this.#request(client, ""), state, (response) => {
      got = response.returned;
    });
    watch.cancel();
    return got;
  }
}

interface DeltaClient extends ClientBase {
  versions: Map<string, string>;
}

class DeltaWorld extends World<DeltaClient> {
  newClient(subscription: Subscription): DeltaClient {
    return { ...subscriptionOf(subscription), versions: new Map(), watch: undefined, spent: false };
  }

  open(client: DeltaClient): Watch {
    const state = { wildcard: client.wildcard, subscribed: new Set(client.subscribed), versions: client.versions };
    return this.harness.cache.createDeltaWatch({ typeUrl: EDS, node: NODE }, state, (response: DeltaResponse) => {
      client.versions = new Map(response.nextVersions);
      this.answered(client);
    });
  }

  held(client: DeltaClient): ReadonlyMap<string, string> {
    return client.versions;
  }

  prune(client: DeltaClient): void {
    for (const name of client.versions.keys()) if (!covers(client, name)) client.versions.delete(name);
  }

  fresh(client: DeltaClient): ReadonlyMap<string, string> {
    let got: ReadonlyMap<string, string> = new Map();
    const state = { wildcard: client.wildcard, subscribed: new Set(client.subscribed), versions: new Map() };
    const watch = this.harness.cache.createDeltaWatch({ typeUrl: EDS, node: NODE }, state, (response) => {
      got = response.nextVersions;
    });
    watch.cancel();
    return got;
  }
}

function property(makeHarness: () => Harness, makeWorld: (harness: Harness) => World<SotwClient | DeltaClient>) {
  fc.assert(
    fc.property(scenarioArb, ({ commands, final }) => {
      const harness = makeHarness();
      try {
        const world = makeWorld(harness);
        for (const command of commands) world.run(command);
        world.run({ kind: "set", contents: final, incremental: false });
        world.check();
      } finally {
        harness.close();
      }
    }),
    { numRuns },
  );
}

const sotwWorld = (harness: Harness) => new SotwWorld(harness) as World<SotwClient | DeltaClient>;
const deltaWorld = (harness: Harness) => new DeltaWorld(harness) as World<SotwClient | DeltaClient>;

describe("SnapshotCache under random command sequences", () => {
  test("a SotW client holds what a fresh subscriber gets, and cancelling leaves no watch", () => {
    property(snapshotHarness, sotwWorld);
  });

  test("a delta client holds what a fresh subscriber gets, and cancelling leaves no watch", () => {
    property(snapshotHarness, deltaWorld);
  });
});

describe("LinearCache under random command sequences", () => {
  test("a SotW client holds what a fresh subscriber gets, and cancelling leaves no watch", () => {
    property(linearHarness, sotwWorld);
  });

  test("a delta client holds what a fresh subscriber gets, and cancelling leaves no watch", () => {
    property(linearHarness, deltaWorld);
  });
});
