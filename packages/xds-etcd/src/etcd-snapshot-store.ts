import { hostname } from "node:os";
import { type ResourceTypeRegistry, XdsError } from "@nebucloud/xds-core";
import type { Etcd3 } from "etcd3";
import { connectEtcd, type EtcdConnectOptions } from "./etcd-client.js";
import { type PublishedState, type PublisherStatus, SnapshotPublisher } from "./snapshot-publisher.js";
import { type ReplicaStatus, SnapshotReplica, type SnapshotTarget } from "./snapshot-replica.js";
import type { JsonValue } from "./store-documents.js";
import { StoreLayout } from "./store-layout.js";
import type { StoreLog } from "./store-log.js";
import { parseStoreUrl, type StoreLocation } from "./store-url.js";
import { WriterElection } from "./writer-election.js";

/** Options of {@link EtcdSnapshotStore.open}. */
export interface EtcdSnapshotStoreOptions {
  /** `etcd://host:port[,host:port]/prefix`, or the parsed location. */
  readonly url: string | StoreLocation;
  /** Where the replica puts what it reads (the cache the server serves). */
  readonly target: SnapshotTarget;
  /** Campaign to be the writer. Default true; false makes a replica that never writes. */
  readonly candidate?: boolean;
  /** Who this process is, on status pages and in the state it publishes. Default `<hostname>:<pid>`. */
  readonly identity?: string;
  /** The writer lease TTL in seconds: how soon a standby takes over from a writer that died. Default 10. */
  readonly leaseTtlSeconds?: number;
  /** Resource types the store may hold. Default: Envoy's. */
  readonly types?: ResourceTypeRegistry;
  /** Called with the published metadata before each state's snapshots are set. */
  readonly onMeta?: (meta: JsonValue) => void;
  /** Called when this process becomes (true) or stops being (false) the writer. */
  readonly onWriterChange?: (writer: boolean) => void;
  /** TLS and call deadlines towards etcd. */
  readonly connection?: EtcdConnectOptions;
  /** Where the store reports. Default: nowhere. */
  readonly log?: StoreLog;
}

/** What {@link EtcdSnapshotStore.readiness} answers. */
export interface StoreReadiness {
  /** Whether this process serves what etcd holds now. */
  readonly ready: boolean;
  /** Why it is not ready; absent when it is. */
  readonly reason?: string;
}

/** What {@link EtcdSnapshotStore.status} reports: for `/readyz`, `/debug` and status pages. */
export interface StoreStatus {
  /** The etcd endpoints. */
  readonly endpoints: readonly string[];
  /** The key prefix of the store. */
  readonly prefix: string;
  /** This process. */
  readonly identity: string;
  /** Whether it campaigns to be the writer. */
  readonly candidate: boolean;
  /** Whether it is the writer now. */
  readonly writer: boolean;
  /** What it serves and whether etcd is reachable. */
  readonly replica: ReplicaStatus;
  /** What it has published; undefined for a replica that never writes. */
  readonly publisher: PublisherStatus | undefined;
}

/**
 * One process's part in a replicated control plane: it replicates the store
 * into its cache, and (unless `candidate: false`) campaigns to be the writer
 * and publishes what its source offers while it is. Every process, the writer
 * included, serves what it read back from etcd, so all replicas serve the same
 * versions. Open with {@link EtcdSnapshotStore.open}; close to resign.
 */
export class EtcdSnapshotStore {
  /** The replica's client; the election and publisher have their own (see the constructor). */
  readonly #client: Etcd3;
  readonly #writerClient: Etcd3 | undefined;
  readonly #location: StoreLocation;
  readonly #identity: string;
  readonly #replica: SnapshotReplica;
  readonly #election: WriterElection | undefined;
  readonly #publisher: SnapshotPublisher | undefined;

  private constructor(options: EtcdSnapshotStoreOptions) {
    this.#location = typeof options.url === "string" ? parseStoreUrl(options.url) : options.url;
    this.#identity = options.identity ?? `${hostname()}:${process.pid}`;
    this.#client = connectEtcd(this.#location, options.connection);
    const layout = new StoreLayout(this.#location.prefix);
    const log = options.log;
    this.#replica = new SnapshotReplica({
      client: this.#client,
      layout,
      target: options.target,
      ...(options.types ? { types: options.types } : {}),
      ...(options.onMeta ? { onMeta: options.onMeta } : {}),
      ...(log ? { log } : {}),
    });
    if (options.candidate ?? true) {
      // A client of its own: etcd3 matches a watch that etcd cancels while
      // being created (a compacted start revision) to the first pending watch
      // of the client, which may be another one's; one watch per client
      // cannot be mistaken.
      this.#writerClient = connectEtcd(this.#location, options.connection);
      this.#election = new WriterElection({
        client: this.#writerClient,
        layout,
        identity: this.#identity,
        ...(options.leaseTtlSeconds === undefined ? {} : { ttlSeconds: options.leaseTtlSeconds }),
        ...(log ? { log } : {}),
      });
      this.#publisher = new SnapshotPublisher({
        client: this.#writerClient,
        layout,
        election: this.#election,
        identity: this.#identity,
        ...(log ? { log } : {}),
      });
      if (options.onWriterChange) this.#election.onChange(options.onWriterChange);
    }
  }

  /** Connects, starts replicating and, for a candidate, campaigning. Returns at once; etcd may still be away. */
  static open(options: EtcdSnapshotStoreOptions): EtcdSnapshotStore {
    const store = new EtcdSnapshotStore(options);
    store.#replica.start();
    store.#election?.start();
    return store;
  }

  /** Whether this process is the writer now. */
  get isWriter(): boolean {
    return this.#election?.isWriter ?? false;
  }

  /**
   * Offers the state this process's source produced; it is committed while
   * (or as soon as) this process is the writer. Throws an XdsError
   * `invalid_config` on a store opened with `candidate: false`.
   */
  publish(state: PublishedState): void {
    if (!this.#publisher) {
      throw new XdsError("invalid_config", "this store was opened as a replica (candidate: false) and never writes", {
        field: "candidate",
      });
    }
    this.#publisher.offer(state);
  }

  /** Resolves once the state offered last is committed (never, on a standby that is not elected). */
  whenPublished(): Promise<void> {
    return this.#publisher?.whenPublished() ?? Promise.resolve();
  }

  /** Resolves once the replica has applied a state. */
  whenSynced(): Promise<void> {
    return this.#replica.whenSynced();
  }

  /** Where the store is, what this process serves and whether it writes. */
  status(): StoreStatus {
    return {
      endpoints: this.#location.endpoints,
      prefix: this.#location.prefix,
      identity: this.#identity,
      candidate: this.#election !== undefined,
      writer: this.isWriter,
      replica: this.#replica.status(),
      publisher: this.#publisher?.status(),
    };
  }

  /**
   * What `/readyz` should answer: ready while the replica is in step with
   * etcd; otherwise why not (no state read yet, or etcd unreachable since when
   * and which revision every client is still being served).
   */
  readiness(): StoreReadiness {
    const replica = this.#replica.status();
    if (replica.connected) return { ready: true };
    return {
      ready: false,
      reason: replica.synced
        ? `etcd unreachable since ${replica.disconnectedSince ?? "?"}; still serving revision ${replica.revision} (published by ${replica.writer}) to every client`
        : "no state read from etcd yet",
    };
  }

  /** Resigns (a standby takes over at once), stops replicating and closes the etcd client. */
  async close(): Promise<void> {
    this.#publisher?.close();
    await this.#election?.close();
    await this.#replica.close();
    this.#client.close();
    this.#writerClient?.close();
  }
}
