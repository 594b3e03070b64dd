import { createHash, timingSafeEqual } from "node:crypto";
import type http from "node:http";
import { BlockList, isIP } from "node:net";
import type { TLSSocket } from "node:tls";
import { XdsError } from "@nebucloud/xds-core";

/** TLS for the admin listener; with `ca`, mTLS. */
export interface AdminTlsOptions {
  /** The server's certificate chain, PEM. */
  readonly cert: string | Buffer;
  /** The server's private key, PEM. */
  readonly key: string | Buffer;
  /**
   * CAs that sign operators' client certificates, PEM. When given, every page
   * except `/healthz` and `/readyz` needs a client certificate they verify
   * (probes from a kubelet carry none).
   */
  readonly ca?: string | Buffer;
}

/** Why a request was refused: what the 401 answer says. */
export interface AccessRefusal {
  readonly code: "unauthenticated";
  readonly message: string;
  /** The `WWW-Authenticate` header value. */
  readonly challenge: string;
}

/** Paths a load balancer or kubelet probes: never behind a credential. */
const probePaths: ReadonlySet<string> = new Set(["/healthz", "/readyz"]);

const challenge = 'Bearer realm="xds-admin"';

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

/**
 * Whether `host` (as in HOST:PORT, brackets removed) names this machine's
 * loopback interface only: 127.0.0.0/8, ::1 (also IPv4-mapped) or `localhost`.
 * `0.0.0.0`, `::` and every other name are not.
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  const family = isIP(host);
  // BlockList also matches IPv4-mapped IPv6 (::ffff:127.0.0.1) against the IPv4 subnet.
  return family !== 0 && loopback.check(host, family === 4 ? "ipv4" : "ipv6");
}

/**
 * Refuses an admin server that would be reachable from other hosts with
 * nothing in front of its pages: anyone who can connect would read every
 * node's subscriptions and NACK messages.
 */
export function assertExposureAllowed(address: string, host: string, hasToken: boolean, hasMtls: boolean): void {
  if (isLoopbackHost(host) || hasToken || hasMtls) return;
  throw new XdsError(
    "invalid_config",
    `admin address ${address} is not a loopback address, and the admin server has no token and no mTLS: ` +
      "anyone who can reach it would read every node's state. Set a token (the main job's " +
      "--admin-token-file PATH, or `token` of startAdminServer), configure mTLS (`tls.ca`), or bind 127.0.0.1",
    { field: "address", reason: "a non-loopback admin address needs a token or mTLS" },
  );
}

/** Compares in constant time: hashing first makes the lengths equal, so the length leaks nothing either. */
function sameToken(presented: string, expected: string): boolean {
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

function bearerOf(req: http.IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match ? match[1] : "";
}

/**
 * Whether a request may see `path`; undefined when it may. Probes always may.
 * Otherwise every configured credential must hold: the bearer token (from the
 * `Authorization` header, or for `/` only a `token` query parameter, because a
 * browser cannot send a header when it opens a page) and a client certificate
 * the admin CA verified. Messages never repeat what the client sent.
 */
export function refusalOf(
  req: http.IncomingMessage,
  path: string,
  query: URLSearchParams,
  token: string | undefined,
  mtls: boolean,
): AccessRefusal | undefined {
  if (probePaths.has(path)) return undefined;
  if (mtls && !(req.socket as TLSSocket).authorized) {
    return {
      code: "unauthenticated",
      message: `${path} needs a client certificate signed by the admin server's CA (tls.ca)`,
      challenge,
    };
  }
  if (token === undefined) return undefined;
  const presented = bearerOf(req) ?? (path === "/" ? (query.get("token") ?? undefined) : undefined);
  if (presented === undefined) {
    return {
      code: "unauthenticated",
      message: `${path} needs the admin token: send "Authorization: Bearer <token>" with the token the server was started with (--admin-token-file)`,
      challenge,
    };
  }
  if (!sameToken(presented, token)) {
    return {
      code: "unauthenticated",
      message: `the admin token sent for ${path} is not the one the server was started with (--admin-token-file)`,
      challenge: `${challenge}, error="invalid_token"`,
    };
  }
  return undefined;
}

/**
 * What a browser gets instead of the status page without a token: a form that
 * opens `/?token=...`. A page that stored the token in sessionStorage under
 * `xds-admin-token` (the file-source status page does) is reopened with it, so
 * a reload keeps working; after a refused token it asks again instead.
 */
export function tokenFormHtml(message: string): string {
  const escaped = message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>admin token needed</title></head>
<body style="font: 14px system-ui, sans-serif; margin: 2rem">
<p id="refusal">${escaped}</p>
<script>
const stored = sessionStorage.getItem("xds-admin-token");
if (new URLSearchParams(location.search).has("token")) sessionStorage.removeItem("xds-admin-token");
else if (stored) location.replace("/?token=" + encodeURIComponent(stored));
</script>
<form method="get" action="/"><label>Admin token <input type="password" name="token" autocomplete="off" autofocus></label> <button>Open</button></form>
</body></html>
`;
}
