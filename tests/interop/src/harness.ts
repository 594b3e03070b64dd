/**
 * What the interop scenarios share: echo backends, a control plane (our xDS
 * server over a SnapshotCache, recording what its callbacks see), snapshots
 * for a proxyless gRPC client, and client processes running grpc-js-xds.
 * Everything listens on 127.0.0.1 only; every wait is bounded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { type HostPort, makeApiListener, makeCluster, makeEndpoints, makeRoute } from "@nebucloud/xds-cache/testing";
import { TypeUrl } from "@nebucloud/xds-core";
import type { VirtualHostSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_components_pb";
import type { RouteConfiguration } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";
import { XdsServer, type XdsServerHandle } from "@nebucloud/xds-server";
import { loadEcho } from "./echo.js";
import type { CallResult, ClientCommand, ClientReply } from "./protocol.js";

/** The listener a client of `xds:///service` asks for, and its route's name. */
export const listenerName = "service";
export const routeName = "service-route";

/** Waits `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` every `intervalMs` until it returns a value other than
 * undefined/false, or fails after `timeoutMs` with `what` and the last value seen.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 5000, intervalMs = 50 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------
// Backends

/** A gRPC Echo server that answers with its own name. */
export interface Backend extends HostPort {
  readonly name: string;
  close(): Promise<void>;
}

export async function startBackend(name: string): Promise<Backend> {
  const { service } = loadEcho();
  const server = new grpc.Server();
  server.addService(service, {
    Echo(
      call: grpc.ServerUnaryCall<{ message: string }, unknown>,
      callback: grpc.sendUnaryData<{ backend: string; message: string }>,
    ) {
      callback(null, { backend: name, message: call.request.message });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    name,
    host: "127.0.0.1",
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

// ---------------------------------------------------------------------------
// Snapshots

/** A virtual host matching every domain, with the given routes. */
export type VirtualHostInit = MessageInitShape<typeof VirtualHostSchema>;

/** A route sending prefix "/" to `cluster`. */
export function routeTo(cluster: string): NonNullable<VirtualHostInit["routes"]>[number] {
  return {
    match: { pathSpecifier: { case: "prefix", value: "/" } },
    action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: cluster } } },
  };
}

/**
 * What a proxyless client of `xds:///service` needs: the api_listener
 * "service" (HCM with RDS over ADS and the router filter last), the route
 * config "service-route", and one EDS cluster per entry of `clusters` with its
 * ClusterLoadAssignment (one locality, weight 1). The route defaults to every
 * call going to the first cluster.
 */
export function serviceSnapshot(
  clusters: Readonly<Record<string, readonly HostPort[]>>,
  route: RouteConfiguration = makeRoute(routeName, { cluster: Object.keys(clusters)[0] ?? "" }),
): Snapshot {
  const names = Object.keys(clusters);
  return Snapshot.fromResources({
    [TypeUrl.Listener]: [makeApiListener(listenerName, routeName)],
    [TypeUrl.Route]: [route],
    [TypeUrl.Cluster]: names.map((name) => makeCluster(name)),
    [TypeUrl.Endpoint]: names.map((name) =>
      makeEndpoints(name, clusters[name] ?? [], { locality: { region: "r", zone: "z" }, weight: 1 }),
    ),
  });
}

/** The route config "service-route" with these virtual hosts. */
export function routeWith(virtualHosts: readonly VirtualHostInit[]): RouteConfiguration {
  return makeRoute(routeName, { virtualHosts });
}

// ---------------------------------------------------------------------------
// Control plane

/** One response a stream sent, as `onStreamResponse` saw it. */
export interface SentResponse {
  readonly stream: number;
  readonly typeUrl: string;
  readonly version: string;
  /** Resources in the response. */
  readonly count: number;
  readonly bytes: number;
  readonly at: number;
}

/** One NACK, as `onNack` saw it. */
export interface SeenNack {
  readonly stream: number;
  readonly typeUrl: string;
  readonly version: string;
  readonly message: string;
  readonly at: number;
}

export interface ControlPlane {
  readonly cache: SnapshotCache;
  readonly handle: XdsServerHandle;
  readonly responses: SentResponse[];
  readonly nacks: SeenNack[];
  /** Sets the snapshot of `nodeId` (default: the scenario's node). */
  set(snapshot: Snapshot, nodeId?: string): void;
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Node id the snapshots are stored under. */
  readonly nodeId: string;
  /** HOST:PORT; default 127.0.0.1:0. */
  readonly address?: string;
  readonly drainTimeoutMs?: number;
  /** Snapshot set before the server starts serving. */
  readonly snapshot?: Snapshot;
}

/** Our xDS server (health, metrics, callbacks) over a new SnapshotCache. */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const cache = new SnapshotCache();
  if (options.snapshot) cache.setSnapshot(options.nodeId, options.snapshot);
  const responses: SentResponse[] = [];
  const nacks: SeenNack[] = [];
  const handle = await XdsServer.builder()
    .withCache(cache)
    .withHealthService()
    .withMetrics()
    .withConfig({ drainTimeoutMs: options.drainTimeoutMs ?? 500 })
    .withCallbacks({
      onStreamResponse(stream, response) {
        responses.push({
          stream: stream.id,
          typeUrl: response.typeUrl,
          version: response.versionInfo,
          count: response.resources.length,
          bytes: response.resources.reduce((n, r) => n + r.value.length, 0),
          at: Date.now(),
        });
      },
      onNack(stream, _node, typeUrl, version, message) {
        nacks.push({ stream: stream.id, typeUrl, version, message, at: Date.now() });
      },
    })
    .serve(options.address ?? "127.0.0.1:0");
  let closed: Promise<void> | undefined;
  return {
    cache,
    handle,
    responses,
    nacks,
    set: (snapshot, nodeId = options.nodeId) => cache.setSnapshot(nodeId, snapshot),
    close() {
      closed ??= handle.shutdown().finally(() => cache.close());
      return closed;
    },
  };
}

/** The current value of a gauge, summed over its labels (runs its collect). */
export async function gaugeTotal(gauge: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  const { values } = await gauge.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

// ---------------------------------------------------------------------------
// Client processes

/** Omit over each member of a union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const clientScript = fileURLToPath(new URL("./client-process.ts", import.meta.url));
const packageDir = fileURLToPath(new URL("..", import.meta.url));
const live = new Set<ClientProcess>();

/** The bootstrap grpc-js-xds reads from GRPC_XDS_BOOTSTRAP_CONFIG. */
export function bootstrapFor(xdsAddress: string, nodeId: string): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    node: { id: nodeId, locality: { zone: "z" } },
  });
}

/**
 * A child process running @grpc/grpc-js + @grpc/grpc-js-xds against one xDS
 * server (its bootstrap is fixed at spawn: grpc-js-xds reads it once per process).
 */
export class ClientProcess {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (r: CallResult[]) => void; reject: (e: Error) => void }>();
  readonly #stderr: string[] = [];
  #nextId = 1;
  readonly exited: Promise<void>;
  readonly started: Promise<void>;

  private constructor(xdsAddress: string, nodeId: string) {
    this.#child = spawn(process.execPath, ["--import", "tsx", clientScript], {
      cwd: packageDir,
      env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: bootstrapFor(xdsAddress, nodeId) },
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    this.#child.stderr?.setEncoding("utf8");
    this.#child.stderr?.on("data", (chunk: string) => {
      this.#stderr.push(chunk);
      if (this.#stderr.length > 200) this.#stderr.shift();
    });
    let started: () => void = () => {};
    this.started = new Promise<void>((resolve) => {
      started = resolve;
    });
    this.#child.on("message", (raw) => {
      const reply = raw as ClientReply;
      if (reply.id === 0) started();
      this.#pending.get(reply.id)?.resolve(reply.results);
      this.#pending.delete(reply.id);
    });
    this.exited = new Promise<void>((resolve) => {
      this.#child.once("exit", (code, signal) => {
        live.delete(this);
        for (const { reject } of this.#pending.values()) {
          reject(new Error(`client process exited (${signal ?? code}): ${this.stderr()}`));
        }
        this.#pending.clear();
        started();
        resolve();
      });
    });
    live.add(this);
  }

  /** Spawns a client and waits (at most 20 s) until it has loaded grpc-js-xds. */
  static async start(xdsAddress: string, nodeId: string): Promise<ClientProcess> {
    const client = new ClientProcess(xdsAddress, nodeId);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`client process did not start within 20 s: ${client.stderr()}`)),
        20_000,
      );
    });
    try {
      await Promise.race([client.started, timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (client.#child.exitCode !== null) throw new Error(`client process exited at start: ${client.stderr()}`);
    return client;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The tail of the process's stderr, for failure messages. */
  stderr(): string {
    return this.#stderr.join("").slice(-4000);
  }

  /** Sends a command and waits (at most `timeoutMs`) for its answer. */
  command(command: DistributiveOmit<ClientCommand, "id">, timeoutMs = 30_000): Promise<CallResult[]> {
    const id = this.#nextId++;
    return new Promise<CallResult[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`client command ${command.op} timed out after ${timeoutMs} ms: ${this.stderr()}`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#child.send({ ...command, id } as ClientCommand);
    });
  }

  /** `count` Echo calls (see {@link ClientCommand}). */
  calls(options: Omit<Extract<ClientCommand, { op: "call" }>, "id" | "op"> = {}): Promise<CallResult[]> {
    const count = options.count ?? 1;
    const deadline = options.deadlineMs ?? 5000;
    return this.command({ op: "call", ...options }, 10_000 + Math.ceil(count / (options.concurrency ?? 1)) * deadline);
  }

  /** One call with waitForReady: the first call on a channel waits for LDS/RDS/CDS/EDS. */
  async firstCall(deadlineMs = 10_000): Promise<CallResult> {
    const [result] = await this.calls({ waitForReady: true, deadlineMs });
    if (!result) throw new Error("no result");
    return result;
  }

  /** Calls once every `intervalMs` until a call is served by `backend`; fails after `timeoutMs`. */
  async untilServedBy(backend: string, timeoutMs = 5000, intervalMs = 50): Promise<CallResult[]> {
    const seen: CallResult[] = [];
    await eventually(
      `a call served by ${backend}`,
      async () => {
        const [result] = await this.calls({ deadlineMs: 1000 });
        if (result) seen.push(result);
        return result?.ok === true && result.backend === backend;
      },
      { timeoutMs, intervalMs },
    );
    return seen;
  }

  /** Closes the client's channel: grpc-js-xds unsubscribes and ends its ADS stream. */
  async closeChannel(): Promise<void> {
    await this.command({ op: "close" }, 5000);
  }

  /** Ends the process: disconnects IPC (it exits by itself), SIGKILL after 3 s. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.#child.kill("SIGKILL");
  }
}

/** Kills every client process still running (for `after` hooks). */
export async function killAllClients(): Promise<void> {
  const all = [...live];
  for (const client of all) client.kill();
  await Promise.all(all.map((c) => c.exited));
}

/** How many calls each backend served; failures under "error". */
export function tally(results: readonly CallResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) {
    const key = r.ok ? r.backend : "error";
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
