/**
 * Name -> version maps of what a client holds. The cache may hand the same map
 * to every stream holding a whole set, so streams never change one in place.
 */

/** `versions` without the names `drop` picks; the same map when it picks none (copy on write). */
export function without(
  versions: ReadonlyMap<string, string>,
  drop: (name: string) => boolean,
): ReadonlyMap<string, string> {
  let out: Map<string, string> | undefined;
  for (const name of versions.keys()) {
    if (!drop(name)) continue;
    out ??= new Map(versions);
    out.delete(name);
  }
  return out ?? versions;
}
