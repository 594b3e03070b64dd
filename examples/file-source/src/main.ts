#!/usr/bin/env node
// The main job: serves Envoy resources from a YAML/JSON file or directory,
// reloads it when it changes, and shows what every node has acked or rejected.
// With --store, replicas share what one elected writer loaded through etcd.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startAdminServer, XdsServer } from "@nebucloud/xds-server";
import { Registry } from "prom-client";
import { readAdminToken } from "./admin-token.js";
import { registerConfigMetrics } from "./config-metrics.js";
import { FileSource } from "./file-source.js";
import { parseBytes, parseSeconds } from "./flag-values.js";
import { openReplicated } from "./replicated.js";
import { authorizerOf, limitsOf, readSecurityFile, type SecuritySettings, SettingsError } from "./security-settings.js";
import { onShutdownSignals } from "./shutdown-signals.js";
import { type StatusSource, statusJson, statusPageHtml } from "./status.js";
import { loadTls, watchTls } from "./tls-files.js";

const defaultConfig = fileURLToPath(new URL("../config/default.yaml", import.meta.url));

// `pnpm start -- --flag` passes the `--` through; parseArgs would take it as the end of the options.
const argv = process.argv.slice(2);
const { values } = parseArgs({
  args: argv[0] === "--" ? argv.slice(1) : argv,
  options: {
    config: { type: "string", default: defaultConfig },
    "xds-address": { type: "string", default: "127.0.0.1:18000" },
    "admin-address": { type: "string", default: "127.0.0.1:9901" },
    "admin-token-file": { type: "string" },
    store: { type: "string" },
    replica: { type: "boolean", default: false },
    "lease-ttl": { type: "string", default: "10" },
    identity: { type: "string" },
    security: { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "client-ca": { type: "string" },
    "max-watches-per-node": { type: "string" },
    "max-streams-per-peer": { type: "string" },
    "requests-per-second-per-peer": { type: "string" },
    "new-streams-per-second": { type: "string" },
    "write-timeout": { type: "string" },
    "recheck-interval": { type: "string", default: "10" },
    "poll-interval": { type: "string" },
    "max-config-bytes": { type: "string", default: "32MiB" },
    "drain-timeout": { type: "string", default: "5" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(`usage: xds-file-source [--config PATH] [--xds-address HOST:PORT] [--admin-address HOST:PORT]
                       [--admin-token-file PATH]
                       [--store etcd://HOST:PORT/PREFIX [--replica] [--lease-ttl SECONDS] [--identity NAME]]
                       [--recheck-interval SECONDS] [--poll-interval SECONDS] [--max-config-bytes SIZE]
                       [--drain-timeout SECONDS]
  --config          YAML or JSON file, or a directory of them (default: the bundled config); symlinks are
                    followed, so a Kubernetes ConfigMap or Secret volume (file or directory) is picked up
  --xds-address     where Envoy and gRPC clients connect (default 127.0.0.1:18000)
  --admin-address   /healthz, /readyz, /metrics, /debug/*, and the status page at / (default 127.0.0.1:9901)
  --admin-token-file  a file holding the bearer token every admin page but /healthz and /readyz needs;
                    required when --admin-address is not a loopback address
  --store           share state through etcd: every process serves what etcd holds, and the one
                    elected writer publishes what it loads from --config (default: no store)
  --replica         with --store: never write, load no config, only serve what the writer published
  --lease-ttl       with --store: seconds before a standby takes over from a writer that died (default 10)
  --identity        with --store: this process's name on status pages (default host:pid)
  --security FILE   TLS paths, identities (SPIFFE id -> node groups, node ids, Secrets), admins and
                    limits, as YAML or JSON (see docs/security.md); the flags below override it
  --tls-cert FILE --tls-key FILE   serve xDS over TLS; both files are re-read when they change
  --client-ca FILE  verify client certificates against this CA (mTLS identities)
  --max-watches-per-node N         open watches per node, not per node group (default 1000)
  --max-streams-per-peer N         xDS streams per client identity or IP (default 0: off)
  --requests-per-second-per-peer N xDS requests per second per client (default 0: off)
  --new-streams-per-second N       new xDS streams per second, server-wide (default 0: off)
  --write-timeout SECONDS          reset a stream whose client accepts no bytes this long (default 60)
  --recheck-interval  re-read the config this often and reload it if its hash changed, even with no
                    file-system event: the longest a missed event can leave it stale (default 10; 0: off)
  --poll-interval   read the config this often instead of watching file-system events, for network and
                    overlay file systems whose events are unreliable (default: off, events are watched)
  --max-config-bytes  refuse a config larger than this, every file together (default 32MiB; 25MB, 512KiB...)
  --drain-timeout   on SIGTERM/SIGINT, seconds clients get to move away before their streams end with
                    UNAVAILABLE; the whole shutdown fits in it (default 5). A second signal exits at once`);
  process.exit(0);
}
if (values.replica && !values.store) {
  console.error("xds-file-source: --replica needs --store etcd://host:port/prefix");
  process.exit(2);
}
const leaseTtl = Number(values["lease-ttl"]);
if (!Number.isInteger(leaseTtl) || leaseTtl < 1) {
  console.error(`xds-file-source: --lease-ttl ${values["lease-ttl"]} is not a whole number of seconds >= 1`);
  process.exit(2);
}

let adminToken: string | undefined;
let recheckSeconds: number;
let pollSeconds: number | undefined;
let maxConfigBytes: number;
let drainSeconds: number;
try {
  adminToken = values["admin-token-file"] === undefined ? undefined : readAdminToken(values["admin-token-file"]);
  recheckSeconds = parseSeconds("recheck-interval", values["recheck-interval"], 0);
  pollSeconds =
    values["poll-interval"] === undefined ? undefined : parseSeconds("poll-interval", values["poll-interval"], 0.05);
  maxConfigBytes = parseBytes("max-config-bytes", values["max-config-bytes"]);
  drainSeconds = parseSeconds("drain-timeout", values["drain-timeout"], 0);
} catch (error) {
  console.error(`xds-file-source: ${(error as Error).message}`);
  process.exit(2);
}

const log = (level: "info" | "warn" | "error", message: string) =>
  (level === "error" ? console.error : console.log)(`${new Date().toISOString()} ${level} ${message}`);

let security: SecuritySettings;
let tls: ReturnType<typeof loadTls> | undefined;
try {
  security = securityFrom(values);
  if ((security.tlsCert === undefined) !== (security.tlsKey === undefined)) {
    throw new SettingsError("--tls-cert and --tls-key go together");
  }
  if (security.clientCa && !security.tlsCert) throw new SettingsError("--client-ca needs --tls-cert and --tls-key");
  if (security.identities && !security.clientCa) {
    log(
      "warn",
      "identities are set without --client-ca: no caller has a verified identity, so only `unauthenticated` applies",
    );
  }
  tls = security.tlsCert
    ? loadTls({
        cert: security.tlsCert,
        key: security.tlsKey as string,
        clientCa: security.clientCa,
        requireClientCert: security.requireClientCert,
      })
    : undefined;
} catch (error) {
  if (!(error instanceof SettingsError)) throw error;
  console.error(`xds-file-source: ${error.message}`);
  process.exit(2);
}

let replicated: ReturnType<typeof openReplicated> | undefined;
if (values.store) {
  try {
    replicated = openReplicated({
      url: values.store,
      candidate: !values.replica,
      leaseTtlSeconds: leaseTtl,
      ...(values.identity ? { identity: values.identity } : {}),
      log,
    });
  } catch (error) {
    console.error(`xds-file-source: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
}

// A replica loads nothing: it serves what the writer published.
const source = values.replica
  ? undefined
  : new FileSource({
      path: values.config,
      recheckMs: recheckSeconds * 1000,
      ...(pollSeconds !== undefined ? { pollMs: pollSeconds * 1000 } : {}),
      maxConfigBytes,
      maxConfigBytesFlag: "--max-config-bytes",
      log,
      ...(replicated ? { onApplied: replicated.publish } : {}),
      ...(security.limits?.maxWatchesPerNode ? { maxWatchesPerNode: security.limits.maxWatchesPerNode } : {}),
    });
if (source) {
  const first = await source.reload();
  if (!first.ok) log("warn", "starting without a config: fix the file and it is loaded as soon as it is saved");
  source.watch();
}
const cache = replicated?.cache ?? source?.cache;
if (!cache) throw new Error("unreachable: neither a store nor a config");

// One registry for the server's metrics and the file-source's, served at /metrics.
const registry = new Registry();
if (source) registerConfigMetrics(registry, () => source.status);
const shutdown = new AbortController();
const builder = XdsServer.builder();
if (tls) builder.withTls(tls);
const authorizer = authorizerOf(security);
if (authorizer) builder.withAuthorizer(authorizer.authorize, authorizer.options);
const server = await builder
  .withCache(cache)
  .withConfig({ ...limitsOf(security), drainTimeoutMs: Math.round(drainSeconds * 1000) })
  .withHealthService()
  .withMetrics(registry)
  .withReflection()
  .withLogger({
    debug() {},
    info: (fields, message) => log("info", `${message} ${JSON.stringify(fields)}`),
    warn: (fields, message) => log("warn", `${message} ${JSON.stringify(fields)}`),
    error: (fields, message) => log("error", `${message} ${JSON.stringify(fields)}`),
  })
  .serveWithShutdown(values["xds-address"], shutdown.signal);

const view: StatusSource = {
  groupOf: (node) => (replicated ? replicated.groupOf(node) : (source?.groupOf(node) ?? "")),
  get status() {
    return source?.status;
  },
  ...(replicated ? { store: replicated.status } : {}),
};
const admin = await startAdminServer({
  address: values["admin-address"],
  ...(adminToken === undefined ? {} : { token: adminToken }),
  handle: server,
  cache,
  ready: () => {
    if (replicated) return replicated.readiness();
    return source?.ready ? { ready: true } : { ready: false, reason: "no valid config loaded yet" };
  },
  extraDebug: {
    status: () => statusJson(view, server),
    config: () => source?.status ?? null,
    ...(replicated ? { store: () => replicated?.status() } : {}),
  },
  statusPage: (_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(statusPageHtml);
  },
}).catch((error: unknown) => {
  // A refused admin address (not loopback, no token) is a usage error: one line, exit 2.
  console.error(`xds-file-source: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
});
const serving = values.replica ? `replica of ${values.store}` : `serving ${values.config}`;
console.log(
  `xds-file-source: ${serving}${values.store && !values.replica ? ` through ${values.store}` : ""} — xDS on ${server.address}, admin and status page on http://${admin.address}/`,
);

const stopTls =
  tls && security.tlsCert
    ? watchTls(
        { cert: security.tlsCert, key: security.tlsKey as string, clientCa: security.clientCa },
        (next) => {
          server.updateTls(next);
          log("info", `TLS material reloaded; the certificate is valid until ${next.notAfter.toISOString()}`);
        },
        (error) => log("error", `TLS reload refused, the previous certificate keeps serving: ${error.message}`),
      )
    : () => {};

onShutdownSignals({
  log,
  // The server's drain fits in the drain timeout; closing the admin port and resigning from etcd take the rest.
  deadlineMs: Math.round(drainSeconds * 1000) + 2000,
  graceful: async () => {
    shutdown.abort();
    await server.shutdown();
    await admin.close();
    stopTls();
    source?.close();
    // Resigning lets a standby take over at once instead of after the lease TTL.
    await replicated?.close();
  },
});

/** Security settings: the `--security` file, then each flag over it. */
function securityFrom(flags: typeof values): SecuritySettings {
  const file = flags.security ? readSecurityFile(flags.security) : {};
  const number = (flag: string, text: string | undefined, scale = 1): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0) throw new SettingsError(`--${flag} ${text} is not a number >= 0`);
    return n * scale;
  };
  const limits = {
    ...file.limits,
    ...defined({
      maxWatchesPerNode: number("max-watches-per-node", flags["max-watches-per-node"]),
      maxStreamsPerPeer: number("max-streams-per-peer", flags["max-streams-per-peer"]),
      requestsPerSecondPerPeer: number("requests-per-second-per-peer", flags["requests-per-second-per-peer"]),
      newStreamsPerSecond: number("new-streams-per-second", flags["new-streams-per-second"]),
      writeTimeoutMs: number("write-timeout", flags["write-timeout"], 1000),
    }),
  };
  return {
    ...file,
    ...defined({ tlsCert: flags["tls-cert"], tlsKey: flags["tls-key"], clientCa: flags["client-ca"] }),
    limits,
  };
}

function defined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
