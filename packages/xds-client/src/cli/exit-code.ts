import { XdsError } from "@nebucloud/xds-core";

/** xdsctl's exit codes. */
export const ExitCode = {
  Ok: 0,
  /** Anything not listed below (a server error status, a bug). */
  Failure: 1,
  /** Bad usage: unknown command, flag or resource type, unreadable file. */
  Usage: 2,
  /** The server could not be reached. */
  Unreachable: 3,
  /** The TLS handshake failed. */
  Tls: 4,
  /** Timed out, or a named resource does not exist. */
  NotFound: 5,
} as const;

/** One of {@link ExitCode}'s values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code for an error xdsctl ends with. */
export function exitCodeOf(error: unknown): ExitCode {
  if (!(error instanceof XdsError)) return ExitCode.Failure;
  switch (error.code) {
    case "invalid_request":
    case "invalid_config":
    case "unknown_type":
      return ExitCode.Usage;
    case "resource_not_found":
      return ExitCode.NotFound;
    case "channel_closed": {
      const reason = error.details["reason"];
      if (reason === "unreachable") return ExitCode.Unreachable;
      if (reason === "tls") return ExitCode.Tls;
      if (reason === "timeout") return ExitCode.NotFound;
      return ExitCode.Failure;
    }
    default:
      return ExitCode.Failure;
  }
}
