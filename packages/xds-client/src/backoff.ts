/** Reconnect delays: exponential with jitter (gRPC's connection backoff). */
export interface BackoffOptions {
  /** Delay before the first retry. Default 1000 ms. */
  readonly initialMs?: number;
  /** Largest delay. Default 30000 ms. */
  readonly maxMs?: number;
  /** Factor between consecutive delays. Default 1.6. */
  readonly multiplier?: number;
  /** Each delay is spread uniformly by ± this fraction. Default 0.2. */
  readonly jitter?: number;
}

/** {@link BackoffOptions} with every default filled in. */
export type ResolvedBackoff = Required<BackoffOptions>;

/** The defaults of {@link BackoffOptions}. */
export const defaultBackoff: ResolvedBackoff = Object.freeze({
  initialMs: 1000,
  maxMs: 30_000,
  multiplier: 1.6,
  jitter: 0.2,
});

/**
 * The delay before retry number `attempt` (0 for the first retry):
 * `min(maxMs, initialMs * multiplier^attempt)`, spread by ±jitter and never
 * above `maxMs * (1 + jitter)`. `random` returns a number in [0, 1).
 */
export function backoffDelay(attempt: number, options: ResolvedBackoff, random: () => number = Math.random): number {
  const base = Math.min(options.maxMs, options.initialMs * options.multiplier ** Math.max(0, attempt));
  const spread = base * options.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(base + spread));
}
