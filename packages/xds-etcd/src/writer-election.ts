import type { Etcd3, Lease, Watcher } from "etcd3";
import { cancelWatcher } from "./etcd-client.js";
import type { StoreLayout } from "./store-layout.js";
import { messageOf, type StoreLog, silentLog, sleep } from "./store-log.js";

/** Proof of being the writer: the candidate key and its create revision, which every write compares. */
export interface Leadership {
  /** The candidate key, `<prefix>/writers/<lease id>`. */
  readonly key: string;
  /** The revision that created it; a key recreated after expiry has another, so an old writer is fenced off. */
  readonly createRevision: string;
}

/** Options of {@link WriterElection}. */
export interface WriterElectionOptions {
  /** The etcd client; the caller owns it. */
  readonly client: Etcd3;
  /** The store's keys. */
  readonly layout: StoreLayout;
  /** Who this candidate is (shown to replicas and on status pages), e.g. `host:pid`. */
  readonly identity: string;
  /**
   * The lease TTL in seconds: how long a writer that vanished without
   * resigning keeps a standby waiting. Default 10; etcd's minimum applies.
   */
  readonly ttlSeconds?: number;
  /** Where the election reports. Default: nowhere. */
  readonly log?: StoreLog;
}

/**
 * Elects exactly one writer among candidates sharing a store, as etcd's own
 * `concurrency.Election` does: each candidate holds a key under a lease; the
 * oldest key is the writer; a writer that stops keeping its lease alive (it
 * crashed, or lost etcd for longer than the TTL) loses its key, and the next
 * candidate takes over. Writes are fenced on the key's create revision (see
 * {@link Leadership}), so a writer that lost its lease cannot overwrite its
 * successor even before it notices. Call {@link start} once; single-threaded.
 */
export class WriterElection {
  readonly #options: WriterElectionOptions;
  readonly #listeners = new Set<(writer: boolean) => void>();
  #leadership: Leadership | undefined;
  #lease: Lease | undefined;
  /** Wakes a waiting campaign: the lease was lost, or the election closed. */
  #interrupt: (() => void) | undefined;
  #interrupted = false;
  #closed = false;
  #started = false;
  /** Keys of earlier campaigns whose lease was lost: deleted when etcd answers again. */
  readonly #stale = new Set<string>();

  constructor(options: WriterElectionOptions) {
    this.#options = options;
  }

  /** Whether this candidate is the writer now. */
  get isWriter(): boolean {
    return this.#leadership !== undefined;
  }

  /** The proof a fenced write compares, while this candidate is the writer. */
  get leadership(): Leadership | undefined {
    return this.#leadership;
  }

  /** Calls `listener(true)` when elected and `listener(false)` when deposed; returns the unsubscribe. */
  onChange(listener: (writer: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts campaigning; it goes on, retrying with backoff, until {@link close}. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#run();
  }

  /**
   * Gives up the writer role at once: a fenced write failed, so the key is
   * gone. The campaign starts again with a new lease.
   */
  lost(reason: string): void {
    if (!this.#leadership && !this.#lease) return;
    this.#options.log?.("warn", `writer election: lost the writer role: ${reason}`);
    this.#wake();
  }

  /** Resigns (revoking the lease, so a standby takes over at once) and stops campaigning. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const lease = this.#lease;
    this.#wake();
    await lease?.revoke().catch(() => {});
  }

  #setWriter(leadership: Leadership | undefined): void {
    if ((leadership === undefined) === (this.#leadership === undefined)) return;
    this.#leadership = leadership;
    for (const listener of [...this.#listeners]) {
      try {
        listener(leadership !== undefined);
      } catch (error) {
        this.#options.log?.("error", `writer election listener threw: ${messageOf(error)}`);
      }
    }
  }

  #wake(): void {
    this.#interrupted = true;
    this.#interrupt?.();
  }

  async #run(): Promise<void> {
    const log = this.#options.log ?? silentLog;
    let backoffMs = 200;
    while (!this.#closed) {
      try {
        await this.#campaign();
        backoffMs = 200;
      } catch (error) {
        log("warn", `writer election: ${messageOf(error)}; retrying in ${backoffMs} ms`);
      }
      this.#setWriter(undefined);
      if (this.#closed) break;
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, 5000);
    }
  }

  /** One campaign: a lease and a key, then waiting to be oldest; returns when the lease is lost. */
  async #campaign(): Promise<void> {
    const { client, layout, identity } = this.#options;
    const log = this.#options.log ?? silentLog;
    this.#interrupted = false;
    for (const key of [...this.#stale]) {
      await client.delete().key(key);
      this.#stale.delete(key);
    }
    const lease = client.lease(this.#options.ttlSeconds ?? 10);
    this.#lease = lease;
    lease.on("lost", (error) => {
      log("warn", `writer election: lease lost: ${error.message}`);
      this.#wake();
    });
    let key: string | undefined;
    let watcher: Watcher | undefined;
    try {
      const id = await lease.grant();
      key = `${layout.writers}${BigInt(id).toString(16)}`;
      const put = await lease.put(key).value(identity).exec();
      const mine: Leadership = { key, createRevision: String(put.header.revision) };
      let changed: () => void = () => {};
      let watchFailed: Error | undefined;
      // Attached at once, so the finally below can always cancel it; then wait
      // for etcd to have created it, so that no delete goes unseen.
      const candidates = client.watch().prefix(layout.writers).watcher();
      watcher = candidates;
      candidates.on("delete", () => changed());
      candidates.on("disconnected", () => changed());
      candidates.on("error", (error) => {
        watchFailed = error;
        changed();
      });
      await new Promise<void>((resolve) => {
        candidates.once("connected", () => resolve());
        changed = resolve;
        this.#interrupt = resolve;
      });
      while (!this.#interrupted && !this.#closed) {
        if (watchFailed) throw new Error(`the watch on writer candidates was cancelled: ${watchFailed.message}`);
        const next = new Promise<void>((resolve) => {
          changed = resolve;
          this.#interrupt = resolve;
        });
        const oldest = await client.getAll().prefix(layout.writers).sort("Create", "Ascend").limit(1).exec();
        if (oldest.kvs[0]?.key.toString() === key) {
          if (!this.isWriter) log("info", `writer election: ${identity} is the writer`);
          this.#setWriter(mine);
        } else {
          this.#setWriter(undefined);
          if (!(await this.#exists(key))) throw new Error(`the candidate key ${key} is gone (its lease expired)`);
        }
        await next;
      }
    } finally {
      this.#interrupt = undefined;
      this.#setWriter(undefined);
      await cancelWatcher(watcher);
      if (this.#lease === lease) this.#lease = undefined;
      // Revoke so a standby does not wait for the TTL; when etcd is away, the
      // key is deleted on the next campaign instead.
      if (key !== undefined) {
        this.#stale.add(key);
        await lease
          .revoke()
          .then(() => key !== undefined && this.#stale.delete(key))
          .catch(() => lease.release());
      }
    }
  }

  async #exists(key: string): Promise<boolean> {
    return (await this.#options.client.get(key).exists()) === true;
  }
}
