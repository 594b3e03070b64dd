/**
 * One simulated Envoy on one ADS stream: subscribes to CDS and LDS (wildcard),
 * to EDS and RDS by the names the clusters and listeners it received refer to,
 * and ACKs every response as Envoy does (version_info + response_nonce; SotW
 * requests repeat the full name list). SotW or delta (incremental). Written on
 * raw node:http2 with hand-made gRPC framing so it depends on no server's code.
 */
import http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Cluster_DiscoveryType, ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import { HttpConnectionManagerSchema } from "@nebucloud/xds-proto/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb";
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { CDS, EDS, LDS, RDS } from "./fixture.js";
import { FrameReader, frame } from "./grpc-framing.js";
import { nowMs } from "./ipc.js";

export type Mode = "sotw" | "delta";

/** When a client counts as done: per type, the SotW version it must have ACKed, or (delta) what it must hold. */
export interface Target {
  readonly sotw?: Readonly<Record<string, string>>;
  readonly delta?: Readonly<
    Record<string, { readonly count: number; readonly versions: Readonly<Record<string, string>> }>
  >;
}

const sotwPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
const deltaPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";
const hcmTypeUrl = `type.googleapis.com/${HttpConnectionManagerSchema.typeName}`;

/** Strings many clients hold (names, versions) are kept once per worker. */
const interned = new Map<string, string>();
function intern(s: string): string {
  let out = interned.get(s);
  if (out === undefined) {
    out = s;
    interned.set(s, s);
  }
  return out;
}

/**
 * Names derived from a response, cached by content: SotW by (type, version),
 * delta by resource version. Every client of a worker receives the same
 * resources, and decoding them is the clients' cost, not the server's.
 */
const sotwNames = new Map<string, readonly string[]>();
const deltaNames = new Map<string, readonly string[]>();

function edsNameOf(bytes: Uint8Array): string[] {
  const cluster = fromBinary(ClusterSchema, bytes);
  if (cluster.clusterDiscoveryType.case !== "type" || cluster.clusterDiscoveryType.value !== Cluster_DiscoveryType.EDS)
    return [];
  return [cluster.edsClusterConfig?.serviceName || cluster.name];
}

function routeNamesOf(bytes: Uint8Array): string[] {
  const listener = fromBinary(ListenerSchema, bytes);
  const out: string[] = [];
  const fromHcm = (value: Uint8Array) => {
    const hcm = fromBinary(HttpConnectionManagerSchema, value);
    if (hcm.routeSpecifier.case === "rds") out.push(hcm.routeSpecifier.value.routeConfigName);
  };
  for (const chain of listener.filterChains) {
    for (const filter of chain.filters) {
      if (filter.configType.case === "typedConfig" && filter.configType.value.typeUrl === hcmTypeUrl) {
        fromHcm(filter.configType.value.value);
      }
    }
  }
  const api = listener.apiListener?.apiListener;
  if (api && api.typeUrl === hcmTypeUrl) fromHcm(api.value);
  return out;
}

/** The type a type's resources make the client subscribe to, and how to find the names. */
const dependents: Record<string, { readonly type: string; readonly names: (bytes: Uint8Array) => string[] }> = {
  [CDS]: { type: EDS, names: edsNameOf },
  [LDS]: { type: RDS, names: routeNamesOf },
};

/** What the load worker provides to its clients. */
export interface ClientHost {
  /** The HTTP/2 session this client's streams go on. */
  session(client: AdsClient): http2.ClientHttp2Session;
  /** The target, checked on every ACK. */
  readonly target: Target | undefined;
  /** Whether the worker is shutting down (stream ends are then expected). */
  readonly closing: boolean;
  /** Records a problem (kept for the report). */
  problem(text: string): void;
}

export class AdsClient {
  readonly index: number;
  readonly nodeId: string;
  readonly mode: Mode;
  readonly #host: ClientHost;
  #stream: http2.ClientHttp2Stream | undefined;
  #firstRequest = true;
  /** Set by close(): no more reconnects. */
  #closed = false;
  /** SotW: per type, the version ACKed and the last nonce seen on the current stream. */
  readonly acked = new Map<string, string>();
  #nonces = new Map<string, string>();
  /** Per dependent type (EDS, RDS): the names subscribed to. */
  readonly #names = new Map<string, readonly string[]>();
  /** Delta: per type, name -> version held. Per CDS/LDS resource name, the names it makes us subscribe to. */
  readonly held = new Map<string, Map<string, string>>();
  readonly #refs = new Map<string, Map<string, readonly string[]>>();
  /** gRPC payload bytes received (all streams of this client). */
  payloadBytes = 0;
  responses = 0;
  /** When the client first met the current target (monotonic ms), NaN until then. */
  completeAt = Number.NaN;
  bytesAtTarget = 0;
  bytesAtComplete = 0;
  unexpectedEnds = 0;
  reconnects = 0;

  constructor(index: number, nodeId: string, mode: Mode, host: ClientHost) {
    this.index = index;
    this.nodeId = nodeId;
    this.mode = mode;
    this.#host = host;
  }

  /** Opens a stream and subscribes (again, after a reconnect, with the versions held, as Envoy does). */
  open(): void {
    const session = this.#host.session(this);
    const stream = session.request(
      {
        ":method": "POST",
        ":path": this.mode === "sotw" ? sotwPath : deltaPath,
        "content-type": "application/grpc",
        te: "trailers",
      },
      { endStream: false },
    );
    this.#stream = stream;
    this.#firstRequest = true;
    this.#nonces = new Map();
    // Every message is decoded and done with before the next chunk is read.
    const reader = new FrameReader({ reuse: true });
    stream.on("data", (chunk: Buffer) => {
      if (this.#stream !== stream) return;
      this.payloadBytes += chunk.length;
      reader.push(chunk, (message) => this.#onMessage(message));
    });
    const ended = (why: string) => {
      if (this.#stream !== stream) return;
      this.#stream = undefined;
      if (this.#host.closing || this.#closed) return;
      this.unexpectedEnds++;
      this.#host.problem(`${this.nodeId}: stream ended: ${why}`);
      // Envoy reconnects with backoff.
      setTimeout(
        () => {
          if (!this.#host.closing && !this.#closed && this.#stream === undefined) this.open();
        },
        250 + Math.random() * 500,
      ).unref();
    };
    stream.on("response", (headers) => {
      const status = headers["grpc-status"];
      if (status !== undefined && status !== "0") ended(`grpc-status ${status} ${headers["grpc-message"] ?? ""}`);
    });
    stream.on("trailers", (trailers) => {
      ended(`grpc-status ${trailers["grpc-status"]} ${trailers["grpc-message"] ?? ""}`);
    });
    stream.on("error", (error) => ended(String(error)));
    stream.on("close", () => ended(`closed (rst code ${stream.rstCode})`));
    if (this.mode === "sotw") {
      this.#sendSotw(CDS, this.acked.get(CDS) ?? "", "", []);
      this.#sendSotw(LDS, this.acked.get(LDS) ?? "", "", []);
      for (const [type, names] of this.#names) this.#sendSotw(type, this.acked.get(type) ?? "", "", names);
    } else {
      this.#sendDelta(CDS, [], [], "", this.held.get(CDS));
      this.#sendDelta(LDS, [], [], "", this.held.get(LDS));
      for (const [type, names] of this.#names) this.#sendDelta(type, names, [], "", this.held.get(type));
    }
  }

  /** Drops the stream (RST_STREAM CANCEL) and opens a new one on the same session, as after a network blip. */
  reconnect(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    this.reconnects++;
    this.open();
  }

  /** Closes the stream without reconnecting. */
  close(): void {
    this.#closed = true;
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** Starts measuring toward a new target; a client that already meets it is complete at once. */
  resetTarget(): void {
    this.completeAt = Number.NaN;
    this.bytesAtTarget = this.payloadBytes;
    this.#check();
  }

  #write(bytes: Uint8Array): void {
    const stream = this.#stream;
    if (!stream || stream.destroyed) return;
    stream.write(frame(bytes));
  }

  #sendSotw(typeUrl: string, versionInfo: string, responseNonce: string, names: readonly string[]): void {
    const first = this.#firstRequest;
    this.#firstRequest = false;
    this.#write(
      toBinary(
        DiscoveryRequestSchema,
        create(DiscoveryRequestSchema, {
          typeUrl,
          versionInfo,
          responseNonce,
          resourceNames: names as string[],
          ...(first ? { node: { id: this.nodeId, cluster: "bench" } } : {}),
        }),
      ),
    );
  }

  #sendDelta(
    typeUrl: string,
    subscribe: readonly string[],
    unsubscribe: readonly string[],
    responseNonce: string,
    held?: ReadonlyMap<string, string>,
  ): void {
    const first = this.#firstRequest;
    this.#firstRequest = false;
    this.#write(
      toBinary(
        DeltaDiscoveryRequestSchema,
        create(DeltaDiscoveryRequestSchema, {
          typeUrl,
          responseNonce,
          resourceNamesSubscribe: subscribe as string[],
          resourceNamesUnsubscribe: unsubscribe as string[],
          ...(held && held.size > 0 ? { initialResourceVersions: Object.fromEntries(held) } : {}),
          ...(first ? { node: { id: this.nodeId, cluster: "bench" } } : {}),
        }),
      ),
    );
  }

  #onMessage(bytes: Buffer): void {
    this.responses++;
    if (this.mode === "sotw") this.#onSotw(fromBinary(DiscoveryResponseSchema, bytes));
    else this.#onDelta(fromBinary(DeltaDiscoveryResponseSchema, bytes));
  }

  #onSotw(response: DiscoveryResponse): void {
    const type = response.typeUrl;
    this.#nonces.set(type, response.nonce);
    const dependent = dependents[type];
    if (dependent) {
      const key = `${type}\0${response.versionInfo}`;
      let names = sotwNames.get(key);
      if (!names) {
        const set = new Set<string>();
        for (const any of response.resources) for (const name of dependent.names(any.value)) set.add(intern(name));
        names = [...set].sort();
        sotwNames.set(key, names);
      }
      const current = this.#names.get(dependent.type);
      if (current !== names && !sameNames(current, names)) {
        // Envoy asks for the new EDS/RDS names before it ACKs the clusters/listeners that need them.
        this.#names.set(dependent.type, names);
        this.#sendSotw(
          dependent.type,
          this.acked.get(dependent.type) ?? "",
          this.#nonces.get(dependent.type) ?? "",
          names,
        );
      }
    }
    this.#sendSotw(type, response.versionInfo, response.nonce, this.#names.get(type) ?? []);
    this.acked.set(type, intern(response.versionInfo));
    this.#check();
  }

  #onDelta(response: DeltaDiscoveryResponse): void {
    const type = response.typeUrl;
    let held = this.held.get(type);
    if (!held) {
      held = new Map();
      this.held.set(type, held);
    }
    for (const resource of response.resources) held.set(intern(resource.name), intern(resource.version));
    for (const name of response.removedResources) held.delete(name);
    const dependent = dependents[type];
    if (dependent) {
      let refs = this.#refs.get(type);
      if (!refs) {
        refs = new Map();
        this.#refs.set(type, refs);
      }
      for (const resource of response.resources) {
        let names = deltaNames.get(resource.version);
        if (!names) {
          names = resource.resource ? dependent.names(resource.resource.value).map(intern) : [];
          deltaNames.set(resource.version, names);
        }
        refs.set(intern(resource.name), names);
      }
      for (const name of response.removedResources) refs.delete(name);
      const wanted = new Set<string>();
      for (const names of refs.values()) for (const name of names) wanted.add(name);
      const current = new Set(this.#names.get(dependent.type) ?? []);
      const subscribe = [...wanted].filter((n) => !current.has(n));
      const unsubscribe = [...current].filter((n) => !wanted.has(n));
      if (subscribe.length > 0 || unsubscribe.length > 0) {
        this.#names.set(dependent.type, [...wanted]);
        this.#sendDelta(dependent.type, subscribe, unsubscribe, "");
      }
    }
    this.#sendDelta(type, [], [], response.nonce);
    this.#check();
  }

  #check(): void {
    if (!Number.isNaN(this.completeAt)) return;
    const target = this.#host.target;
    if (!target) return;
    if (target.sotw) {
      for (const [type, version] of Object.entries(target.sotw)) if (this.acked.get(type) !== version) return;
    }
    if (target.delta) {
      for (const [type, want] of Object.entries(target.delta)) {
        const held = this.held.get(type);
        if (!held || held.size !== want.count) return;
        for (const [name, version] of Object.entries(want.versions)) if (held.get(name) !== version) return;
      }
    }
    this.completeAt = nowMs();
    this.bytesAtComplete = this.payloadBytes;
  }
}

function sameNames(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
