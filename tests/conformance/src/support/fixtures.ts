/**
 * A server under test on 127.0.0.1, resource builders, and the small waiting
 * and measuring helpers the specs share.
 */
import { create } from "@bufbuild/protobuf";
import { type Cache, Snapshot, SnapshotCache, type SnapshotCacheOptions } from "@nebucloud/xds-cache";
import { makeEndpoints, makeHttpListener, makeRoute } from "@nebucloud/xds-cache/testing";
import type { ServerConfigInput } from "@nebucloud/xds-core";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { type ServerCallbacks, XdsServer, type XdsServerBuilder, type XdsServerHandle } from "@nebucloud/xds-server";

/** A running server and its cache. */
export interface Served {
  readonly server: XdsServerHandle;
  readonly cache: SnapshotCache;
  readonly address: string;
  /** Shuts the server down and stops the cache's timers. */
  stop(): Promise<void>;
}

/** Options of {@link serve}. */
export interface ServeOptions {
  readonly cache?: SnapshotCacheOptions;
  readonly config?: ServerConfigInput;
  readonly callbacks?: ServerCallbacks;
  /** Extra builder settings. */
  readonly build?: (builder: XdsServerBuilder) => XdsServerBuilder;
  /** Serve this cache instead of a new one (its timers are left to the caller). */
  readonly shared?: SnapshotCache;
}

/** Starts a server on 127.0.0.1 on a free port. */
export async function serve(options: ServeOptions = {}): Promise<Served> {
  const cache = options.shared ?? new SnapshotCache(options.cache ?? {});
  let builder = XdsServer.builder()
    .withCache(cache as Cache)
    .withMetrics()
    .withConfig({ drainTimeoutMs: 200, ...options.config })
    .withCallbacks(options.callbacks ?? {});
  if (options.build) builder = options.build(builder);
  const server = await builder.serve("127.0.0.1:0");
  return {
    server,
    cache,
    address: server.address,
    async stop() {
      await server.shutdown();
      if (!options.shared) cache.close();
    },
  };
}

/** A cluster whose content depends on `generation` (no references, so any snapshot holding it is consistent). */
export function cluster(name: string, generation = 0) {
  return create(ClusterSchema, { name, altStatName: `${name}-generation-${generation}` });
}

/** The resources of one test world, by short type name: name -> generation. */
export interface World {
  readonly clusters?: Readonly<Record<string, number>>;
  readonly endpoints?: Readonly<Record<string, number>>;
  /** Listener name -> route name it uses (generation 0). */
  readonly listeners?: Readonly<Record<string, string>>;
  /** Route name -> the cluster it routes to. */
  readonly routes?: Readonly<Record<string, string>>;
}

/** A snapshot of a {@link World}. Endpoint generations set the endpoint count (generation + 1). */
export function snapshotOf(world: World): Snapshot {
  return Snapshot.fromResources({
    [TypeUrl.Cluster]: Object.entries(world.clusters ?? {}).map(([name, g]) => cluster(name, g)),
    [TypeUrl.Endpoint]: Object.entries(world.endpoints ?? {}).map(([name, g]) => makeEndpoints(name, g + 1)),
    [TypeUrl.Listener]: Object.entries(world.listeners ?? {}).map(([name, route]) => makeHttpListener(name, route)),
    [TypeUrl.Route]: Object.entries(world.routes ?? {}).map(([name, target]) => makeRoute(name, { cluster: target })),
  });
}

/** name -> version of a snapshot's resources of a type. */
export function versionsOf(snapshot: Snapshot, typeUrl: string): Map<string, string> {
  return new Map([...snapshot.resources(typeUrl)].map(([name, r]) => [name, r.version]));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true; throws `what` after `timeoutMs`. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(10);
  }
}

let nodes = 0;
/** A node id no other test uses. */
export function nodeId(prefix = "node"): string {
  return `${prefix}-${process.pid}-${++nodes}`;
}

/** Heap in use after a full GC, in MiB (needs `node --expose-gc`; without it, an uncollected reading). */
export async function heapMiB(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

/** Whether the heap can be measured after a real GC. */
export const canCollect = typeof (globalThis as { gc?: unknown }).gc === "function";
