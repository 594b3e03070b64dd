#!/usr/bin/env node
// The main job: serves Envoy resources from a YAML/JSON file or directory,
// reloads it when it changes, and shows what every node has acked or rejected.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startAdminServer, XdsServer } from "@nebucloud/xds-server";
import { FileSource } from "./file-source.js";
import { statusJson, statusPageHtml } from "./status.js";

const defaultConfig = fileURLToPath(new URL("../config/default.yaml", import.meta.url));

const { values } = parseArgs({
  options: {
    config: { type: "string", default: defaultConfig },
    "xds-address": { type: "string", default: "127.0.0.1:18000" },
    "admin-address": { type: "string", default: "127.0.0.1:9901" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(`usage: xds-file-source [--config PATH] [--xds-address HOST:PORT] [--admin-address HOST:PORT]
  --config          YAML or JSON file, or a directory of them (default: the bundled config)
  --xds-address     where Envoy and gRPC clients connect (default 127.0.0.1:18000)
  --admin-address   /healthz, /readyz, /metrics, /debug/*, and the status page at / (default 127.0.0.1:9901)`);
  process.exit(0);
}

const log = (level: "info" | "warn" | "error", message: string) =>
  (level === "error" ? console.error : console.log)(`${new Date().toISOString()} ${level} ${message}`);

const source = new FileSource({ path: values.config, log });
const first = await source.reload();
if (!first.ok) log("warn", "starting without a config: fix the file and it is loaded as soon as it is saved");
source.watch();

const shutdown = new AbortController();
const server = await XdsServer.builder()
  .withCache(source.cache)
  .withHealthService()
  .withMetrics()
  .withReflection()
  .withLogger({
    debug() {},
    info: (fields, message) => log("info", `${message} ${JSON.stringify(fields)}`),
    warn: (fields, message) => log("warn", `${message} ${JSON.stringify(fields)}`),
    error: (fields, message) => log("error", `${message} ${JSON.stringify(fields)}`),
  })
  .serveWithShutdown(values["xds-address"], shutdown.signal);
const admin = await startAdminServer({
  address: values["admin-address"],
  handle: server,
  cache: source.cache,
  ready: () => (source.ready ? { ready: true } : { ready: false, reason: "no valid config loaded yet" }),
  extraDebug: { status: () => statusJson(source, server), config: () => source.status },
  statusPage: (_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(statusPageHtml);
  },
});
console.log(
  `xds-file-source: serving ${values.config} — xDS on ${server.address}, admin and status page on http://${admin.address}/`,
);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log("info", `${signal}: shutting down`);
    shutdown.abort();
    void server.shutdown().then(async () => {
      await admin.close();
      source.close();
      process.exit(0);
    });
  });
}
