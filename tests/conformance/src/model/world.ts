/**
 * The resources the model fuzzer plays with: four types (two full-state, two
 * not), three names each, two node keys. A resource's content is its node's
 * label and a generation, so one node's content is never another's and a
 * client that receives a resource can tell whose it is.
 */
import { create, type Message } from "@bufbuild/protobuf";
import { Snapshot } from "@nebucloud/xds-cache";
import { Resource, TypeUrl, versionOf } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import { RouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";

/** The types a sequence uses; `full`: SotW responses carry every subscribed resource. */
export const fuzzTypes = [
  { url: TypeUrl.Cluster, full: true, legacyWildcard: true },
  { url: TypeUrl.Endpoint, full: false, legacyWildcard: false },
  { url: TypeUrl.Listener, full: true, legacyWildcard: true },
  { url: TypeUrl.Route, full: false, legacyWildcard: false },
] as const;

export const fuzzNames = ["a", "b", "c"] as const;
/** Node labels; a sequence's node keys are these with the sequence number in front. */
export const nodeLabels = ["n0", "n1"] as const;

function message(typeUrl: string, node: string, name: string, generation: number): Message {
  const tag = `${node}/${generation}`;
  switch (typeUrl) {
    case TypeUrl.Cluster:
      return create(ClusterSchema, { name, altStatName: tag });
    case TypeUrl.Endpoint:
      return create(ClusterLoadAssignmentSchema, {
        clusterName: name,
        endpoints: [{ locality: { region: node, zone: String(generation) } }],
      });
    case TypeUrl.Listener:
      return create(ListenerSchema, { name, statPrefix: tag });
    default:
      return create(RouteConfigurationSchema, { name, internalOnlyHeaders: [tag] });
  }
}

/** One resource of the model: its content generation and whether it has a TTL. */
export interface ModelResource {
  readonly generation: number;
  readonly ttl: boolean;
}

const contentVersions = new Map<string, string>();

/** The content version (SHA-256 of the canonical bytes) of a resource, computed once. */
export function contentVersionOf(typeUrl: string, node: string, name: string, generation: number): string {
  const key = `${typeUrl}\0${node}\0${name}\0${generation}`;
  let version = contentVersions.get(key);
  if (version === undefined) {
    version = Resource.from(typeUrl, message(typeUrl, node, name, generation)).version;
    contentVersions.set(key, version);
  }
  return version;
}

/** What the model says each node key's snapshot holds, and every content each name ever had. */
export class World {
  /** Node label -> type URL -> name -> resource; a label is absent until its first snapshot. */
  readonly snapshots = new Map<string, Map<string, Map<string, ModelResource>>>();
  /** `type\0name\0contentVersion` -> node label, for every content a snapshot ever held. */
  readonly history = new Map<string, string>();

  /** Puts (generation set) or removes (undefined) a resource; returns the node's new snapshot. */
  change(node: string, typeUrl: string, name: string, resource: ModelResource | undefined): Snapshot {
    let byType = this.snapshots.get(node);
    if (!byType) {
      byType = new Map(fuzzTypes.map((t) => [t.url, new Map()]));
      this.snapshots.set(node, byType);
    }
    const named = byType.get(typeUrl) as Map<string, ModelResource>;
    if (resource) {
      named.set(name, resource);
      this.history.set(`${typeUrl}\0${name}\0${contentVersionOf(typeUrl, node, name, resource.generation)}`, node);
    } else {
      named.delete(name);
    }
    return this.snapshot(node) as Snapshot;
  }

  /** The node's snapshot as the cache gets it; undefined before its first change. */
  snapshot(node: string): Snapshot | undefined {
    const byType = this.snapshots.get(node);
    if (!byType) return undefined;
    const resources: Record<string, Resource[]> = {};
    for (const [typeUrl, named] of byType) {
      resources[typeUrl] = [...named].map(([name, r]) =>
        Resource.from(typeUrl, message(typeUrl, node, name, r.generation), r.ttl ? { ttlMs: 60_000 } : {}),
      );
    }
    return Snapshot.fromResources(resources);
  }

  /** Name -> content version of the node's resources of a type that `covers` selects. */
  selection(node: string, typeUrl: string, covers: (name: string) => boolean): Map<string, string> {
    const selected = new Map<string, string>();
    for (const [name, r] of this.snapshots.get(node)?.get(typeUrl) ?? []) {
      if (covers(name)) selected.set(name, contentVersionOf(typeUrl, node, name, r.generation));
    }
    return selected;
  }

  /** Whether the node has a snapshot, and how many resources of a type it holds. */
  size(node: string, typeUrl: string): number | undefined {
    return this.snapshots.get(node)?.get(typeUrl)?.size;
  }

  /** Which node a content belongs to (undefined: no snapshot ever held it). */
  ownerOf(typeUrl: string, name: string, contentVersion: string): string | undefined {
    return this.history.get(`${typeUrl}\0${name}\0${contentVersion}`);
  }
}

/**
 * SotW versions seen in this process, across sequences and server restarts:
 * equal content must always get the same version and different content never.
 */
export class VersionLedger {
  readonly #byContent = new Map<string, string>();
  readonly #byVersion = new Map<string, string>();

  /** Records that `version` was sent for exactly `content` (name -> content version) of a type. */
  record(typeUrl: string, content: ReadonlyMap<string, string>, version: string): void {
    const key = `${typeUrl}\0${[...content]
      .map(([n, v]) => `${n}=${v}`)
      .sort()
      .join(",")}`;
    const known = this.#byContent.get(key);
    if (known !== undefined && known !== version) {
      throw new Error(`equal content got two versions (${known}, ${version}): ${key}`);
    }
    const other = this.#byVersion.get(`${typeUrl}\0${version}`);
    if (other !== undefined && other !== key) {
      throw new Error(`version ${version} was sent for different content: ${other} and ${key}`);
    }
    this.#byContent.set(key, version);
    this.#byVersion.set(`${typeUrl}\0${version}`, key);
  }
}

/** The version the project gives a set of resources: what a SotW response for exactly them carries. */
export function setVersion(content: ReadonlyMap<string, string>): string {
  return versionOf([...content].map(([name, version]) => ({ name, version })));
}
