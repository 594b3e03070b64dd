import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { createContextKey } from "@connectrpc/connect";

/** Who is on the other end of a call: address, and the client certificate under mTLS. */
export interface Peer {
  /** The client's address as HOST:PORT; undefined when the socket does not say. */
  readonly address: string | undefined;
  /** The verified client certificate's identities (SPIFFE URI SANs and the CN), when mTLS is on. */
  readonly identities: readonly string[];
}

/** Where handlers find the {@link Peer} of their call. */
export const peerKey = createContextKey<Peer>({ address: undefined, identities: [] }, { description: "xds peer" });

/** Reads the peer from a Node.js request: its socket address and TLS certificate. */
export function peerOf(request: IncomingMessage | Http2ServerRequest): Peer {
  return peerOfSocket(request.socket);
}

/** Reads the peer from a connection's socket: its address and TLS certificate. */
export function peerOfSocket(connection: Socket | TLSSocket | undefined): Peer {
  const socket = connection as TLSSocket | undefined;
  const address = socket?.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : undefined;
  const identities: string[] = [];
  if (socket && typeof socket.getPeerCertificate === "function" && socket.authorized) {
    const cert = socket.getPeerCertificate();
    for (const part of (cert.subjectaltname ?? "").split(/,\s*/)) {
      if (part.startsWith("URI:")) identities.push(part.slice(4));
    }
    const cn = cert.subject?.CN;
    if (typeof cn === "string" && cn) identities.push(cn);
  }
  return { address, identities };
}
