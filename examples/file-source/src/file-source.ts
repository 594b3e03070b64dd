import { type FSWatcher, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { Snapshot } from "@nebucloud/xds-cache";
import { SnapshotCache } from "@nebucloud/xds-cache";
import { nodeHash } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { type ConfigProblem, formatProblem } from "./config-error.js";
import { readConfigDocuments } from "./config-files.js";
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
}

/** Options of {@link FileSource}. */
export interface FileSourceOptions {
  readonly path: string;
  /** Quiet period after a change before reloading (editors write in bursts). Default 100 ms. */
  readonly debounceMs?: number;
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
  #status: ReloadStatus = { at: "", ok: false, problems: [], counts: {}, servingSince: undefined };
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
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

  /** Loads the config now; resolves to the outcome (a rejected config keeps the last good one). */
  reload(): Promise<ReloadStatus> {
    if (this.#reloading) {
      this.#again = true;
      return this.#reloading;
    }
    this.#reloading = this.#load().finally(() => {
      this.#reloading = undefined;
      if (this.#again) {
        this.#again = false;
        void this.reload();
      }
    });
    return this.#reloading;
  }

  async #load(): Promise<ReloadStatus> {
    const log = this.#options.log ?? (() => {});
    const { documents, problems: readProblems } = await readConfigDocuments(this.#options.path);
    const { config, problems } =
      readProblems.length > 0 ? { config: undefined, problems: readProblems } : loadConfig(documents);
    const at = new Date().toISOString();
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
    this.#status = { at, ok: true, problems: [], counts: config.counts, servingSince: at };
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

  /** Watches the file or directory and reloads on every change (debounced). */
  watch(): void {
    const path = resolve(this.#options.path);
    const file = /\.(ya?ml|json)$/.test(path) ? basename(path) : undefined;
    // Editors often replace the file (rename); watching its directory sees that
    // too. Other files there (a log, say) must not cause reloads.
    this.#watcher = watch(file ? dirname(path) : path, (_event, name) => {
      if (file && name !== null && name !== file) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.reload(), this.#options.debounceMs ?? 100);
    });
  }

  close(): void {
    this.#watcher?.close();
    clearTimeout(this.#timer);
    this.cache.close();
  }
}
