import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { XdsClient, type XdsClientOptions } from "@nebucloud/xds-client";
import { nodeHash, type Resource, TypeUrl } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import { type Logger, silentLogger, XdsServer, type XdsServerHandle } from "@nebucloud/xds-server";
import { groupByCluster, type NodeGroupOf } from "./node-group.js";

/** The types a relay passes on by default: what Envoy and proxyless gRPC clients ask for over ADS. */
export const relayedTypes: readonly string[] = Object.freeze([
  TypeUrl.Cluster,
  TypeUrl.Endpoint,
  TypeUrl.Listener,
  TypeUrl.Route,
]);

/** Options of {@link Relay.start}. */
export interface RelayOptions {
  /** The upstream control plane, HOST:PORT. */
  readonly upstream: string;
  /** Where downstream clients connect (HOST:PORT). Default 127.0.0.1:0. */
  readonly listen?: string;
  /** The node group of a downstream node. Default {@link groupByCluster}. */
  readonly groupOf?: NodeGroupOf;
  /**
   * Who the relay says it is upstream for a group, given the first downstream
   * node seen in it. Default: id `relay/<group>`, cluster `<group>`, and that
   * node's metadata and locality, so an upstream keyed by cluster (or by
   * metadata) serves the group what it would serve its nodes.
   */
  readonly upstreamNode?: (group: string, first: Node) => XdsClientOptions["node"];
  /** Types relayed, each watched with `*` upstream. Default {@link relayedTypes}. */
  readonly types?: readonly string[];
  /**
   * The upstream protocol. Default `delta`: with it a removed endpoint or
   * route reaches the relay (removed_resources); over SotW only CDS and LDS
   * say what was removed, so EDS and RDS removals would linger.
   */
  readonly protocol?: "sotw" | "delta";
  /** Upstream client options passed through (TLS, backoff, validate, metrics...). */
  readonly client?: Omit<XdsClientOptions, "server" | "node" | "protocol">;
  readonly logger?: Logger;
}

/** One node group's upstream stream. */
interface Group {
  readonly client: XdsClient;
}

/**
 * An xDS relay (the xds-relay pattern): downstream clients connect to the
 * relay's XdsServer; for each node group the relay holds ONE upstream ADS
 * stream (an XdsClient watching every relayed type with `*`) and publishes
 * what it receives as that group's snapshot in a SnapshotCache. However many
 * downstream clients a group has, the upstream sees one client.
 *
 * Resources are passed on as the upstream encoded them: the relay neither
 * decodes nor re-encodes them, and versions (content hashes) are the same on
 * both sides.
 *
 * Limitation: every relayed type is watched with `*`, so the relay fetches
 * all endpoints and routes of a group, not only those its clients ask for
 * (fine when a group's clients want the same configuration, which grouping
 * assumes). Upstream streams stay open until {@link close}, even when a
 * group's last client leaves.
 */
export class Relay {
  readonly #server: XdsServerHandle;
  readonly #cache: SnapshotCache;
  readonly #groups: Map<string, Group>;

  private constructor(server: XdsServerHandle, cache: SnapshotCache, groups: Map<string, Group>) {
    this.#server = server;
    this.#cache = cache;
    this.#groups = groups;
  }

  /** Starts the downstream server; upstream streams open as node groups first connect. */
  static async start(options: RelayOptions): Promise<Relay> {
    const groupOf = options.groupOf ?? groupByCluster;
    const types = options.types ?? relayedTypes;
    const logger = options.logger ?? silentLogger;
    const cache = new SnapshotCache({ nodeHash: nodeHash(groupOf) });
    const groups = new Map<string, Group>();
    const join = (node: Node | undefined) => {
      if (!node) return;
      const key = groupOf(node);
      if (groups.has(key)) return;
      groups.set(key, openGroup(key, node, cache, types, options));
      logger.info({ group: key, upstream: options.upstream }, "opened an upstream stream for a node group");
    };
    const server = await XdsServer.builder()
      .withCache(cache)
      .withLogger(logger)
      .withCallbacks({
        // The first request of a stream carries the node; its watch waits for the group's snapshot.
        onStreamRequest: (_stream, request) => join(request.node),
        onDeltaStreamRequest: (_stream, request) => join(request.node),
      })
      .serve(options.listen ?? "127.0.0.1:0");
    return new Relay(server, cache, groups);
  }

  /** Where downstream clients connect, HOST:PORT. */
  get address(): string {
    return this.#server.address;
  }

  /** The downstream server (its streams, health, metrics). */
  get server(): XdsServerHandle {
    return this.#server;
  }

  /** The node groups that have an upstream stream. */
  groups(): string[] {
    return [...this.#groups.keys()];
  }

  /** The upstream client of a group, if it has one. */
  upstreamOf(group: string): XdsClient | undefined {
    return this.#groups.get(group)?.client;
  }

  /** Shuts the downstream server down, then closes every upstream stream. */
  async close(): Promise<void> {
    await this.#server.shutdown();
    await Promise.all([...this.#groups.values()].map((group) => group.client.close()));
    this.#cache.close();
  }
}

function openGroup(
  key: string,
  first: Node,
  cache: SnapshotCache,
  types: readonly string[],
  options: RelayOptions,
): Group {
  const node = options.upstreamNode?.(key, first) ?? {
    id: `relay/${key}`,
    cluster: key,
    ...(first.metadata ? { metadata: first.metadata } : {}),
    ...(first.locality ? { locality: first.locality } : {}),
  };
  const client = new XdsClient({
    ...options.client,
    server: options.upstream,
    node,
    protocol: options.protocol ?? "delta",
  });
  let queued = false;
  // Changes of several types in one turn become one snapshot.
  const publish = () => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      const byType: Record<string, Resource[]> = {};
      for (const typeUrl of types) byType[typeUrl] = [...client.getAll(typeUrl).values()];
      cache.setSnapshot(key, Snapshot.fromResources(byType));
    });
  };
  for (const typeUrl of types) client.watch(typeUrl, "*", { onChange: publish });
  return { client };
}
