import { type Resource, versionOf } from "@nebucloud/xds-core";
import type {
  DeltaRequest,
  DeltaResponse,
  DeltaSubscriptionState,
  SotwRequest,
  SotwResponse,
  SubscriptionState,
} from "./cache.js";

/** The explicit wildcard name. */
export const Wildcard = "*";

/** Whether a subscription (wildcard, exact names, `prefix/*` globs) covers `name`. */
export function covers(state: { wildcard: boolean; subscribed: ReadonlySet<string> }, name: string): boolean {
  if (state.wildcard || state.subscribed.has(name)) return true;
  for (const pattern of state.subscribed) {
    if (pattern.endsWith("/*") && name.startsWith(pattern.slice(0, -1))) return true;
  }
  return false;
}

function hasGlob(subscribed: ReadonlySet<string>): boolean {
  for (const name of subscribed) if (name.endsWith("/*")) return true;
  return false;
}

const immutableMaps = new WeakSet<object>();

/** What is computed once for a whole immutable set of resources. */
interface Whole {
  readonly version: string;
  readonly returned: ReadonlyMap<string, string>;
  /** Every resource of the set, in its order: the answer to a client that holds none of them. */
  readonly resources: readonly Resource[];
}

const wholeSets = new WeakMap<object, Whole>();

/**
 * Marks a resource map as never changing (a snapshot's), so that the version
 * and name -> version map of the whole set are computed once for it, not once
 * per watch: with a thousand streams all asking for everything, that hashing
 * was most of the work.
 */
export function markImmutable(map: ReadonlyMap<string, Resource>): void {
  immutableMaps.add(map);
}

/** The version of the whole set a name -> version map was made for (see {@link wholeOf}). */
const wholeVersions = new WeakMap<ReadonlyMap<string, string>, string>();

/** The version and name -> version map of a whole immutable set; undefined for a mutable one. */
function wholeOf(all: ReadonlyMap<string, Resource>): Whole | undefined {
  if (!immutableMaps.has(all)) return undefined;
  let whole = wholeSets.get(all);
  if (!whole) {
    const returned = new Map<string, string>();
    for (const [name, resource] of all) returned.set(name, resource.version);
    whole = { version: versionOf(all.values()), returned, resources: [...all.values()] };
    wholeSets.set(all, whole);
    wholeVersions.set(returned, whole.version);
  }
  return whole;
}

interface WholeDiff {
  /** Names new or changed in the later set. */
  readonly changed: readonly string[];
  /** Names the earlier set had and the later one lacks. */
  readonly removed: readonly string[];
}

/** `compute()`, done once per pair of objects and kept while both live. */
function oncePerPair<A extends object, B extends object, V>(
  memo: WeakMap<A, WeakMap<B, V>>,
  a: A,
  b: B,
  compute: () => V,
): V {
  let byB = memo.get(a);
  if (!byB) {
    byB = new WeakMap();
    memo.set(a, byB);
  }
  let value = byB.get(b);
  if (value === undefined) {
    value = compute();
    byB.set(b, value);
  }
  return value;
}

const wholeDiffs = new WeakMap<ReadonlyMap<string, string>, WeakMap<ReadonlyMap<string, string>, WholeDiff>>();

/**
 * What changed from one whole set to another, computed once for every
 * stream that goes from the one to the other: a thousand wildcard delta
 * clients of one snapshot cost one comparison, not a thousand.
 */
function diffWholes(from: ReadonlyMap<string, string>, to: ReadonlyMap<string, string>): WholeDiff {
  return oncePerPair(wholeDiffs, from, to, () => {
    const changed: string[] = [];
    const removed: string[] = [];
    for (const [name, version] of to) if (from.get(name) !== version) changed.push(name);
    for (const name of from.keys()) if (!to.has(name)) removed.push(name);
    return { changed, removed };
  });
}

/**
 * The subscription of a one-off (REST/Fetch) request: its names, or every
 * resource when it names none or `*`. A REST client holds nothing between
 * calls but its version, so that version is taken at its word.
 */
export function fetchState(request: SotwRequest): SubscriptionState {
  const names = request.resourceNames.filter((n) => n !== Wildcard);
  return { wildcard: names.length === 0, subscribed: new Set(names), returned: new Map(), resumed: true };
}

const immutableNames = new WeakSet<ReadonlySet<string>>();
const coveredWholes = new WeakMap<ReadonlySet<string>, WeakMap<ReadonlyMap<string, Resource>, boolean>>();

/**
 * A set of resource names that will never change, for subscriptions shared
 * by many streams: what is worked out for it against an immutable snapshot
 * (whether it names every resource) is then worked out once, not per stream.
 */
export function immutableNameSet(names: Iterable<string>): ReadonlySet<string> {
  const set = new Set(names);
  immutableNames.add(set);
  return set;
}

/** Whether a subscription covers every resource of `all` (checked without building the selection). */
function coversAll(state: { wildcard: boolean; subscribed: ReadonlySet<string> }, all: ReadonlyMap<string, Resource>) {
  if (state.wildcard) return true;
  if (state.subscribed.size < all.size) return false;
  if (!immutableNames.has(state.subscribed)) return countsAll(state, all);
  return oncePerPair(coveredWholes, state.subscribed, all, () => countsAll(state, all));
}

function countsAll(state: { wildcard: boolean; subscribed: ReadonlySet<string> }, all: ReadonlyMap<string, Resource>) {
  if (hasGlob(state.subscribed)) return selectResources(state, all).size === all.size;
  let found = 0;
  for (const name of state.subscribed) if (all.has(name)) found++;
  return found === all.size;
}

/** The resources of `all` that a subscription covers, by name. */
export function selectResources(
  state: { wildcard: boolean; subscribed: ReadonlySet<string> },
  all: ReadonlyMap<string, Resource>,
): Map<string, Resource> {
  const selected = new Map<string, Resource>();
  if (state.wildcard || hasGlob(state.subscribed)) {
    for (const [name, resource] of all) if (covers(state, name)) selected.set(name, resource);
  } else {
    for (const name of state.subscribed) {
      const resource = all.get(name);
      if (resource) selected.set(name, resource);
    }
  }
  return selected;
}

/**
 * The SotW answer to a request from `all` (the cache's resources of the type),
 * or `undefined` when the client is current or must wait. Shared by every
 * cache so that they answer alike:
 * - the version is the content hash of exactly what the client will hold, so an
 *   unrelated change never causes a push and equal content never differs;
 * - a NACKed version is not sent again (go-control-plane #962);
 * - full-state types (CDS, LDS) carry every subscribed resource; the others
 *   only what changed, and are not answered when nothing did (a subscribed
 *   resource the client holds being removed counts as a change: the answer may
 *   then carry no resource, only the new version and returned map).
 */
export function answerSotw(
  request: SotwRequest,
  state: SubscriptionState,
  all: ReadonlyMap<string, Resource>,
  fullState: boolean,
): SotwResponse | undefined {
  const whole = wholeOf(all);
  const fromVersion = wholeVersions.get(state.returned);
  if (whole && fromVersion !== undefined) {
    // The client holds the whole of an earlier set; if it wants every change
    // to this one, it ends up holding the whole of this set, and the work is
    // the diff of the two sets, done once for every such client.
    const diff = diffWholes(state.returned, whole.returned);
    if (state.wildcard || diff.changed.every((name) => covers(state, name))) {
      const same = diff.changed.length === 0 && diff.removed.length === 0;
      if (whole.version === request.versionInfo && (state.resumed === true || same)) return undefined;
      if (whole.version === state.nackedVersion) return undefined;
      const resources = fullState ? whole.resources : diff.changed.map((name) => all.get(name) as Resource);
      if (!fullState && resources.length === 0 && diff.removed.length === 0) return undefined;
      return {
        request,
        typeUrl: request.typeUrl,
        version: whole.version,
        resources,
        returned: whole.returned,
        heartbeat: false,
      };
    }
  }
  const selected: ReadonlyMap<string, Resource> = whole && coversAll(state, all) ? all : selectResources(state, all);
  let returned: ReadonlyMap<string, string>;
  let version: string;
  if (whole && selected.size === all.size) {
    // A subset as large as the set is the set: reuse what was computed once.
    returned = whole.returned;
    version = whole.version;
  } else {
    const own = new Map<string, string>();
    for (const [name, resource] of selected) own.set(name, resource.version);
    returned = own;
    version = versionOf(selected.values());
  }
  if (version === request.versionInfo && (state.resumed === true || sameVersions(state.returned, returned))) {
    return undefined;
  }
  if (version === state.nackedVersion) return undefined;
  let resources: readonly Resource[];
  if (whole && selected === all && (fullState || state.returned.size === 0)) {
    // Everything, to a client that holds nothing or must get everything: one list for all of them.
    resources = whole.resources;
  } else if (fullState) {
    resources = [...selected.values()];
  } else {
    const changed: Resource[] = [];
    for (const [name, resource] of selected) {
      if (state.returned.get(name) !== resource.version) changed.push(resource);
    }
    // The client may hold these already from an earlier stream: its version says so.
    // But a subscribed resource it holds that no longer exists must still move
    // its version and returned map on, even though nothing is left to send.
    if (changed.length === 0 && !heldButGone(state, all)) return undefined;
    resources = changed;
  }
  return { request, typeUrl: request.typeUrl, version, resources, returned, heartbeat: false };
}

/** Whether the client holds a resource it still subscribes to that `all` no longer has. */
function heldButGone(state: SubscriptionState, all: ReadonlyMap<string, Resource>): boolean {
  for (const name of state.returned.keys()) if (!all.has(name) && covers(state, name)) return true;
  return false;
}

function sameVersions(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, version] of a) if (b.get(name) !== version) return false;
  return true;
}

/**
 * The delta answer to a subscription from `all`, or `undefined` when the
 * client holds exactly what it subscribed to. Sends what is new or changed,
 * and removes what the client holds but no longer exists.
 */
export function answerDelta(
  request: DeltaRequest,
  state: DeltaSubscriptionState,
  all: ReadonlyMap<string, Resource>,
  systemVersion: string,
): DeltaResponse | undefined {
  const whole = wholeOf(all);
  const from = state.versions;
  const fromVersion = wholeVersions.get(from);
  if (whole && fromVersion !== undefined) {
    // The client holds the whole of an earlier set. When it wants every change
    // to this one too (a wildcard, or names covering them), it will hold the
    // whole of this set: the answer is the diff of the two sets, the same for
    // every such client.
    const diff = diffWholes(from, whole.returned);
    if (state.wildcard || diff.changed.every((name) => covers(state, name))) {
      if (diff.changed.length === 0 && diff.removed.length === 0) return undefined;
      return {
        request,
        typeUrl: request.typeUrl,
        systemVersion,
        resources: diff.changed.map((name) => all.get(name) as Resource),
        removed: diff.removed,
        nextVersions: whole.returned,
        shareKey: `${request.typeUrl}\0${fromVersion}>${whole.version}\0delta`,
      };
    }
  }
  const resources: Resource[] = [];
  const removed: string[] = [];
  const nextVersions = new Map(state.versions);
  const full = whole !== undefined && coversAll(state, all);
  const selected = full ? all : selectResources(state, all);
  for (const [name, resource] of selected) {
    if (state.versions.get(name) !== resource.version) {
      resources.push(resource);
      nextVersions.set(name, resource.version);
    }
  }
  for (const name of state.versions.keys()) {
    if (!all.has(name)) {
      removed.push(name);
      nextVersions.delete(name);
    }
  }
  if (resources.length === 0 && removed.length === 0) return undefined;
  // Every resource of an immutable set, nothing removed: the same bytes for
  // every client at this content, so the encoding can be shared.
  const everything = whole && resources.length === all.size && removed.length === 0;
  return {
    request,
    typeUrl: request.typeUrl,
    systemVersion,
    resources,
    removed,
    // A client that now holds exactly the whole set shares its map, so that
    // the next change takes the path above.
    nextVersions: whole && full ? whole.returned : nextVersions,
    ...(everything ? { shareKey: `${request.typeUrl}\0${whole.version}\0delta` } : {}),
  };
}
