/**
 * The logging the client does, through whatever logger you pass (pino, or
 * `console` wrapped to this shape); the same shape as `@nebucloud/xds-server`'s
 * Logger. Messages are short; facts go in `fields`.
 */
export interface Logger {
  /** Detail useful when chasing a problem: connection attempts that failed, does-not-exist timeouts. */
  debug(fields: Record<string, unknown>, message: string): void;
  /** Lifecycle events: a stream opened, a resource's TTL ran out. */
  info(fields: Record<string, unknown>, message: string): void;
  /** Something to look at; the client goes on: a lost stream, a NACK, a listener or handler that threw. */
  warn(fields: Record<string, unknown>, message: string): void;
  /** A failure the client could not recover from on its own. Kept so the shape matches the server's Logger. */
  error(fields: Record<string, unknown>, message: string): void;
}

/** A logger that drops everything: the default, so a library never writes to stdout unasked. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
