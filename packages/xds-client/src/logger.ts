/**
 * The logging the client does, through whatever logger you pass (pino, or
 * `console` wrapped to this shape); the same shape as `@nebucloud/xds-server`'s
 * Logger. Messages are short; facts go in `fields`.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A logger that drops everything: the default, so a library never writes to stdout unasked. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
