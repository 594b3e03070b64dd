import { Code, ConnectError } from "@connectrpc/connect";
import { XdsError } from "@nebucloud/xds-core";

/**
 * The status a client sees for anything thrown while serving it: an XdsError
 * keeps its code's gRPC status and its message; a ConnectError passes through;
 * anything else is INTERNAL without leaking its text.
 */
export function toConnectError(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  if (reason instanceof XdsError) return new ConnectError(reason.rawMessage, reason.grpcStatus as number as Code);
  return new ConnectError("internal error", Code.Internal, undefined, undefined, reason);
}

/**
 * Node socket errors a vanished client causes. They end its stream and are
 * not the server's fault, so they are logged at debug level only.
 */
export function isDisconnect(reason: unknown): boolean {
  const code = (reason as { code?: unknown } | undefined)?.code;
  if (reason instanceof ConnectError) return reason.code === Code.Canceled || reason.code === Code.Aborted;
  return (
    code === "ECONNRESET" ||
    code === "EPIPE" ||
    code === "ETIMEDOUT" ||
    code === "ERR_HTTP2_STREAM_CANCEL" ||
    code === "ERR_HTTP2_INVALID_STREAM" ||
    code === "ERR_STREAM_PREMATURE_CLOSE" ||
    (reason as Error | undefined)?.name === "AbortError"
  );
}
