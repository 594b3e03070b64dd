import type { Snapshot } from "@nebucloud/xds-cache";
import { XdsError } from "@nebucloud/xds-core";
import type { Etcd3, IOperation } from "etcd3";
import {
  decodeManifest,
  decodeState,
  type EncodedManifest,
  encodeManifest,
  encodeState,
  type JsonValue,
  type StateDocument,
  sameContent,
} from "./store-documents.js";
import type { StoreLayout } from "./store-layout.js";
import { messageOf, type StoreLog, silentLog, sleep } from "./store-log.js";
import type { Leadership, WriterElection } from "./writer-election.js";

/** What a writer publishes: a snapshot per node key, and metadata its replicas need (node groups, say). */
export interface PublishedState {
  /** Node key -> snapshot. Node keys missing here are cleared on every replica. */
  readonly snapshots: ReadonlyMap<string, Snapshot>;
  /** Any JSON the application wants replicas to have with these snapshots. Default null. */
  readonly meta?: JsonValue;
}

/** What {@link SnapshotPublisher.status} reports. */
export interface PublisherStatus {
  /** Whether this process is the elected writer. */
  readonly writer: boolean;
  /** Whether the newest offered state has not been committed yet. */
  readonly pending: boolean;
  /** When a state was last committed by this process (ISO 8601). */
  readonly lastPublishedAt: string | undefined;
  /** The etcd revision of that commit. */
  readonly lastRevision: string | undefined;
  /** Why the last attempt failed, if it did. */
  readonly lastError: string | undefined;
}

/** Options of {@link SnapshotPublisher}. */
export interface SnapshotPublisherOptions {
  /** The etcd client; the caller owns it. */
  readonly client: Etcd3;
  /** The store's keys. */
  readonly layout: StoreLayout;
  /** The election that decides whether this process may write. */
  readonly election: WriterElection;
  /** Written into the state document, for status pages. */
  readonly identity: string;
  /** Where the publisher reports. Default: nowhere. */
  readonly log?: StoreLog;
}

/** etcd refuses transactions of more than 128 operations by default (--max-txn-ops). */
const maxOpsPerTxn = 100;
/** etcd refuses requests over 1.5 MiB by default (--max-request-bytes); stay well under it. */
const maxBytesPerTxn = 1024 * 1024;

/**
 * Publishes snapshots to the store while this process is the elected writer.
 * {@link offer} replaces what should be published; the publisher commits the
 * newest offer as soon as it can — at once, after an election, or when etcd
 * answers again — and never commits an older one over a newer.
 *
 * One publish writes the content-addressed resources and manifests etcd lacks
 * (immutable, so writing them early is harmless), then commits the update in
 * one transaction that replaces the state key, fenced on the writer's lease
 * key. Objects neither the new nor the previous state names are deleted
 * afterwards; a replica still applying the previous state finds its objects.
 */
export class SnapshotPublisher {
  readonly #options: SnapshotPublisherOptions;
  readonly #manifests = new WeakMap<Snapshot, EncodedManifest>();
  #desired: PublishedState | undefined;
  /** Offers made so far: the desired state is the last of them. */
  #offers = 0;
  #published: PublishedState | undefined;
  /** The offer number of the last state committed (or found in etcd already). */
  #publishedOffer = 0;
  #running = false;
  #closed = false;
  #status: Omit<PublisherStatus, "writer" | "pending"> = {
    lastPublishedAt: undefined,
    lastRevision: undefined,
    lastError: undefined,
  };
  readonly #waiters: { offer: number; resolve: () => void }[] = [];
  readonly #unsubscribe: () => void;

  constructor(options: SnapshotPublisherOptions) {
    this.#options = options;
    this.#unsubscribe = options.election.onChange((writer) => {
      // A new term starts from what etcd holds, not from what an earlier term wrote.
      this.#published = undefined;
      if (writer) this.#kick();
    });
  }

  /** Makes `state` the one to publish; returns at once. Safe to call at any rate: only the newest is written. */
  offer(state: PublishedState): void {
    this.#desired = state;
    this.#offers++;
    this.#kick();
  }

  /** Resolves once the state offered last (at the time of the call) is committed. */
  whenPublished(): Promise<void> {
    const offer = this.#offers;
    if (this.#publishedOffer >= offer) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ offer, resolve }));
  }

  /** What the publisher has done. */
  status(): PublisherStatus {
    return {
      writer: this.#options.election.isWriter,
      pending: this.#desired !== undefined && this.#published !== this.#desired,
      ...this.#status,
    };
  }

  /** Stops publishing. The election is the caller's to close. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe();
  }

  #kick(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    void this.#loop().finally(() => {
      this.#running = false;
      // An offer made while the loop was returning found it still running.
      if (this.#published !== this.#desired && this.#options.election.isWriter) this.#kick();
    });
  }

  async #loop(): Promise<void> {
    const log = this.#options.log ?? silentLog;
    let backoffMs = 200;
    for (;;) {
      const desired = this.#desired;
      const offer = this.#offers;
      const leadership = this.#options.election.leadership;
      if (this.#closed || !desired || !leadership || this.#published === desired) return;
      try {
        const { revision, collect } = await this.#publish(desired, leadership);
        this.#published = desired;
        this.#publishedOffer = offer;
        const at = new Date().toISOString();
        this.#status = {
          lastPublishedAt: revision ? at : this.#status.lastPublishedAt,
          lastRevision: revision ?? this.#status.lastRevision,
          lastError: undefined,
        };
        for (const waiter of this.#waiters.splice(0)) {
          if (waiter.offer <= offer) waiter.resolve();
          else this.#waiters.push(waiter);
        }
        await collect();
        backoffMs = 200;
      } catch (error) {
        const message = messageOf(error);
        this.#status = { ...this.#status, lastError: message };
        if (error instanceof XdsError && error.code === "permission_denied") {
          this.#options.election.lost(message);
          return;
        }
        log("warn", `publish failed (${message}); retrying in ${backoffMs} ms`);
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5000);
      }
    }
  }

  #manifest(snapshot: Snapshot): EncodedManifest {
    let encoded = this.#manifests.get(snapshot);
    if (!encoded) {
      encoded = encodeManifest(snapshot);
      this.#manifests.set(snapshot, encoded);
    }
    return encoded;
  }

  /**
   * One publish; resolves once it is committed, to the commit's revision
   * (undefined when etcd held the same content already) and the clean-up to
   * run afterwards.
   */
  async #publish(
    state: PublishedState,
    leadership: Leadership,
  ): Promise<{ revision: string | undefined; collect: () => Promise<void> }> {
    const { client, layout, identity } = this.#options;
    const log = this.#options.log ?? silentLog;
    const objects = new Map<string, Uint8Array>();
    const snapshots: Record<string, string> = {};
    for (const [nodeKey, snapshot] of state.snapshots) {
      const manifest = this.#manifest(snapshot);
      snapshots[nodeKey] = manifest.hash;
      objects.set(layout.manifest(manifest.hash), manifest.bytes);
      for (const [hash, resource] of manifest.resources) objects.set(layout.resource(hash), resource.bytes);
    }
    const doc: StateDocument = {
      format: 1,
      writer: identity,
      publishedAt: new Date().toISOString(),
      snapshots,
      meta: state.meta ?? null,
    };
    const previousBytes = await client.get(layout.state).buffer();
    let previous: StateDocument | undefined;
    try {
      previous = previousBytes ? decodeState(previousBytes, layout.state) : undefined;
    } catch (error) {
      log("warn", `replacing an unreadable state: ${messageOf(error)}`);
    }
    if (previous && sameContent(previous, doc)) return { revision: undefined, collect: async () => {} };

    const existing = new Set(await client.getAll().prefix(layout.objects).keys());
    const missing = [...objects].filter(([key]) => !existing.has(key));
    for (const [key, bytes] of missing) {
      if (bytes.length > maxBytesPerTxn) {
        throw new XdsError(
          "resource_exhausted",
          `${key} is ${bytes.length} bytes; etcd refuses requests over --max-request-bytes (1.5 MiB by default)`,
          { key, limit: maxBytesPerTxn },
        );
      }
    }
    for (const chunk of chunks(missing, ([, bytes]) => bytes.length)) {
      await this.#fenced(
        leadership,
        chunk.map(([key, bytes]) => client.put(key).value(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length))),
      );
    }
    const committed = await this.#fenced(leadership, [client.put(layout.state).value(Buffer.from(encodeState(doc)))]);
    log(
      "info",
      `published ${Object.keys(snapshots).length} snapshot(s) at revision ${committed} (${missing.length} new object(s))`,
    );

    // Objects the new and the previous state name stay; the rest go. A failure
    // here only leaves garbage for the next publish to collect.
    const collect = async () => {
      try {
        const keep = new Set(objects.keys());
        for (const hash of new Set(Object.values(previous?.snapshots ?? {}))) {
          const key = layout.manifest(hash);
          keep.add(key);
          const bytes = await client.get(key).buffer();
          if (!bytes) continue;
          for (const entries of Object.values(decodeManifest(bytes, key))) {
            for (const [, resourceHash] of entries) keep.add(layout.resource(resourceHash));
          }
        }
        const garbage = [...existing].filter((key) => !keep.has(key));
        for (const chunk of chunks(garbage, () => 0)) {
          await this.#fenced(
            leadership,
            chunk.map((key) => client.delete().key(key)),
          );
        }
      } catch (error) {
        if (error instanceof XdsError && error.code === "permission_denied") throw error;
        log("warn", `collecting unused objects failed: ${messageOf(error)}`);
      }
    };
    return { revision: committed, collect };
  }

  /** Runs `ops` in one transaction that holds only while this process is the writer; resolves to its revision. */
  async #fenced(leadership: Leadership, ops: IOperation[]): Promise<string> {
    const result = await this.#options.client
      .if(leadership.key, "Create", "==", leadership.createRevision)
      .then(...ops)
      .commit();
    if (!result.succeeded) {
      throw new XdsError(
        "permission_denied",
        `not the writer any more: ${leadership.key} (created at revision ${leadership.createRevision}) is gone`,
        { key: leadership.key, reason: "writer lease lost" },
      );
    }
    return String(result.header.revision);
  }
}

/** Splits `items` into transactions etcd accepts by default: few enough operations and bytes. */
function chunks<T>(items: readonly T[], size: (item: T) => number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = size(item);
    if (current.length > 0 && (current.length >= maxOpsPerTxn || bytes + n > maxBytesPerTxn)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}
