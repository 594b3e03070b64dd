// Scenario (d): replicas sharing snapshots through etcd, from @nebucloud/xds-etcd
// alone. Starts a real etcd (its testing subpath), publishes a snapshot from a
// writer, and prints what a second, replica-only store applied to its cache.
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeCluster } from "@nebucloud/xds-cache/testing";
import { TypeUrl } from "@nebucloud/xds-core";
import { EtcdSnapshotStore, parseStoreUrl } from "@nebucloud/xds-etcd";
import { findEtcd, startEtcd } from "@nebucloud/xds-etcd/testing";

const location = parseStoreUrl("etcd://127.0.0.1:2379/xds");
if (!findEtcd()) {
  console.log(JSON.stringify({ prefix: location.prefix, etcd: false }));
} else {
  const etcd = await startEtcd();
  const writerCache = new SnapshotCache();
  const replicaCache = new SnapshotCache();
  const url = `etcd://${etcd.hostPort}/consumer`;
  const writer = EtcdSnapshotStore.open({ url, target: writerCache, identity: "writer" });
  const replica = EtcdSnapshotStore.open({ url, target: replicaCache, candidate: false });
  try {
    writer.publish({
      snapshots: new Map([["node-1", Snapshot.fromResources({ [TypeUrl.Cluster]: [makeCluster("backend")] })]]),
    });
    await writer.whenPublished();
    await replica.whenSynced();
    const served = replicaCache.getSnapshot("node-1");
    console.log(
      JSON.stringify({
        prefix: location.prefix,
        etcd: true,
        clusters: [...(served?.resources(TypeUrl.Cluster).keys() ?? [])],
        writer: replica.status().replica.writer,
      }),
    );
  } finally {
    await replica.close();
    await writer.close();
    writerCache.close();
    replicaCache.close();
    await etcd.destroy();
  }
}
