/**
 * The resources every server under test serves, built the same way in every
 * process: clusters (EDS, over ADS), one ClusterLoadAssignment per cluster, and
 * a listener plus a route configuration per group of clusters. A state is the
 * seed (step 0) with the first `step` changes of a fixed change schedule
 * applied, so any process can rebuild any state without talking to another.
 */
import type { Message } from "@bufbuild/protobuf";
import { makeCluster, makeEndpoints, makeHttpListener, makeRoute } from "@nebucloud/xds-cache/testing";
import { ResourceTypeUrl } from "@nebucloud/xds-proto";
import type { Cluster } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import type { ClusterLoadAssignment } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import type { Listener } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import type { RouteConfiguration } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";

/** The four types an Envoy subscribes to over ADS, in make-before-break order. */
export const CDS = ResourceTypeUrl.Cluster;
export const EDS = ResourceTypeUrl.ClusterLoadAssignment;
export const LDS = ResourceTypeUrl.Listener;
export const RDS = ResourceTypeUrl.RouteConfiguration;
export const adsTypes: readonly string[] = [CDS, EDS, LDS, RDS];

/** Short names for reports. */
export const shortType: Readonly<Record<string, string>> = { [CDS]: "CDS", [EDS]: "EDS", [LDS]: "LDS", [RDS]: "RDS" };

/** The shape of a fixture. */
export interface FixtureShape {
  readonly clusters: number;
  readonly endpointsPerCluster: number;
  /** One listener and one route configuration per this many clusters. */
  readonly clustersPerListener: number;
}

/** A fixture shape at a step of the change schedule (0: the seed). */
export interface StateSpec extends FixtureShape {
  readonly step: number;
}

/** What one step of the schedule changes. */
export interface Change {
  /** The ClusterLoadAssignment whose first endpoint moves to another port. */
  readonly endpointIndex: number;
  /** Every tenth step also changes a cluster's connect timeout. */
  readonly clusterIndex: number | undefined;
}

/** Step `step` (1, 2, ...) of the change schedule: one endpoint moves; every tenth step a cluster changes too. */
export function changeAt(shape: FixtureShape, step: number): Change {
  return {
    endpointIndex: (step * 37) % shape.clusters,
    clusterIndex: step % 10 === 0 ? (step * 13) % shape.clusters : undefined,
  };
}

export function clusterName(index: number): string {
  return `cluster-${String(index).padStart(5, "0")}`;
}

export function listenerName(index: number): string {
  return `listener-${String(index).padStart(3, "0")}`;
}

export function routeName(index: number): string {
  return `route-${String(index).padStart(3, "0")}`;
}

/** The last step in 1..step that changed endpoint assignment `index` (0 when none did). */
function lastEndpointChange(shape: FixtureShape, index: number, step: number): number {
  for (let s = step; s >= 1; s--) if (changeAt(shape, s).endpointIndex === index) return s;
  return 0;
}

/** The last step in 1..step that changed cluster `index` (0 when none did). */
function lastClusterChange(shape: FixtureShape, index: number, step: number): number {
  for (let s = step - (step % 10); s >= 10; s -= 10) if (changeAt(shape, s).clusterIndex === index) return s;
  return 0;
}

/** Cluster `index` as it is after `changedAt` (the step that last changed it, 0 for the seed). */
export function clusterAt(index: number, changedAt: number): Cluster {
  const cluster = makeCluster(clusterName(index));
  if (changedAt > 0)
    cluster.connectTimeout = { $typeName: "google.protobuf.Duration", seconds: BigInt(1 + changedAt), nanos: 0 };
  return cluster;
}

/** The endpoints of cluster `index` after `changedAt`: 127.0.0.1 from port 10000, the first one moved when changed. */
export function endpointsAt(shape: FixtureShape, index: number, changedAt: number): ClusterLoadAssignment {
  const hosts = Array.from({ length: shape.endpointsPerCluster }, (_, i) => ({
    host: `10.${(index >> 8) & 255}.${index & 255}.${(i % 250) + 1}`,
    port: i === 0 && changedAt > 0 ? 20_000 + changedAt : 10_000 + i,
  }));
  return makeEndpoints(clusterName(index), hosts);
}

function listenerAt(index: number): Listener {
  return makeHttpListener(listenerName(index), routeName(index), { port: 10_000 + index });
}

function routeAt(shape: FixtureShape, index: number): RouteConfiguration {
  const first = index * shape.clustersPerListener;
  const last = Math.min(shape.clusters, first + shape.clustersPerListener);
  const routes = [];
  for (let c = first; c < last; c++) {
    routes.push({
      match: { pathSpecifier: { case: "prefix" as const, value: `/${clusterName(c)}/` } },
      action: {
        case: "route" as const,
        value: { clusterSpecifier: { case: "cluster" as const, value: clusterName(c) } },
      },
    });
  }
  return makeRoute(routeName(index), { virtualHosts: [{ name: routeName(index), domains: ["*"], routes }] });
}

/** Listeners (and route configurations) in a shape. */
export function listenerCount(shape: FixtureShape): number {
  return Math.ceil(shape.clusters / shape.clustersPerListener);
}

/** Fresh messages of every resource in a state, by type URL. Nothing is shared with an earlier call. */
export function buildState(spec: StateSpec): Record<string, Message[]> {
  const clusters: Message[] = [];
  const endpoints: Message[] = [];
  for (let i = 0; i < spec.clusters; i++) {
    clusters.push(clusterAt(i, lastClusterChange(spec, i, spec.step)));
    endpoints.push(endpointsAt(spec, i, lastEndpointChange(spec, i, spec.step)));
  }
  const listeners: Message[] = [];
  const routes: Message[] = [];
  for (let l = 0; l < listenerCount(spec); l++) {
    listeners.push(listenerAt(l));
    routes.push(routeAt(spec, l));
  }
  return { [CDS]: clusters, [EDS]: endpoints, [LDS]: listeners, [RDS]: routes };
}

/** What step `step` changed, as fresh messages by type URL (empty for step 0). */
export function changedBy(shape: FixtureShape, step: number): Record<string, Message[]> {
  if (step === 0) return {};
  const change = changeAt(shape, step);
  const out: Record<string, Message[]> = { [EDS]: [endpointsAt(shape, change.endpointIndex, step)] };
  if (change.clusterIndex !== undefined) out[CDS] = [clusterAt(change.clusterIndex, step)];
  return out;
}

/** Resource counts per type in a shape. */
export function countsOf(shape: FixtureShape): Record<string, number> {
  const listeners = listenerCount(shape);
  return { [CDS]: shape.clusters, [EDS]: shape.clusters, [LDS]: listeners, [RDS]: listeners };
}
