import { Code, ConnectError } from "@connectrpc/connect";
import { XdsError } from "@nebucloud/xds-core";

/**
 * Why a stream to the server ended:
 * - `unreachable`: no connection (refused, no route, DNS, connect timeout);
 * - `tls`: the TLS handshake failed (certificate, protocol mismatch);
 * - `server`: the server ended the stream with a gRPC error status;
 * - `ended`: the server closed the stream without an error;
 * - `connection`: an established connection broke (reset, GOAWAY, ping timeout).
 */
export type StreamEndReason = "unreachable" | "tls" | "server" | "ended" | "connection";

const unreachableCodes = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EADDRNOTAVAIL",
  "ETIMEDOUT",
]);

// Node's TLS and OpenSSL verification codes (tls.TLSSocket#authorizationError and handshake errors).
const tlsCodes = new Set([
  "EPROTO",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_TLS_HANDSHAKE_TIMEOUT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
]);

/** Node error codes along an error's `cause` chain (ConnectError wraps the socket error). */
function codesOf(reason: unknown): string[] {
  const codes: string[] = [];
  let at: unknown = reason;
  for (let depth = 0; depth < 5 && at !== null && typeof at === "object"; depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
    at = (at as { cause?: unknown }).cause;
  }
  return codes;
}

/** The messages along an error's cause chain, each once (connect repeats its cause's text). */
function messagesOf(reason: unknown): string {
  let text = "";
  let at: unknown = reason;
  for (let depth = 0; depth < 5 && at instanceof Error; depth++) {
    const message = at instanceof ConnectError ? at.rawMessage : at.message;
    if (message && !text.includes(message)) text = text ? `${text}: ${message}` : message;
    at = at.cause;
  }
  return text;
}

/**
 * Classifies what ended a stream (see {@link StreamEndReason}). Node socket
 * and TLS errors are recognised by their `code` anywhere on the cause chain,
 * or for OpenSSL errors that carry no code, by their text.
 */
export function streamEndReason(reason: unknown): StreamEndReason {
  if (reason === undefined) return "ended";
  const codes = codesOf(reason);
  if (codes.some((c) => unreachableCodes.has(c))) return "unreachable";
  if (codes.some((c) => tlsCodes.has(c) || c.startsWith("ERR_SSL_") || c.startsWith("ERR_TLS_"))) return "tls";
  const text = messagesOf(reason);
  if (/\b(ssl|tls|certificate|wrong version number|handshake)\b/i.test(text)) return "tls";
  if (reason instanceof ConnectError) {
    // Connect reports transport failures as UNAVAILABLE/UNKNOWN/INTERNAL with the socket error as cause;
    // any other status (or one without a cause) came from the server.
    const transport = reason.cause !== undefined && reason.cause !== reason;
    if (!transport) return "server";
    if (reason.code === Code.Unavailable || reason.code === Code.Unknown || reason.code === Code.Internal) {
      return "connection";
    }
    return "server";
  }
  return "connection";
}

/**
 * The XdsError `channel_closed` a client reports when its stream to `address`
 * ends: details carry `address`, `reason` ({@link StreamEndReason}) and, for a
 * gRPC status, `grpcCode`; the original error is the cause.
 */
export function streamClosedError(address: string, reason: unknown): XdsError {
  const why = streamEndReason(reason);
  const grpcCode = reason instanceof ConnectError ? reason.code : undefined;
  const detail = reason === undefined ? "" : `: ${messagesOf(reason) || String(reason)}`;
  const text =
    why === "unreachable"
      ? `cannot reach the xDS server at ${address}${detail}`
      : why === "tls"
        ? `TLS with the xDS server at ${address} failed${detail}`
        : why === "ended"
          ? `the xDS server at ${address} ended the stream`
          : `the stream to the xDS server at ${address} failed${detail}`;
  return new XdsError(
    "channel_closed",
    text,
    { address, reason: why, ...(grpcCode === undefined ? {} : { grpcCode: Code[grpcCode] ?? grpcCode }) },
    reason === undefined ? {} : { cause: reason },
  );
}
