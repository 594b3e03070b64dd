import { immutableNameSet } from "@nebucloud/xds-cache";

/**
 * Subscriptions shared among streams. A thousand Envoys of one fleet ask for
 * the same hundred endpoint names, and every request decodes its own copies:
 * interned, they hold one Set and one list of names between them, which is
 * most of what an idle stream would otherwise keep.
 */

/** A subscription's names, as a set to look names up in and as the list the request gave. */
export interface SharedNames {
  readonly set: ReadonlySet<string>;
  readonly list: readonly string[];
}

const byKey = new Map<string, WeakRef<SharedNames>>();
const forget = new FinalizationRegistry<string>((key) => {
  if (byKey.get(key)?.deref() === undefined) byKey.delete(key);
});

// Frozen name lists (shared by every request that carried the same names) ->
// their subscription, found without joining a thousand names into a key.
const byList = new WeakMap<readonly string[], SharedNames>();

/** The shared, never-changing subscription of `names` (in the order given; duplicates dropped). */
export function sharedNames(names: readonly string[]): SharedNames {
  const frozen = Object.isFrozen(names);
  if (frozen) {
    const known = byList.get(names);
    if (known) return known;
  }
  const key = names.join("\0");
  let shared = byKey.get(key)?.deref();
  if (!shared) {
    const set = immutableNameSet(names);
    const list = set.size !== names.length ? [...set] : frozen ? names : [...names];
    shared = { set, list };
    byKey.set(key, new WeakRef(shared));
    forget.register(shared, key);
  }
  if (frozen) byList.set(names, shared);
  return shared;
}
