// Scenario (c): @nebucloud/xds-client against a server built from
// @nebucloud/xds-cache and @nebucloud/xds-server: XdsClient watches the
// clusters, then the installed `xdsctl` bin fetches them too.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeCluster, makeEndpoints } from "@nebucloud/xds-cache/testing";
import { XdsClient } from "@nebucloud/xds-client";
import { TypeUrl } from "@nebucloud/xds-core";
import type { Cluster } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { XdsServer } from "@nebucloud/xds-server";

const cache = new SnapshotCache();
cache.setSnapshot(
  "node-1",
  Snapshot.fromResources({
    [TypeUrl.Cluster]: [makeCluster("backend")],
    [TypeUrl.Endpoint]: [makeEndpoints("backend", 2)],
  }),
);
const server = await XdsServer.builder().withCache(cache).serve("127.0.0.1:0");
const client = new XdsClient({ server: server.address, node: { id: "node-1" } });
try {
  const clusters = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no clusters within 10 s")), 10_000);
    const stop = client.watch(TypeUrl.Cluster, "*", {
      onChange(resources) {
        clearTimeout(timer);
        stop();
        resolve([...resources.values()].map((r) => (r.message as Cluster).name));
      },
      onError: reject,
    });
  });
  const xdsctl = await promisify(execFile)(
    "node_modules/.bin/xdsctl",
    ["get", "clusters", "--server", server.address, "--node", "node-1", "--output", "json"],
    { timeout: 20_000 },
  );
  console.log(JSON.stringify({ clusters, xdsctl: xdsctl.stdout.includes('"backend"') }));
} finally {
  await client.close();
  await server.shutdown();
  cache.close();
}
