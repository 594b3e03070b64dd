import { setTimeout as delay } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeCluster, makeEndpoints, makeHttpListener, makeRoute } from "@nebucloud/xds-cache/testing";
import { type Resource, TypeUrl, type XdsError } from "@nebucloud/xds-core";
import { type ServerCallbacks, XdsServer, type XdsServerHandle } from "@nebucloud/xds-server";
import type { WatchHandler } from "../type-subscription.js";

/** Polls `check` every 10 ms until it returns true; throws after `timeoutMs` naming `what`. */
export async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(10);
  }
}

/** Waits `ms` (for asserting that nothing happens). */
export const settle = (ms = 300) => delay(ms);

/** A server over a SnapshotCache on 127.0.0.1 (port 0 unless given); close it with `stop`. */
export interface TestServer {
  readonly cache: SnapshotCache;
  readonly handle: XdsServerHandle;
  readonly address: string;
  readonly port: number;
  /** Graceful shutdown, then the cache's timers. */
  stop(): Promise<void>;
  /** Kills every connection at once (a crash). */
  kill(): void;
}

/** Starts an XdsServer on 127.0.0.1; retries briefly when the port is still held by a killed server. */
export async function startServer(
  options: { cache?: SnapshotCache; callbacks?: ServerCallbacks; port?: number } = {},
): Promise<TestServer> {
  const cache = options.cache ?? new SnapshotCache();
  let handle: XdsServerHandle | undefined;
  for (let attempt = 0; !handle; attempt++) {
    try {
      handle = await XdsServer.builder()
        .withCache(cache)
        .withCallbacks(options.callbacks ?? {})
        .withConfig({ drainTimeoutMs: 100 })
        .serve(`127.0.0.1:${options.port ?? 0}`);
    } catch (error) {
      if ((error as { code?: string }).code !== "EADDRINUSE" || attempt >= 20) throw error;
      await delay(50);
    }
  }
  const server = handle;
  return {
    cache,
    handle: server,
    address: server.address,
    port: server.port,
    async stop() {
      await server.shutdown();
      cache.close();
    },
    kill() {
      server.forceShutdown();
      cache.close();
    },
  };
}

/**
 * A snapshot of EDS clusters (with `connectTimeoutSeconds` to change their
 * content) and their endpoints on `port`, plus HTTP listeners and their routes.
 */
export function snapshotOf(
  clusters: readonly string[],
  port = 8080,
  extra: { listeners?: readonly string[]; connectTimeoutSeconds?: number } = {},
): Snapshot {
  const cluster = (name: string) => {
    const message = makeCluster(name);
    if (extra.connectTimeoutSeconds !== undefined) {
      message.connectTimeout = create(DurationSchema, { seconds: BigInt(extra.connectTimeoutSeconds) });
    }
    return message;
  };
  return Snapshot.fromResources({
    [TypeUrl.Cluster]: clusters.map(cluster),
    [TypeUrl.Endpoint]: clusters.map((name) => makeEndpoints(name, [{ host: "127.0.0.1", port }])),
    [TypeUrl.Listener]: (extra.listeners ?? []).map((name) => makeHttpListener(name, `${name}-route`)),
    [TypeUrl.Route]: (extra.listeners ?? []).map((name) => makeRoute(`${name}-route`, { cluster: clusters[0] ?? "c" })),
  });
}

/** Everything a watch handler heard, in order. */
export interface Recording {
  readonly handler: WatchHandler;
  /** Each onChange's resources (a copy). */
  readonly changes: ReadonlyMap<string, Resource>[];
  readonly doesNotExist: string[];
  readonly errors: XdsError[];
  /** The names of the last onChange, sorted. */
  lastNames(): string[];
  /** The last onChange's resource `name`. */
  last(name: string): Resource | undefined;
}

/** A watch handler that records what it hears. */
export function record(): Recording {
  const changes: ReadonlyMap<string, Resource>[] = [];
  const doesNotExist: string[] = [];
  const errors: XdsError[] = [];
  return {
    changes,
    doesNotExist,
    errors,
    handler: {
      onChange: (resources) => changes.push(new Map(resources)),
      onDoesNotExist: (name) => doesNotExist.push(name),
      onError: (error) => errors.push(error),
    },
    lastNames: () => [...(changes.at(-1)?.keys() ?? [])].sort(),
    last: (name) => changes.at(-1)?.get(name),
  };
}
