import type { Resource, XdsError } from "@nebucloud/xds-core";

/**
 * What a watcher hears about the resources it watches. `onChange` is called
 * with every watched resource the client holds whenever one of them is added,
 * changed or removed (and once at first for a wildcard watch, when the first
 * response for its type arrives, even if empty); `onDoesNotExist` when a
 * watched resource is removed by the server or was not sent within the
 * does-not-exist timeout; `onError` when the stream fails or a response for
 * the type is rejected (the resources held stay current). A handler that
 * throws is logged and never affects other watchers.
 */
export interface WatchHandler {
  /**
   * Every watched resource the client holds now, by name: a whole view rather
   * than a diff, so a handler never has to merge. The map is fresh on each
   * call and the handler may keep it; the client never changes it afterwards.
   * Handlers run synchronously on the client's own turn, one at a time, so a
   * slow handler holds up the handling of the next response.
   */
  onChange(resources: ReadonlyMap<string, Resource>): void;
  /**
   * `name` was removed by the server (or its TTL ran out), or was never sent
   * within the does-not-exist timeout. A timeout is reported only for names
   * watched explicitly, since a wildcard watch cannot miss a name it never
   * asked for. After a removal `onChange` follows with the smaller view.
   * Optional: without it, absence shows only as a missing key.
   */
  onDoesNotExist?(name: string): void;
  /**
   * The stream failed (once per outage, not per retry) or a response for the
   * type was rejected. Informational: the client keeps retrying and what it
   * holds stays current, so there is nothing to clean up. Optional.
   */
  onError?(error: XdsError): void;
}

/** One {@link XdsClient.watch} call. */
export interface Watcher {
  readonly handler: WatchHandler;
  /** Watches every resource of the type. */
  readonly wildcard: boolean;
  /** Names watched explicitly (opaque: xdstp:// names included). */
  readonly names: ReadonlySet<string>;
  /** Whether `onChange` has been called at least once. */
  initialized: boolean;
}

/** What a type's subscription asks the server for: the union of its watchers. */
export interface Interest {
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
}

/** Nothing subscribed. */
export const noInterest: Interest = Object.freeze({ wildcard: false, names: new Set<string>() });

/** Whether `interest` covers the resource `name`. */
export function covers(interest: Interest, name: string): boolean {
  return interest.wildcard || interest.names.has(name);
}

/** Whether two interests ask for the same resources. */
export function sameInterest(a: Interest, b: Interest): boolean {
  if (a.wildcard !== b.wildcard || a.names.size !== b.names.size) return false;
  for (const name of a.names) if (!b.names.has(name)) return false;
  return true;
}

/**
 * The watchers of one type and the union of what they ask for. Many watchers
 * share one subscription: a name stays subscribed while any watcher names it.
 */
export class TypeSubscription {
  readonly #watchers = new Set<Watcher>();
  readonly #nameCounts = new Map<string, number>();
  #wildcards = 0;
  #interest: Interest = noInterest;

  /** Adds a watcher; true when the subscription now asks for more. */
  add(watcher: Watcher): boolean {
    this.#watchers.add(watcher);
    let grew = false;
    if (watcher.wildcard && this.#wildcards++ === 0) grew = true;
    for (const name of watcher.names) {
      const count = this.#nameCounts.get(name) ?? 0;
      if (count === 0) grew = true;
      this.#nameCounts.set(name, count + 1);
    }
    if (grew) this.#recompute();
    return grew;
  }

  /** Removes a watcher; true when the subscription now asks for less. Idempotent. */
  remove(watcher: Watcher): boolean {
    if (!this.#watchers.delete(watcher)) return false;
    let shrank = false;
    if (watcher.wildcard && --this.#wildcards === 0) shrank = true;
    for (const name of watcher.names) {
      const count = (this.#nameCounts.get(name) ?? 1) - 1;
      if (count === 0) {
        this.#nameCounts.delete(name);
        shrank = true;
      } else this.#nameCounts.set(name, count);
    }
    if (shrank) this.#recompute();
    return shrank;
  }

  /** The union of every watcher's interest (a fresh object after each change; treat as immutable). */
  get interest(): Interest {
    return this.#interest;
  }

  /** The watchers, in the order they were added. */
  get watchers(): readonly Watcher[] {
    return [...this.#watchers];
  }

  /** Whether no watcher is left. */
  get empty(): boolean {
    return this.#watchers.size === 0;
  }

  #recompute(): void {
    this.#interest = { wildcard: this.#wildcards > 0, names: new Set(this.#nameCounts.keys()) };
  }
}

/** Whether `watcher` watches the resource `name`. */
export function watches(watcher: Watcher, name: string): boolean {
  return watcher.wildcard || watcher.names.has(name);
}
