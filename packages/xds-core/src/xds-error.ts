import { type GrpcStatus, grpcStatusOf, XdsErrorCode } from "./error-code.js";

/** Facts an {@link XdsError} carries; which ones depends on its code. */
export interface XdsErrorDetails {
  /** The type URL involved. */
  readonly typeUrl?: string;
  /** Resource names involved (missing, duplicated, refused...). */
  readonly names?: readonly string[];
  /** The node id of the client involved. */
  readonly nodeId?: string;
  /** The node key (see `NodeHash`) the node's state is stored under. */
  readonly nodeKey?: string;
  /** The version involved (e.g. the one a client already holds). */
  readonly version?: string;
  /** The dotted path of the invalid field, for `invalid_config` and `invalid_request`. */
  readonly field?: string;
  /** Why the field or request is invalid, or why a limit applies. */
  readonly reason?: string;
  /** The limit that was reached. */
  readonly limit?: number;
  readonly [fact: string]: unknown;
}

const brand = Symbol.for("@nebucloud/xds-core/XdsError");

/**
 * The one error class of every `@nebucloud/xds-*` package: a {@link XdsErrorCode},
 * the raw message, the facts a user needs to act on it, and an optional cause.
 * `instanceof XdsError` holds across duplicate installs of this package.
 */
export class XdsError extends Error {
  /** Always `"XdsError"`. */
  override name = "XdsError";
  /** Why it failed. */
  readonly code: XdsErrorCode;
  /** The message without the `[code]` prefix. */
  readonly rawMessage: string;
  /** The facts its code promises (type URL, names, node id, field...). */
  readonly details: XdsErrorDetails;

  constructor(code: XdsErrorCode, message: string, details: XdsErrorDetails = {}, options: { cause?: unknown } = {}) {
    super(`[${code}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.rawMessage = message;
    this.details = details;
    Object.defineProperty(this, brand, { value: true });
  }

  /** The gRPC status a server answers with for this error. */
  get grpcStatus(): GrpcStatus {
    return grpcStatusOf(this.code);
  }

  /**
   * Wraps anything thrown as an XdsError: an XdsError is returned as is, any
   * other value becomes `code` (default internal) with the value as its cause.
   */
  static from(reason: unknown, code: XdsErrorCode = XdsErrorCode.Internal): XdsError {
    if (reason instanceof XdsError) return reason;
    if (reason instanceof Error) return new XdsError(code, reason.message, {}, { cause: reason });
    return new XdsError(code, String(reason), {}, { cause: reason });
  }

  /** Whether `value` is an XdsError of any copy of this package: a brand check, so `instanceof` holds across duplicate installs. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}
