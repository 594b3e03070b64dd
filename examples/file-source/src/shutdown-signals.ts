/** Options of {@link onShutdownSignals}. */
export interface ShutdownSignalsOptions {
  /** The graceful shutdown, run on the first SIGINT or SIGTERM; the process exits 0 when it resolves. */
  readonly graceful: () => Promise<void>;
  /**
   * The latest the graceful shutdown may finish, in ms after the first
   * signal; past it the process exits 1 (a bound, so a stuck close never
   * outlives the orchestrator's grace period).
   */
  readonly deadlineMs: number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
  /** Ends the process; default `process.exit`. */
  readonly exit?: (code: number) => void;
}

/**
 * SIGINT and SIGTERM: the first starts the graceful shutdown, bounded by
 * `deadlineMs`; a second one (an operator's second Ctrl-C, or a supervisor
 * that will not wait) exits at once with 1, without draining.
 */
export function onShutdownSignals(options: ShutdownSignalsOptions): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.log("warn", `${signal} again: exiting now without draining`);
      exit(1);
      return;
    }
    stopping = true;
    options.log("info", `${signal}: shutting down (at most ${options.deadlineMs} ms; send it again to exit at once)`);
    setTimeout(() => {
      options.log("error", `shutdown did not finish within ${options.deadlineMs} ms: exiting`);
      exit(1);
    }, options.deadlineMs).unref();
    options.graceful().then(
      () => exit(0),
      (error: unknown) => {
        options.log("error", `shutdown failed: ${String(error)}`);
        exit(1);
      },
    );
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, onSignal);
}
