/**
 * The logging the server does, through whatever logger you pass (pino, or
 * `console` wrapped to this shape). Messages are short; facts go in `fields`.
 */
export interface Logger {
  /** Per-request detail (connection errors, stale nonces). */
  debug(fields: Record<string, unknown>, message: string): void;
  /** Lifecycle events: listening, shutting down, drain timeouts. */
  info(fields: Record<string, unknown>, message: string): void;
  /** Something a client or the operator should fix; the server goes on. */
  warn(fields: Record<string, unknown>, message: string): void;
  /** A failure the server could not answer properly (a callback or page threw). */
  error(fields: Record<string, unknown>, message: string): void;
}

/** A logger that drops everything: the default, so a library never writes to stdout unasked. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
