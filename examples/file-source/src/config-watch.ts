import { type FSWatcher, readlinkSync, statSync, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";

/** Options of {@link ConfigWatcher}. */
export interface ConfigWatcherOptions {
  /** The config file or directory. */
  readonly path: string;
  /** Called on every file-system event that may have changed the config (undebounced). */
  readonly onEvent: () => void;
}

interface Watched {
  readonly watcher: FSWatcher;
  /** The directory's inode when the watcher was opened: a directory deleted and recreated gets a new one. */
  readonly ino: number;
}

/** The target of a symlink; undefined for anything else (a file, nothing). */
function readlinkOrUndefined(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

// Symlink hops followed before giving up (the kernel's own limit is 40).
const maxHops = 40;

/**
 * File-system watches on everything whose change can change the config: the
 * directory holding the file, the directory of every symlink hop to it (a
 * Kubernetes volume swaps `..data`; an operator may link to a file elsewhere),
 * or the configured directory itself, and each one's parent, so that a
 * directory that is deleted and recreated is seen coming back.
 *
 * Events are a hint, never the truth: the owner re-reads and compares content
 * hashes, so a spurious event costs a read, and {@link refresh} (called after
 * every read) reopens watches on directories that were replaced.
 * Not safe to call concurrently with itself; the owner serializes calls.
 */
export class ConfigWatcher {
  readonly #options: ConfigWatcherOptions;
  readonly #watched = new Map<string, Watched>();
  /** Names in watched directories whose change matters; undefined: every name does (directory mode). */
  #names: Set<string> | undefined = new Set();
  #closed = false;

  constructor(options: ConfigWatcherOptions) {
    this.#options = options;
  }

  /**
   * Reopens the watches to match what the path resolves to now. Synchronous
   * (a few stat calls), so that a change made right after it returns is seen.
   */
  refresh(): void {
    if (this.#closed) return;
    const path = resolve(this.#options.path);
    const info = statSync(path, { throwIfNoEntry: false });
    const wanted = new Set<string>();
    if (info?.isDirectory() || (!info && !/\.(ya?ml|json)$/.test(path))) {
      this.#names = undefined;
      wanted.add(path);
      wanted.add(dirname(path));
    } else {
      const names = new Set<string>();
      let hop = path;
      for (let i = 0; i < maxHops; i++) {
        wanted.add(dirname(hop));
        names.add(basename(hop));
        const target = readlinkOrUndefined(hop);
        if (target === undefined) break;
        hop = resolve(dirname(hop), target);
      }
      // The file's directory itself, to see it deleted and recreated.
      wanted.add(dirname(dirname(path)));
      names.add(basename(dirname(path)));
      this.#names = names;
    }
    for (const [dir, watched] of this.#watched) {
      const now = statSync(dir, { throwIfNoEntry: false });
      if (!wanted.has(dir) || now?.ino !== watched.ino) this.#unwatch(dir);
    }
    for (const dir of wanted) if (!this.#watched.has(dir)) this.#watch(dir);
  }

  #watch(dir: string): void {
    const info = statSync(dir, { throwIfNoEntry: false });
    // A directory that does not exist yet is seen through its parent's watch.
    if (!info?.isDirectory() || this.#closed) return;
    try {
      const watcher = watch(dir, (_event, name) => {
        // Kubernetes' atomic writer names its links and directories `..data`, `..data_tmp`, `..<timestamp>`.
        if (this.#names && name !== null && !this.#names.has(name) && !name.startsWith("..")) return;
        this.#options.onEvent();
      });
      // A watched directory that is removed ends its watch with an error on some systems.
      watcher.on("error", () => {
        this.#unwatch(dir);
        this.#options.onEvent();
      });
      this.#watched.set(dir, { watcher, ino: info.ino });
    } catch {
      // Gone between the stat and the watch: the parent's watch or the next recheck sees it.
    }
  }

  #unwatch(dir: string): void {
    this.#watched.get(dir)?.watcher.close();
    this.#watched.delete(dir);
  }

  /** The directories watched now, for tests and `/debug/config`. */
  get directories(): string[] {
    return [...this.#watched.keys()].sort();
  }

  close(): void {
    this.#closed = true;
    for (const dir of [...this.#watched.keys()]) this.#unwatch(dir);
  }
}
