// Scenario (a): @nebucloud/xds-proto alone. Builds a Cluster, packs it in an
// Any and prints the Any as proto3 JSON, with its `@type`.
import { create, toJsonString } from "@bufbuild/protobuf";
import { AnySchema, anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { ResourceTypeUrl, registry } from "@nebucloud/xds-proto";
import { Cluster_DiscoveryType, ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";

const cluster = create(ClusterSchema, {
  name: "backend",
  clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
  connectTimeout: { seconds: 1n },
});
const any = anyPack(ClusterSchema, cluster);
if (any.typeUrl !== ResourceTypeUrl.Cluster) throw new Error(`unexpected type URL ${any.typeUrl}`);
const back = anyUnpack(any, registry);
if (back?.$typeName !== "envoy.config.cluster.v3.Cluster") throw new Error("the registry cannot unpack a Cluster");
console.log(toJsonString(AnySchema, any, { registry }));
