import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { resourceEncodingCount, TypeUrl } from "@nebucloud/xds-core";
import { Cluster_DiscoveryType, ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import type { SotwResponse, SubscriptionState } from "./cache.js";
import { Snapshot } from "./snapshot.js";
import { SnapshotCache } from "./snapshot-cache.js";

const CLUSTERS = 1000;
const ENDPOINTS_PER_CLUSTER = 100;
const NODE_KEYS = 1000;

const clusterName = (i: number) => `cluster-${i}`;

function buildClusters() {
  return Array.from({ length: CLUSTERS }, (_, i) =>
    create(ClusterSchema, {
      name: clusterName(i),
      clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
      connectTimeout: { seconds: 1n },
    }),
  );
}

function buildAssignments() {
  return Array.from({ length: CLUSTERS }, (_, i) =>
    create(ClusterLoadAssignmentSchema, {
      clusterName: clusterName(i),
      endpoints: [
        {
          locality: { zone: `zone-${i % 3}` },
          lbEndpoints: Array.from({ length: ENDPOINTS_PER_CLUSTER }, (_, j) => ({
            hostIdentifier: {
              case: "endpoint" as const,
              value: {
                address: {
                  address: {
                    case: "socketAddress" as const,
                    value: {
                      address: `10.${i >> 8}.${i & 255}.${j}`,
                      portSpecifier: { case: "portValue" as const, value: 8080 },
                    },
                  },
                },
              },
            },
          })),
        },
      ],
    }),
  );
}

test("encodes each resource once however many node keys share a snapshot", () => {
  const snapshot = Snapshot.fromResources({
    [TypeUrl.Cluster]: buildClusters(),
    [TypeUrl.Endpoint]: buildAssignments(),
  });
  const cache = new SnapshotCache();
  try {
    const allNames = Array.from({ length: CLUSTERS }, (_, i) => clusterName(i));
    const before = resourceEncodingCount();
    let bytes = 0;
    let responses = 0;
    const read = (response: SotwResponse) => {
      responses++;
      for (const resource of response.resources) bytes += resource.bytes.length; // as a server would
    };
    const wildcard: SubscriptionState = { wildcard: true, subscribed: new Set(), returned: new Map() };
    const named: SubscriptionState = { wildcard: false, subscribed: new Set(allNames), returned: new Map() };
    const open = (nodeKey: string) => {
      const node = create(NodeSchema, { id: nodeKey });
      cache.createWatch({ typeUrl: TypeUrl.Cluster, node, resourceNames: [], versionInfo: "" }, wildcard, read);
      cache.createWatch({ typeUrl: TypeUrl.Endpoint, node, resourceNames: allNames, versionInfo: "" }, named, read);
    };
    for (let k = 0; k < NODE_KEYS; k++) {
      const nodeKey = `node-${k}`;
      // Half the nodes wait for their snapshot, half find it already set.
      if (k % 2 === 0) {
        open(nodeKey);
        cache.setSnapshot(nodeKey, snapshot);
      } else {
        cache.setSnapshot(nodeKey, snapshot);
        open(nodeKey);
      }
    }
    assert.equal(responses, 2 * NODE_KEYS);
    assert.equal(cache.numWatches(), 0);
    assert.ok(bytes > 0);
    assert.equal(resourceEncodingCount() - before, 2 * CLUSTERS);
  } finally {
    cache.close();
  }
});
