import type { Snapshot } from "@nebucloud/xds-cache";
import { SnapshotCache } from "@nebucloud/xds-cache";
import { nodeHash } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { type ConfigProblem, formatProblem } from "./config-error.js";
import { type ConfigRead, parseConfigFiles, readConfigFiles } from "./config-files.js";
import { ConfigWatcher } from "./config-watch.js";
import { type LoadedConfig, loadConfig } from "./load-config.js";
import { type GroupRule, groupOf, sharedKey } from "./node-groups.js";

export { sharedKey };

/** The outcome of the last (re)load, for logs, `/debug` and the status page. */
export interface ReloadStatus {
  readonly at: string;
  readonly ok: boolean;
  /** Every problem of a rejected reload; empty when it was applied. */
  readonly problems: readonly ConfigProblem[];
  /** Resource counts of the config being served. */
  readonly counts: Readonly<Record<string, number>>;
  /** When the config being served was loaded. */
  readonly servingSince: string | undefined;
  /** sha256 of the config files being served (see `readConfigFiles`); undefined before the first good load. */
  readonly servedHash: string | undefined;
  /** sha256 of the config files at the last read; undefined when they could not be read whole. */
  readonly diskHash: string | undefined;
  /** When the files were last read (on an event, a recheck or a poll). */
  readonly checkedAt: string;
  /** The files on disk are not what is served: a rejected edit, or a change not loaded yet. */
  readonly stale: boolean;
}

/** Options of {@link FileSource}. */
export interface FileSourceOptions {
  readonly path: string;
  /** Quiet period after a change before reloading (editors write in bursts). Default 100 ms. */
  readonly debounceMs?: number;
  /**
   * How often to re-read the files and compare their hash with what is served,
   * whatever the file-system events said, so that a missed event leaves the
   * config stale for at most this long. Default 10 000 ms; 0 turns it off.
   */
  readonly recheckMs?: number;
  /**
   * Read the files this often instead of watching file-system events (for
   * network and overlay file systems whose events are unreliable). Default: off.
   */
  readonly pollMs?: number;
  /** The most bytes the config may hold, every file together (default `defaultMaxConfigBytes`, 32 MiB). */
  readonly maxConfigBytes?: number;
  /** The flag that sets `maxConfigBytes`, named in the error when a config is larger. */
  readonly maxConfigBytesFlag?: string;
  readonly log?: (level: "info" | "warn" | "error", message: string) => void;
  /**
   * Called after each good reload with every node key's snapshot and the
   * group rules, e.g. to publish them to a store that replicas serve from.
   */
  readonly onApplied?: (snapshots: ReadonlyMap<string, Snapshot>, rules: readonly GroupRule[]) => void;
  /** Open watches per node (not per node group). Default 1000 (SnapshotCache's). */
  readonly maxWatchesPerNode?: number;
}

/**
 * Serves a config file (or directory) through a SnapshotCache and keeps it
 * current: a change is reloaded, checked in full and applied at once; a bad
 * change is reported and the last good config keeps serving.
 */
export class FileSource {
  readonly cache: SnapshotCache;
  readonly #options: FileSourceOptions;
  #config: LoadedConfig | undefined;
  #status: ReloadStatus = {
    at: "",
    ok: false,
    problems: [],
    counts: {},
    servingSince: undefined,
    servedHash: undefined,
    diskHash: undefined,
    checkedAt: "",
    stale: true,
  };
  /** The hash of the last content loaded, good or bad: the same content is not checked twice. */
  #attemptedHash: string | undefined;
  #watcher: ConfigWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #interval: NodeJS.Timeout | undefined;
  #reloading: Promise<ReloadStatus> | undefined;
  #again = false;
  readonly #knownKeys = new Set<string>([sharedKey]);

  constructor(options: FileSourceOptions) {
    this.#options = options;
    // Proxyless gRPC clients subscribe to subsets: never hold them (ADS mode off).
    this.cache = new SnapshotCache({
      nodeHash: nodeHash((node) => this.groupOf(node)),
      ...(options.maxWatchesPerNode ? { maxWatchesPerNode: options.maxWatchesPerNode } : {}),
    });
  }

  /** The node group a node belongs to: the first whose match holds, else the shared config. */
  groupOf(node: Node | undefined): string {
    return groupOf(this.#config?.groups ?? [], node);
  }

  get status(): ReloadStatus {
    return this.#status;
  }

  /** Whether a config has been loaded and is being served. */
  get ready(): boolean {
    return this.#config !== undefined;
  }

  /** Loads the config now, changed or not; resolves to the outcome (a rejected config keeps the last good one). */
  reload(): Promise<ReloadStatus> {
    return this.#run(true);
  }

  /**
   * Reads the files and loads them only if their hash differs from the last
   * content loaded; what events, rechecks and polls call. Resolves to the status.
   */
  check(): Promise<ReloadStatus> {
    return this.#run(false);
  }

  // One read at a time; a request during a read runs once more after it, so the last change is never lost.
  #run(force: boolean): Promise<ReloadStatus> {
    if (this.#reloading) {
      this.#again = true;
      return this.#reloading;
    }
    this.#reloading = this.#read(force).finally(() => {
      this.#reloading = undefined;
      if (this.#again) {
        this.#again = false;
        void this.#run(false);
      }
    });
    return this.#reloading;
  }

  async #read(force: boolean): Promise<ReloadStatus> {
    // Watches first, then the read: a change after the watch opens is an event, one before it is in the read.
    this.#watcher?.refresh();
    const read = await readConfigFiles(this.#options.path, {
      ...(this.#options.maxConfigBytes !== undefined ? { maxBytes: this.#options.maxConfigBytes } : {}),
      ...(this.#options.maxConfigBytesFlag ? { maxBytesFlag: this.#options.maxConfigBytesFlag } : {}),
    });
    const checkedAt = new Date().toISOString();
    if (read.changing) {
      // Caught mid-write: never load it; read again once the writer is quiet.
      this.#schedule();
      return this.#status;
    }
    this.#status = { ...this.#status, diskHash: read.hash, checkedAt, stale: read.hash !== this.#status.servedHash };
    if (!force && read.hash !== undefined && read.hash === this.#attemptedHash) return this.#status;
    if (!force && read.hash === undefined && this.#attemptedHash === undefined && this.#status.at !== "")
      return this.#status;
    this.#attemptedHash = read.hash;
    if (!force)
      (this.#options.log ?? (() => {}))(
        "info",
        `config changed on disk (sha256 ${read.hash?.slice(0, 12) ?? "none"}); reloading`,
      );
    return this.#load(read, checkedAt);
  }

  #load(read: ConfigRead, at: string): ReloadStatus {
    const log = this.#options.log ?? (() => {});
    const parsed =
      read.problems.length > 0 ? { documents: [], problems: [...read.problems] } : parseConfigFiles(read.files);
    const { config, problems } =
      parsed.problems.length > 0 ? { config: undefined, problems: parsed.problems } : loadConfig(parsed.documents);
    if (!config) {
      this.#status = { ...this.#status, at, ok: false, problems };
      log(
        "error",
        `config rejected; still serving the last good config${this.#config ? "" : " (none yet)"}:\n  ${problems.map(formatProblem).join("\n  ")}`,
      );
      return this.#status;
    }
    this.#config = config;
    // Every key gets its snapshot in one pass, so no node sees half a reload.
    const snapshots = new Map<string, Snapshot>([[sharedKey, config.shared]]);
    for (const group of config.groups) snapshots.set(group.name, group.snapshot);
    // Watches opened under a group that is gone get the shared config until they re-request.
    for (const key of this.#knownKeys) if (!snapshots.has(key)) snapshots.set(key, config.shared);
    for (const [key, snapshot] of snapshots) this.cache.setSnapshot(key, snapshot);
    for (const key of snapshots.keys()) this.#knownKeys.add(key);
    try {
      this.#options.onApplied?.(snapshots, config.groups);
    } catch (error) {
      log("error", `after the reload: ${String(error)}`);
    }
    this.#status = {
      at,
      ok: true,
      problems: [],
      counts: config.counts,
      servingSince: at,
      servedHash: read.hash,
      diskHash: read.hash,
      checkedAt: at,
      stale: false,
    };
    log(
      "info",
      `config loaded: ${
        Object.entries(config.counts)
          .map(([k, n]) => `${n} ${k}`)
          .join(", ") || "no resources"
      }${config.groups.length ? `, ${config.groups.length} node groups` : ""}`,
    );
    return this.#status;
  }

  /**
   * Keeps the config current: watches the file or directory (following
   * symlinks, reopening watches on replaced directories) and re-reads it every
   * `recheckMs`; or, with `pollMs`, only re-reads it that often.
   */
  watch(): void {
    const pollMs = this.#options.pollMs ?? 0;
    if (pollMs <= 0) {
      this.#watcher = new ConfigWatcher({ path: this.#options.path, onEvent: () => this.#schedule() });
      this.#watcher.refresh();
    }
    const everyMs = pollMs > 0 ? pollMs : (this.#options.recheckMs ?? 10_000);
    if (everyMs > 0) {
      this.#interval = setInterval(() => void this.check(), everyMs);
      this.#interval.unref();
    }
  }

  /** The directories watched for events now (none when polling). */
  get watchedDirectories(): string[] {
    return this.#watcher?.directories ?? [];
  }

  // Editors and writers change files in bursts: check once they are quiet.
  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.check(), this.#options.debounceMs ?? 100);
  }

  close(): void {
    this.#watcher?.close();
    clearTimeout(this.#timer);
    clearInterval(this.#interval);
    this.cache.close();
  }
}
