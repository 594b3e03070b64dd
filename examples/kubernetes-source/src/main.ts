#!/usr/bin/env node
// An xDS control plane fed by Kubernetes: the Services of a namespace (and
// their EndpointSlices) become clusters, endpoints, routes and listeners that
// proxyless gRPC clients reach as xds:///<service>.<namespace>:<port>.
import { parseArgs } from "node:util";
import { startAdminServer, XdsServer } from "@nebucloud/xds-server";
import { KubernetesSource, kubeConfigFor } from "./source.js";

const { values } = parseArgs({
  options: {
    "kube-server": { type: "string" },
    namespace: { type: "string", default: "default" },
    "all-namespaces": { type: "boolean", default: false },
    "label-selector": { type: "string" },
    "xds-address": { type: "string", default: "127.0.0.1:18000" },
    "admin-address": { type: "string", default: "127.0.0.1:9901" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(`usage: xds-kubernetes-source [--kube-server URL] [--namespace NS | --all-namespaces]
                             [--label-selector SELECTOR] [--xds-address HOST:PORT] [--admin-address HOST:PORT]
  --kube-server     the API server, e.g. http://127.0.0.1:8001 from \`kubectl proxy\`
                    (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)
  --namespace       the namespace whose Services are served (default "default")
  --all-namespaces  serve the Services of every namespace
  --label-selector  only Services matching it, e.g. app.kubernetes.io/part-of=shop
  --xds-address     where gRPC clients and Envoy connect (default 127.0.0.1:18000)
  --admin-address   /healthz, /readyz, /metrics, /debug/* and /debug/kubernetes (default 127.0.0.1:9901)`);
  process.exit(0);
}

const log = (level: "info" | "warn" | "error", message: string) =>
  (level === "error" ? console.error : console.log)(`${new Date().toISOString()} ${level} ${message}`);

const namespace = values["all-namespaces"] ? undefined : values.namespace;
const source = new KubernetesSource({
  kubeConfig: kubeConfigFor(values["kube-server"], namespace),
  namespace,
  labelSelector: values["label-selector"],
  log,
});
await source.start();

const shutdown = new AbortController();
const server = await XdsServer.builder()
  .withCache(source.cache)
  .withHealthService()
  .withMetrics()
  .serveWithShutdown(values["xds-address"], shutdown.signal);
const admin = await startAdminServer({
  address: values["admin-address"],
  handle: server,
  cache: source.cache,
  ready: () =>
    source.ready ? { ready: true } : { ready: false, reason: "Services and EndpointSlices not listed yet" },
  extraDebug: { kubernetes: () => source.status() },
});
console.log(
  `xds-kubernetes-source: watching ${namespace === undefined ? "every namespace" : `namespace ${namespace}`}` +
    `${values["label-selector"] ? ` (${values["label-selector"]})` : ""} — xDS on ${server.address}, admin on http://${admin.address}/`,
);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log("info", `${signal}: shutting down`);
    shutdown.abort();
    void server.shutdown().then(async () => {
      await admin.close();
      await source.close();
    });
  });
}
