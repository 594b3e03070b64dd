// Scenario (b): a custom control plane from @nebucloud/xds-cache and
// @nebucloud/xds-server. Serves one snapshot on 127.0.0.1:0, fetches its
// clusters with a connect client (FetchClusters), prints their names, and shuts
// down.
import { create } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeCluster, makeEndpoints } from "@nebucloud/xds-cache/testing";
import { TypeUrl, XdsError } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ClusterDiscoveryService } from "@nebucloud/xds-proto/envoy/service/cluster/v3/cds_pb";
import { XdsServer } from "@nebucloud/xds-server";

const cache = new SnapshotCache();
const snapshot = Snapshot.fromResources({
  [TypeUrl.Cluster]: [makeCluster("backend"), create(ClusterSchema, { name: "static-backend" })],
  [TypeUrl.Endpoint]: [makeEndpoints("backend", [{ host: "127.0.0.1", port: 8080 }])],
});
snapshot.consistent();
cache.setSnapshot("node-1", snapshot);

const server = await XdsServer.builder().withCache(cache).withMetrics().withHealthService().serve("127.0.0.1:0");
try {
  const client = createClient(ClusterDiscoveryService, createGrpcTransport({ baseUrl: `http://${server.address}` }));
  const response = await client.fetchClusters({ node: { id: "node-1" }, typeUrl: TypeUrl.Cluster });
  const names = response.resources.map((any) => anyUnpack(any, ClusterSchema)?.name).sort();
  console.log(JSON.stringify({ version: response.versionInfo, clusters: names }));
  // The one error class, mapped to a gRPC status at the server boundary.
  const error = new XdsError("node_not_found", "example");
  if (error.grpcStatus !== 5) throw new Error(`node_not_found maps to ${error.grpcStatus}`);
} finally {
  await server.shutdown();
  cache.close();
}
