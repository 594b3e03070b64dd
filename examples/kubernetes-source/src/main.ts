#!/usr/bin/env node
// An xDS control plane fed by Kubernetes: the Services of a namespace (and
// their EndpointSlices) become clusters, endpoints, routes and listeners that
// proxyless gRPC clients reach as xds:///<service>.<namespace>:<port>.
import { parseArgs } from "node:util";
import { SnapshotCache } from "@nebucloud/xds-cache";
import { nodeHash } from "@nebucloud/xds-core";
import { EtcdSnapshotStore } from "@nebucloud/xds-etcd";
import { startAdminServer, XdsServer } from "@nebucloud/xds-server";
import { KubernetesSource, kubeConfigFor } from "./source.js";

// `pnpm start -- --flag` passes the `--` through; parseArgs would take it as the end of the options.
const argv = process.argv.slice(2);
const { values } = parseArgs({
  args: argv[0] === "--" ? argv.slice(1) : argv,
  options: {
    "kube-server": { type: "string" },
    namespace: { type: "string", default: "default" },
    "all-namespaces": { type: "boolean", default: false },
    "label-selector": { type: "string" },
    "xds-address": { type: "string", default: "127.0.0.1:18000" },
    "admin-address": { type: "string", default: "127.0.0.1:9901" },
    store: { type: "string" },
    replica: { type: "boolean", default: false },
    "lease-ttl": { type: "string", default: "10" },
    identity: { type: "string" },
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
  --admin-address   /healthz, /readyz, /metrics, /debug/* and /debug/kubernetes (default 127.0.0.1:9901)
  --store           etcd://HOST:PORT/PREFIX: every process serves what etcd holds, and the one elected
                    writer publishes what it reads from Kubernetes (default: no store)
  --replica         with --store: never write and do not watch Kubernetes; only serve the store
  --lease-ttl       with --store: seconds before a standby takes over from a writer that died (default 10)
  --identity        with --store: this process's name on status pages (default host:pid)`);
  process.exit(0);
}
if (values.replica && !values.store) {
  console.error("xds-kubernetes-source: --replica needs --store etcd://host:port/prefix");
  process.exit(2);
}
const leaseTtl = Number(values["lease-ttl"]);
if (!Number.isInteger(leaseTtl) || leaseTtl < 1) {
  console.error(`xds-kubernetes-source: --lease-ttl ${values["lease-ttl"]} is not a whole number of seconds >= 1`);
  process.exit(2);
}

const log = (level: "info" | "warn" | "error", message: string) =>
  (level === "error" ? console.error : console.log)(`${new Date().toISOString()} ${level} ${message}`);

const namespace = values["all-namespaces"] ? undefined : values.namespace;
// Every node reads the one snapshot under this key, from the source or from the store.
const nodeKey = "all";
let store: EtcdSnapshotStore | undefined;
let served: SnapshotCache | undefined;
if (values.store) {
  served = new SnapshotCache({ nodeHash: nodeHash(() => nodeKey) });
  try {
    store = EtcdSnapshotStore.open({
      url: values.store,
      target: served,
      candidate: !values.replica,
      leaseTtlSeconds: leaseTtl,
      ...(values.identity ? { identity: values.identity } : {}),
      log,
    });
  } catch (error) {
    console.error(`xds-kubernetes-source: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
}
const source = values.replica
  ? undefined
  : new KubernetesSource({
      kubeConfig: kubeConfigFor(values["kube-server"], namespace),
      namespace,
      labelSelector: values["label-selector"],
      nodeKey,
      log,
      ...(store ? { onSnapshot: (snapshot) => store?.publish({ snapshots: new Map([[nodeKey, snapshot]]) }) } : {}),
    });
await source?.start();
const cache = served ?? source?.cache;
if (!cache) throw new Error("unreachable: neither a store nor a source");

const shutdown = new AbortController();
const server = await XdsServer.builder()
  .withCache(cache)
  .withHealthService()
  .withMetrics()
  .serveWithShutdown(values["xds-address"], shutdown.signal);
const admin = await startAdminServer({
  address: values["admin-address"],
  handle: server,
  cache,
  ready: () => {
    if (store) return store.readiness();
    return source?.ready ? { ready: true } : { ready: false, reason: "Services and EndpointSlices not listed yet" };
  },
  extraDebug: {
    kubernetes: () => source?.status() ?? null,
    ...(store ? { store: () => store?.status() } : {}),
  },
});
const what = values.replica
  ? `replica of ${values.store}`
  : `watching ${namespace === undefined ? "every namespace" : `namespace ${namespace}`}` +
    `${values["label-selector"] ? ` (${values["label-selector"]})` : ""}${values.store ? ` through ${values.store}` : ""}`;
console.log(`xds-kubernetes-source: ${what} — xDS on ${server.address}, admin on http://${admin.address}/`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log("info", `${signal}: shutting down`);
    shutdown.abort();
    void server.shutdown().then(async () => {
      await admin.close();
      await source?.close();
      await store?.close();
      served?.close();
    });
  });
}
