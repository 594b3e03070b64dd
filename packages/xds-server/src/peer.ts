import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { createContextKey } from "@connectrpc/connect";

/** Who is on the other end of a call: address, and the client certificate under mTLS. */
export interface Peer {
  /** The client's address as HOST:PORT; undefined when the socket does not say. */
  readonly address: string | undefined;
  /**
   * The verified client certificate's identities: its URI SANs (SPIFFE ids)
   * then its CN. Empty without a verified certificate (plain TCP, TLS without
   * client certificates, or a certificate that did not chain to the CA).
   */
  readonly identities: readonly string[];
  /** The verified certificate's URI SANs (`spiffe://…` ids among them). */
  readonly uriSans: readonly string[];
  /** The verified certificate's DNS SANs. */
  readonly dnsSans: readonly string[];
  /** The verified certificate's subject as `CN=…, O=…`; "" without one. */
  readonly subject: string;
}

/** A peer that presented no verified certificate. */
export const anonymousPeer = (address: string | undefined): Peer => ({
  address,
  identities: [],
  uriSans: [],
  dnsSans: [],
  subject: "",
});

/** Where handlers find the {@link Peer} of their call. */
export const peerKey = createContextKey<Peer>(anonymousPeer(undefined), { description: "xds peer" });

/** Reads the peer from a Node.js request: its socket address and TLS certificate. */
export function peerOf(request: IncomingMessage | Http2ServerRequest): Peer {
  return peerOfSocket(request.socket);
}

/**
 * Reads the peer from a connection's socket: its address and, only when the
 * TLS handshake verified it against the CA, its certificate's names. An
 * unverified certificate's names are attacker-chosen and never counted.
 */
export function peerOfSocket(connection: Socket | TLSSocket | undefined): Peer {
  const socket = connection as TLSSocket | undefined;
  const address = socket?.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : undefined;
  if (!socket || typeof socket.getPeerCertificate !== "function" || !socket.authorized) return anonymousPeer(address);
  const cert = socket.getPeerCertificate();
  const uriSans: string[] = [];
  const dnsSans: string[] = [];
  for (const part of (cert.subjectaltname ?? "").split(/,\s*/)) {
    if (part.startsWith("URI:")) uriSans.push(part.slice(4));
    else if (part.startsWith("DNS:")) dnsSans.push(part.slice(4));
  }
  const identities = [...uriSans];
  const cn = cert.subject?.CN;
  if (typeof cn === "string" && cn) identities.push(cn);
  const subject = Object.entries(cert.subject ?? {})
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`)
    .join(", ");
  return { address, identities, uriSans, dnsSans, subject };
}
