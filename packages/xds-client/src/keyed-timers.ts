/**
 * One-shot timers by key: starting a key that runs restarts it. Used for
 * does-not-exist timers and resource TTLs. Not thread-safe (nothing in Node
 * is): call from the event loop only.
 */
export class KeyedTimers {
  readonly #timers = new Map<string, NodeJS.Timeout>();

  /** Runs `fire` after `ms` unless cancelled or restarted first. */
  start(key: string, ms: number, fire: () => void): void {
    this.cancel(key);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      fire();
    }, ms);
    this.#timers.set(key, timer);
  }

  /** Whether a timer for `key` is running. */
  has(key: string): boolean {
    return this.#timers.has(key);
  }

  /** Stops the timer for `key`, if any. */
  cancel(key: string): void {
    const timer = this.#timers.get(key);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(key);
  }

  /** Stops every timer whose key starts with `prefix` (every timer when omitted). */
  cancelAll(prefix = ""): void {
    for (const [key, timer] of this.#timers) {
      if (!key.startsWith(prefix)) continue;
      clearTimeout(timer);
      this.#timers.delete(key);
    }
  }

  /** The keys of the running timers that start with `prefix`. */
  keys(prefix = ""): string[] {
    return [...this.#timers.keys()].filter((key) => key.startsWith(prefix));
  }

  /** How many timers are running. */
  get size(): number {
    return this.#timers.size;
  }
}
