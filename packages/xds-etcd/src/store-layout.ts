/** What a key of a store holds (see {@link StoreLayout.classify}). */
export type StoreKey =
  | {
      /** The state document. */
      readonly kind: "state";
    }
  | {
      /** A content-addressed object. */
      readonly kind: "resource" | "manifest";
      /** Its SHA-256, the last part of its key. */
      readonly hash: string;
    }
  | {
      /** A writer candidate. */
      readonly kind: "writer";
    };

/**
 * The keys a snapshot store uses under its prefix. Resources and manifests are
 * content-addressed and never change once written, so a replica can cache them
 * by key and an update commits by replacing one key: `state`.
 *
 * ```
 * <prefix>/state            the published state: node key -> manifest hash, and metadata
 * <prefix>/objects/m/<hash> a manifest: type URL -> [name, resource hash, ttl]
 * <prefix>/objects/r/<hash> a resource's canonical encoding (hash = its version)
 * <prefix>/writers/<lease>  one key per writer candidate; the oldest is the writer
 * ```
 */
export class StoreLayout {
  /** Every key of the store starts with this. */
  readonly root: string;
  /** The published state document. */
  readonly state: string;
  /** Manifests and resources start with this. */
  readonly objects: string;
  /** Writer candidates start with this. */
  readonly writers: string;

  /** @param prefix - the key prefix, without a trailing slash */
  constructor(readonly prefix: string) {
    this.root = `${prefix}/`;
    this.state = `${prefix}/state`;
    this.objects = `${prefix}/objects/`;
    this.writers = `${prefix}/writers/`;
  }

  /** The key of a resource's bytes. */
  resource(hash: string): string {
    return `${this.objects}r/${hash}`;
  }

  /** The key of a manifest. */
  manifest(hash: string): string {
    return `${this.objects}m/${hash}`;
  }

  /** What a key of this store holds; undefined for a key it does not know. */
  classify(key: string): StoreKey | undefined {
    if (key === this.state) return { kind: "state" };
    if (key.startsWith(`${this.objects}r/`)) return { kind: "resource", hash: key.slice(this.objects.length + 2) };
    if (key.startsWith(`${this.objects}m/`)) return { kind: "manifest", hash: key.slice(this.objects.length + 2) };
    if (key.startsWith(this.writers)) return { kind: "writer" };
    return undefined;
  }
}
