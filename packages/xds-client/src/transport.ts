import type { SecureClientSessionOptions } from "node:http2";
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { ClientTlsOptions } from "./client-options.js";

/** One HTTP/2 connection to a server and the gRPC transport over it. */
export interface Connection {
  readonly transport: Transport;
  /**
   * Opens the connection; rejects with the socket or TLS error when it cannot
   * (so that callers tell "unreachable" from "the stream failed").
   */
  connect(): Promise<void>;
  /** Closes the connection and every stream on it. Idempotent. */
  close(): void;
}

/** HTTP/2 keepalive: a PING every 30 s on a busy connection; no answer within 15 s closes it. */
const keepalive = { pingIntervalMs: 30_000, pingTimeoutMs: 15_000 };

/**
 * A fresh connection to `baseUrl` (http:// or https://) for gRPC over HTTP/2,
 * with TLS material passed to Node's `http2.connect`. The caller owns it and
 * must {@link Connection.close} it; nothing is opened before `connect` or a
 * first call.
 */
export function openConnection(baseUrl: string, tls: ClientTlsOptions | undefined): Connection {
  const nodeOptions: SecureClientSessionOptions = tls
    ? {
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.serverName ? { servername: tls.serverName } : {}),
      }
    : {};
  const sessions = new Http2SessionManager(baseUrl, keepalive, nodeOptions);
  const transport = createGrpcTransport({ baseUrl, sessionManager: sessions });
  return {
    transport,
    async connect() {
      const state = await sessions.connect();
      if (state === "error") throw sessions.error() ?? new Error(`cannot connect to ${baseUrl}`);
    },
    close() {
      sessions.abort();
    },
  };
}
