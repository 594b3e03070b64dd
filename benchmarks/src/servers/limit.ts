/**
 * The limit: a plain node:http2 server that does the least an ADS server can.
 * Each response is encoded and gRPC-framed once per type and version, and
 * the same bytes are written to every stream; ACKs are answered with nothing.
 * SotW only. Its nonce is the version, so one buffer serves every stream.
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, type DescMessage, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import { RouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";
import {
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { adsTypes, buildState, CDS, changedBy, countsOf, EDS, LDS, RDS, type StateSpec } from "../fixture.js";
import { FrameReader, frame } from "../grpc-framing.js";
import { countedVersions, type Plan, type ServerImpl } from "../server-impl.js";

export const schemas: Readonly<Record<string, DescMessage>> = {
  [CDS]: ClusterSchema,
  [EDS]: ClusterLoadAssignmentSchema,
  [LDS]: ListenerSchema,
  [RDS]: RouteConfigurationSchema,
};

/** Per type: the framed response with every resource, and the one with only what the last step changed. */
interface Framed {
  readonly version: string;
  readonly full: Buffer;
  /** For a client that ACKed `from`: the changed resources only (EDS/RDS), or the full response (CDS/LDS). */
  readonly update: { readonly from: string; readonly bytes: Buffer } | undefined;
}

interface StreamState {
  readonly stream: http2.ServerHttp2Stream;
  readonly types: Set<string>;
  /** Per type: the version last written to the stream, and the last one the client ACKed. */
  readonly sent: Map<string, string>;
  readonly acked: Map<string, string>;
}

function framedResponse(typeUrl: string, version: string, messages: readonly Message[]): Buffer {
  const schema = schemas[typeUrl] as DescMessage;
  const response = create(DiscoveryResponseSchema, {
    versionInfo: version,
    typeUrl,
    nonce: version,
    resources: messages.map((m) => anyPack(schema, m)),
  });
  return frame(toBinary(DiscoveryResponseSchema, response));
}

export class LimitServer implements ServerImpl {
  readonly #server = http2.createServer({ settings: { maxConcurrentStreams: 100_000 } });
  readonly #streams = new Set<StreamState>();
  readonly #framed = new Map<string, Framed>();
  #staged: { spec: StateSpec; all: Record<string, Message[]>; changed: Record<string, Message[]> } | undefined;
  #appliedStep: number | undefined;

  async start(): Promise<string> {
    this.#server.on("stream", (stream, headers) => this.#onStream(stream, headers));
    this.#server.on("session", (session) => session.on("error", () => {}));
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    const address = this.#server.address() as AddressInfo;
    return `${address.address}:${address.port}`;
  }

  #onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on("error", () => {});
    if (headers[":path"] !== "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources") {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    const state: StreamState = { stream, types: new Set(), sent: new Map(), acked: new Map() };
    this.#streams.add(state);
    stream.on("close", () => this.#streams.delete(state));
    const reader = new FrameReader();
    stream.on("data", (chunk: Buffer) => {
      reader.push(chunk, (bytes) => {
        const request = fromBinary(DiscoveryRequestSchema, bytes);
        const typeUrl = request.typeUrl;
        state.types.add(typeUrl);
        if (request.responseNonce !== "") {
          // An ACK of what was last written: nothing to do. An older nonce is stale: ignored, as the protocol says.
          if (request.responseNonce === state.sent.get(typeUrl)) state.acked.set(typeUrl, request.responseNonce);
          return;
        }
        // A new subscription (or a reconnect that says what it holds).
        const framed = this.#framed.get(typeUrl);
        if (framed && request.versionInfo !== framed.version) {
          state.sent.set(typeUrl, request.versionInfo);
          this.#send(state, typeUrl, framed);
        }
      });
    });
  }

  /** Writes `framed` to a stream: the update when the client holds (or is being sent) the version it updates, else everything. */
  #send(state: StreamState, typeUrl: string, framed: Framed): void {
    if (state.stream.destroyed) return;
    const update = framed.update;
    state.stream.write(update && state.sent.get(typeUrl) === update.from ? update.bytes : framed.full);
    state.sent.set(typeUrl, framed.version);
  }

  plan(spec: StateSpec): Plan {
    return {
      versions: countedVersions(spec.step, { cds: CDS, eds: EDS, lds: LDS, rds: RDS }),
      counts: countsOf(spec),
      changed: [],
    };
  }

  stage(spec: StateSpec): void {
    this.#staged = { spec, all: buildState(spec), changed: changedBy(spec, spec.step) };
  }

  apply(): void {
    const staged = this.#staged;
    if (!staged) throw new Error("apply before stage");
    const versions = countedVersions(staged.spec.step, { cds: CDS, eds: EDS, lds: LDS, rds: RDS });
    const incremental = this.#appliedStep !== undefined && this.#appliedStep === staged.spec.step - 1;
    const pushed: string[] = [];
    for (const typeUrl of adsTypes) {
      const version = versions[typeUrl] as string;
      const previous = this.#framed.get(typeUrl);
      if (previous?.version === version) continue;
      const full = framedResponse(typeUrl, version, staged.all[typeUrl] ?? []);
      let update: Framed["update"];
      if (previous && incremental) {
        // Full-state types (CDS, LDS) always carry everything; EDS and RDS only what changed.
        const bytes =
          typeUrl === CDS || typeUrl === LDS ? full : framedResponse(typeUrl, version, staged.changed[typeUrl] ?? []);
        update = { from: previous.version, bytes };
      }
      this.#framed.set(typeUrl, { version, full, update });
      pushed.push(typeUrl);
    }
    this.#appliedStep = staged.spec.step;
    for (const state of this.#streams) {
      for (const typeUrl of pushed) {
        if (state.types.has(typeUrl)) this.#send(state, typeUrl, this.#framed.get(typeUrl) as Framed);
      }
    }
  }

  subscribed(): number {
    let n = 0;
    for (const state of this.#streams) if (state.types.has(CDS) && state.types.has(LDS)) n++;
    return n;
  }

  settled(): number {
    let n = 0;
    for (const state of this.#streams) {
      if (state.sent.size > 0 && [...state.sent].every(([type, version]) => state.acked.get(type) === version)) n++;
    }
    return n;
  }

  async stop(): Promise<void> {
    this.#server.close();
  }
}
