/**
 * The naive server: what an obvious first implementation looks like.
 * @grpc/grpc-js with the Envoy protos loaded by @grpc/proto-loader; on every
 * request that needs an answer (and on every snapshot change) it builds the
 * DiscoveryResponse for that stream, packing each resource into an Any by
 * encoding it again, and lets grpc-js serialize the whole message. SotW only.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type DescMessage, type Message, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { buildState, CDS, countsOf, EDS, LDS, RDS, type StateSpec } from "../fixture.js";
import { countedVersions, type Plan, type ServerImpl } from "../server-impl.js";
import { schemas } from "./limit.js";

/** Where the xds-proto build stages the Envoy .proto files. */
const protoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../packages/xds-proto/.proto");

interface Request {
  typeUrl: string;
  versionInfo: string;
  responseNonce: string;
  resourceNames: string[];
}

interface Subscription {
  names: string[];
  nonce: string;
  sentVersion: string;
}

interface Call {
  readonly call: grpc.ServerDuplexStream<Request, unknown>;
  readonly subs: Map<string, Subscription>;
  nonce: number;
}

interface State {
  readonly versions: Record<string, string>;
  readonly resources: Record<string, { readonly name: string; readonly message: Message }[]>;
}

function nameOf(message: Message): string {
  const m = message as unknown as { name?: string; clusterName?: string };
  return m.clusterName ?? m.name ?? "";
}

export class NaiveServer implements ServerImpl {
  readonly #server = new grpc.Server({
    "grpc.max_send_message_length": -1,
    "grpc.max_receive_message_length": -1,
  });
  readonly #calls = new Set<Call>();
  #staged: State | undefined;
  #current: State | undefined;

  async start(): Promise<string> {
    const definition = protoLoader.loadSync("envoy/service/discovery/v3/ads.proto", {
      includeDirs: [protoDir],
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: { service: grpc.ServiceDefinition } } } } };
    };
    this.#server.addService(loaded.envoy.service.discovery.v3.AggregatedDiscoveryService.service, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Request, unknown>) => this.#onCall(call),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) =>
        call.destroy(Object.assign(new Error("delta is not implemented"), { code: grpc.status.UNIMPLEMENTED })),
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, p) =>
        error ? reject(error) : resolve(p),
      ),
    );
    return `127.0.0.1:${port}`;
  }

  #onCall(call: grpc.ServerDuplexStream<Request, unknown>): void {
    const state: Call = { call, subs: new Map(), nonce: 0 };
    this.#calls.add(state);
    call.on("data", (request: Request) => {
      const typeUrl = request.typeUrl;
      const sub = state.subs.get(typeUrl);
      if (sub && request.responseNonce === sub.nonce && request.versionInfo === sub.sentVersion) {
        // An ACK of what we sent; a changed name list is answered below.
        if (sameNames(sub.names, request.resourceNames)) return;
      }
      state.subs.set(typeUrl, {
        names: request.resourceNames,
        nonce: sub?.nonce ?? "",
        sentVersion: sub?.sentVersion ?? "",
      });
      this.#respond(state, typeUrl);
    });
    call.on("error", () => this.#calls.delete(state));
    call.on("end", () => {
      this.#calls.delete(state);
      call.end();
    });
    call.on("cancelled", () => this.#calls.delete(state));
  }

  #respond(state: Call, typeUrl: string): void {
    const current = this.#current;
    const sub = state.subs.get(typeUrl);
    if (!current || !sub) return;
    const version = current.versions[typeUrl];
    if (version === undefined) return;
    const schema = schemas[typeUrl] as DescMessage;
    const wanted = sub.names.length > 0 ? new Set(sub.names) : undefined;
    const resources = [];
    for (const r of current.resources[typeUrl] ?? []) {
      if (wanted && !wanted.has(r.name)) continue;
      // The naive part: every resource is encoded again for every stream.
      resources.push({ type_url: `type.googleapis.com/${schema.typeName}`, value: toBinary(schema, r.message) });
    }
    const nonce = String(++state.nonce);
    sub.nonce = nonce;
    sub.sentVersion = version;
    state.call.write({ versionInfo: version, typeUrl, nonce, resources });
  }

  plan(spec: StateSpec): Plan {
    return {
      versions: countedVersions(spec.step, { cds: CDS, eds: EDS, lds: LDS, rds: RDS }),
      counts: countsOf(spec),
      changed: [],
    };
  }

  stage(spec: StateSpec): void {
    const all = buildState(spec);
    const resources: State["resources"] = {};
    for (const [typeUrl, messages] of Object.entries(all)) {
      resources[typeUrl] = messages.map((message) => ({ name: nameOf(message), message }));
    }
    this.#staged = { versions: countedVersions(spec.step, { cds: CDS, eds: EDS, lds: LDS, rds: RDS }), resources };
  }

  apply(): void {
    const previous = this.#current;
    this.#current = this.#staged;
    for (const state of this.#calls) {
      for (const typeUrl of state.subs.keys()) {
        if (previous?.versions[typeUrl] !== this.#current?.versions[typeUrl]) this.#respond(state, typeUrl);
      }
    }
  }

  subscribed(): number {
    let n = 0;
    for (const state of this.#calls) if (state.subs.has(CDS) && state.subs.has(LDS)) n++;
    return n;
  }

  async stop(): Promise<void> {
    this.#server.forceShutdown();
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
