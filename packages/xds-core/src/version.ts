import { createHash } from "node:crypto";

/**
 * The version of a set of resources: SHA-256 over their names and versions in
 * name order, shortened to 16 hex digits. The same resources give the same
 * version on every replica and after every restart, and different resources
 * never reuse an old version (Contour #5482 came from counters that restarted).
 */
export function versionOf(resources: Iterable<{ readonly name: string; readonly version: string }>): string {
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hash = createHash("sha256");
  for (const r of sorted) hash.update(r.name).update("\0").update(r.version).update("\n");
  return hash.digest("hex").slice(0, 16);
}
