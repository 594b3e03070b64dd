import { createHash } from "node:crypto";
import type { Snapshot } from "@nebucloud/xds-cache";
import { type Resource, XdsError } from "@nebucloud/xds-core";

/** Any JSON value: what {@link StateDocument.meta} may hold. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** One resource of a manifest: its name, its version (SHA-256 of its bytes) and its TTL in ms, or null. */
export type ManifestEntry = readonly [name: string, hash: string, ttlMs: number | null];

/** Type URL -> the resources of that type, sorted by name: a snapshot without its bytes. */
export type Manifest = Readonly<Record<string, readonly ManifestEntry[]>>;

/** A manifest ready to store, with the resources it names. */
export interface EncodedManifest {
  /** SHA-256 (hex) of {@link bytes}: the manifest's key. */
  readonly hash: string;
  readonly bytes: Uint8Array;
  readonly manifest: Manifest;
  /** Resource hash -> the resource whose bytes it is. */
  readonly resources: ReadonlyMap<string, Resource>;
}

/** The document under `<prefix>/state`: what replicas serve. */
export interface StateDocument {
  /** The format of this document; readers refuse others. */
  readonly format: 1;
  /** Who published it (the writer's identity). */
  readonly writer: string;
  /** When it was published (ISO 8601). */
  readonly publishedAt: string;
  /** Node key -> manifest hash. */
  readonly snapshots: Readonly<Record<string, string>>;
  /** What the application publishes beside the snapshots (node groups, say). */
  readonly meta: JsonValue;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const byKey = <T>(entries: [string, T][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** JSON with object keys sorted, so equal values always give equal text (and hashes). */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(byKey(Object.entries(v as Record<string, unknown>)))
      : v,
  );
}

/**
 * A snapshot's manifest. Deterministic: the same resources give the same
 * bytes and hash on every writer, so republishing unchanged content writes
 * nothing and replicas see no change.
 */
export function encodeManifest(snapshot: Snapshot): EncodedManifest {
  const manifest: Record<string, ManifestEntry[]> = {};
  const resources = new Map<string, Resource>();
  for (const typeUrl of [...snapshot.typeUrls()].sort()) {
    const entries: ManifestEntry[] = [];
    for (const resource of snapshot.resources(typeUrl).values()) {
      entries.push([resource.name, resource.version, resource.ttlMs ?? null]);
      resources.set(resource.version, resource);
    }
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    manifest[typeUrl] = entries;
  }
  const bytes = new TextEncoder().encode(stableJson(manifest));
  return { hash: sha256(bytes), bytes, manifest, resources };
}

function corrupt(key: string, reason: string, cause?: unknown): XdsError {
  return new XdsError("deserialization", `${key}: ${reason}`, { key, reason }, { cause });
}

function parseJson(bytes: Uint8Array, key: string): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw corrupt(key, "not JSON", cause);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const isHash = (v: unknown): v is string => typeof v === "string" && /^[0-9a-f]{64}$/.test(v);

/** Reads a stored manifest; throws an XdsError `deserialization` naming the key when it is malformed. */
export function decodeManifest(bytes: Uint8Array, key: string): Manifest {
  const value = parseJson(bytes, key);
  if (!isRecord(value)) throw corrupt(key, "a manifest is an object of type URL -> entries");
  for (const [typeUrl, entries] of Object.entries(value)) {
    if (!Array.isArray(entries)) throw corrupt(key, `${typeUrl}: entries are not a list`);
    for (const entry of entries as unknown[]) {
      const ok =
        Array.isArray(entry) &&
        entry.length === 3 &&
        typeof entry[0] === "string" &&
        isHash(entry[1]) &&
        (entry[2] === null || (typeof entry[2] === "number" && entry[2] > 0));
      if (!ok) throw corrupt(key, `${typeUrl}: ${JSON.stringify(entry)} is not [name, sha256, ttlMs|null]`);
    }
  }
  return value as Manifest;
}

/** The bytes of a state document. */
export function encodeState(doc: StateDocument): Uint8Array {
  return new TextEncoder().encode(stableJson(doc));
}

/** Reads the state document; throws an XdsError `deserialization` when it is malformed or of another format. */
export function decodeState(bytes: Uint8Array, key: string): StateDocument {
  const value = parseJson(bytes, key);
  if (!isRecord(value)) throw corrupt(key, "the state is not an object");
  if (value["format"] !== 1)
    throw corrupt(key, `format ${JSON.stringify(value["format"])} is not 1; upgrade this replica`);
  const { snapshots } = value;
  if (!isRecord(snapshots) || !Object.values(snapshots).every(isHash)) {
    throw corrupt(key, "snapshots is not an object of node key -> manifest hash");
  }
  return {
    format: 1,
    writer: typeof value["writer"] === "string" ? value["writer"] : "",
    publishedAt: typeof value["publishedAt"] === "string" ? value["publishedAt"] : "",
    snapshots: snapshots as Record<string, string>,
    meta: (value["meta"] ?? null) as JsonValue,
  };
}

/** Whether two states serve the same thing (who published them and when aside). */
export function sameContent(a: StateDocument, b: StateDocument): boolean {
  return stableJson([a.snapshots, a.meta]) === stableJson([b.snapshots, b.meta]);
}
