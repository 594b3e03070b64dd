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

/** The shared, never-changing subscription of `names` (in the order given; duplicates dropped). */
export function sharedNames(names: readonly string[]): SharedNames {
  const key = names.join("\0");
  const existing = byKey.get(key)?.deref();
  if (existing) return existing;
  const set = new Set(names);
  const shared: SharedNames = { set, list: set.size === names.length ? [...names] : [...set] };
  byKey.set(key, new WeakRef(shared));
  forget.register(shared, key);
  return shared;
}
