import { type GrpcStatus, grpcStatusOf, XdsErrorCode } from "./error-code.js";

/** Facts an {@link XdsError} carries; which ones depends on its code. */
export interface XdsErrorDetails {
  readonly typeUrl?: string;
  readonly names?: readonly string[];
  readonly nodeId?: string;
  readonly nodeKey?: string;
  readonly version?: string;
  readonly field?: string;
  readonly reason?: string;
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

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}
