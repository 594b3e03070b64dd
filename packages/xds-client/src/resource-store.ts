import type { Resource } from "@nebucloud/xds-core";

/** A resource the client holds and the version the server gave it. */
export interface CachedResource {
  readonly resource: Resource;
  /** The server's version of it (delta's per-resource version; in SotW the content hash). */
  readonly version: string;
}

const none: ReadonlyMap<string, CachedResource> = new Map();

/**
 * The resources a client holds, by type URL and name. Content, not versions,
 * decides whether a resource changed, so that a server that restarts (or a
 * replica) with the same resources under other versions changes nothing.
 */
export class ResourceStore {
  readonly #byType = new Map<string, Map<string, CachedResource>>();

  /** The resource `name` of `typeUrl`, if held. */
  get(typeUrl: string, name: string): CachedResource | undefined {
    return this.#byType.get(typeUrl)?.get(name);
  }

  /** Every resource held of a type, by name (a live view: copy it to keep it). */
  all(typeUrl: string): ReadonlyMap<string, CachedResource> {
    return this.#byType.get(typeUrl) ?? none;
  }

  /**
   * Stores a resource; true when its content differs from what was held (or
   * nothing was). The server's version is updated either way.
   */
  put(typeUrl: string, name: string, resource: Resource, version: string): boolean {
    let byName = this.#byType.get(typeUrl);
    if (!byName) {
      byName = new Map();
      this.#byType.set(typeUrl, byName);
    }
    const held = byName.get(name);
    const changed = !held || !sameBytes(held.resource.bytes, resource.bytes);
    byName.set(name, { resource: changed || !held ? resource : held.resource, version });
    return changed;
  }

  /** Forgets a resource; true when it was held. */
  remove(typeUrl: string, name: string): boolean {
    const byName = this.#byType.get(typeUrl);
    if (!byName?.delete(name)) return false;
    if (byName.size === 0) this.#byType.delete(typeUrl);
    return true;
  }

  /** Forgets every resource of a type that `keep` refuses; returns their names. */
  retain(typeUrl: string, keep: (name: string) => boolean): string[] {
    const byName = this.#byType.get(typeUrl);
    if (!byName) return [];
    const dropped = [...byName.keys()].filter((name) => !keep(name));
    for (const name of dropped) this.remove(typeUrl, name);
    return dropped;
  }

  /** Forgets everything. */
  clear(): void {
    this.#byType.clear();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
