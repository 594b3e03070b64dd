/**
 * An ADS client that fails over between control-plane replicas as Envoy and
 * gRPC do: when its stream ends it opens one to the next replica and resumes
 * from what it holds (SotW: the last accepted version of each type; delta:
 * initial_resource_versions). It counts what each replica sent it, so a test
 * can tell a redundant push or a wrongful deletion from a clean failover.
 */
import { createHash } from "node:crypto";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createWritableIterable, type WritableIterable } from "@connectrpc/connect/protocol";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { defaultResourceTypes, TypeUrl } from "@nebucloud/xds-core";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";

export type Protocol = "sotw" | "delta";

/** Counters of one client; a test compares them before and after a failover. */
export interface ClientCounters {
  /** Responses received, over every stream. */
  responses: number;
  /** Resources received (a resource in a SotW or delta response), over every stream. */
  resources: number;
  /** Names the client dropped because a response removed them. */
  removals: number;
  /** Streams opened (1 + failovers). */
  streams: number;
}

/** The port of the first endpoint of a ClusterLoadAssignment's bytes. */
function firstPort(bytes: Uint8Array): number | undefined {
  const address = fromBinary(ClusterLoadAssignmentSchema, bytes).endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
  if (address?.case !== "endpoint") return undefined;
  const socket = address.value.address?.address;
  return socket?.case === "socketAddress" && socket.value.portSpecifier.case === "portValue"
    ? socket.value.portSpecifier.value
    : undefined;
}

const contentVersion = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const nameOf = (typeUrl: string, bytes: Uint8Array) => {
  const type = defaultResourceTypes.require(typeUrl);
  return type.name(fromBinary(type.schema, bytes));
};

/** The types the client subscribes to: clusters (wildcard) and the endpoints of `clusters`. */
const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.Endpoint;

/** An ADS client of one node that moves to the next replica when its stream ends. */
export class FailoverClient {
  /** Type URL -> name -> content version (SHA-256 of the resource bytes): comparable across replicas. */
  readonly held = new Map<string, Map<string, string>>([
    [CDS, new Map()],
    [EDS, new Map()],
  ]);
  readonly counters: ClientCounters = { responses: 0, resources: 0, removals: 0, streams: 0 };
  /** Cluster name -> the port of its first endpoint: what the test's config changes. */
  readonly ports = new Map<string, number>();
  /** The replica the client is connected to now, or last was. */
  address = "";
  /** SotW: the version last accepted, by type. */
  readonly #versions = new Map<string, string>();
  #stopped = false;
  #abort: AbortController | undefined;
  #running: Promise<void> | undefined;

  constructor(
    readonly nodeId: string,
    readonly protocol: Protocol,
    /** The endpoints (cluster names) it subscribes to. */
    readonly clusters: readonly string[],
    /** Replicas, `host:port`, tried in turn starting from `start`; a function so a test can take dead ones out. */
    readonly replicas: () => readonly string[],
    readonly start: number,
  ) {}

  /** Connects and keeps connected (failing over) until {@link stop}. */
  run(): void {
    this.#running ??= this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    await this.#running;
  }

  /** Cuts the current stream, as a proxy does when its replica dies; the client fails over. */
  cut(): void {
    this.#abort?.abort();
  }

  async #loop(): Promise<void> {
    let attempt = this.start;
    while (!this.#stopped) {
      const replicas = this.replicas();
      const address = replicas[attempt % replicas.length] ?? "";
      attempt++;
      this.address = address;
      this.#abort = new AbortController();
      const client = createClient(
        AggregatedDiscoveryService,
        createGrpcTransport({ baseUrl: `http://${address}`, idleConnectionTimeoutMs: 1000 }),
      );
      this.counters.streams++;
      try {
        if (this.protocol === "sotw") await this.#sotw(client, this.#abort.signal);
        else await this.#delta(client, this.#abort.signal);
      } catch {
        // The replica went away, or the test cut the stream: try the next one.
      }
      if (!this.#stopped) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async #sotw(client: Client<typeof AggregatedDiscoveryService>, signal: AbortSignal): Promise<void> {
    const requests: WritableIterable<DiscoveryRequest> = createWritableIterable();
    const send = (typeUrl: string, names: readonly string[], nonce: string) =>
      void requests
        .write(
          create(DiscoveryRequestSchema, {
            node: { id: this.nodeId, locality: { zone: "test" } },
            typeUrl,
            resourceNames: [...names],
            versionInfo: this.#versions.get(typeUrl) ?? "",
            responseNonce: nonce,
          }),
        )
        .catch(() => {});
    const namesOf = (typeUrl: string) => (typeUrl === CDS ? [] : this.clusters);
    send(CDS, namesOf(CDS), "");
    send(EDS, namesOf(EDS), "");
    try {
      for await (const response of client.streamAggregatedResources(requests, { signal })) {
        this.#applySotw(response);
        send(response.typeUrl, namesOf(response.typeUrl), response.nonce);
      }
    } finally {
      requests.close();
    }
  }

  #applySotw(response: DiscoveryResponse): void {
    this.counters.responses++;
    this.counters.resources += response.resources.length;
    const held = this.held.get(response.typeUrl) ?? new Map<string, string>();
    const received = new Map(
      response.resources.map((any) => [nameOf(response.typeUrl, any.value), contentVersion(any.value)]),
    );
    if (response.typeUrl === CDS) {
      // Full state: a cluster missing from the response is removed.
      for (const name of held.keys()) if (!received.has(name)) this.counters.removals++;
      held.clear();
    }
    for (const [name, version] of received) held.set(name, version);
    if (response.typeUrl === EDS) {
      for (const any of response.resources) this.ports.set(nameOf(EDS, any.value), firstPort(any.value) ?? 0);
    }
    this.held.set(response.typeUrl, held);
    this.#versions.set(response.typeUrl, response.versionInfo);
  }

  async #delta(client: Client<typeof AggregatedDiscoveryService>, signal: AbortSignal): Promise<void> {
    const requests: WritableIterable<DeltaDiscoveryRequest> = createWritableIterable();
    const send = (init: MessageInitShape<typeof DeltaDiscoveryRequestSchema>) =>
      void requests.write(create(DeltaDiscoveryRequestSchema, init)).catch(() => {});
    for (const [typeUrl, names] of [
      [CDS, ["*"]],
      [EDS, this.clusters],
    ] as const) {
      send({
        node: { id: this.nodeId, locality: { zone: "test" } },
        typeUrl,
        resourceNamesSubscribe: [...names],
        initialResourceVersions: Object.fromEntries(this.held.get(typeUrl) ?? []),
      });
    }
    try {
      for await (const response of client.deltaAggregatedResources(requests, { signal })) {
        this.#applyDelta(response);
        send({ typeUrl: response.typeUrl, responseNonce: response.nonce });
      }
    } finally {
      requests.close();
    }
  }

  #applyDelta(response: DeltaDiscoveryResponse): void {
    this.counters.responses++;
    this.counters.resources += response.resources.length;
    const held = this.held.get(response.typeUrl) ?? new Map<string, string>();
    for (const resource of response.resources) {
      held.set(resource.name, resource.resource ? contentVersion(resource.resource.value) : resource.version);
      if (response.typeUrl === EDS && resource.resource) {
        this.ports.set(resource.name, firstPort(resource.resource.value) ?? 0);
      }
    }
    for (const name of response.removedResources) {
      if (held.delete(name)) this.counters.removals++;
      if (response.typeUrl === EDS) this.ports.delete(name);
    }
    this.held.set(response.typeUrl, held);
  }
}
