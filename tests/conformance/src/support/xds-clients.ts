/**
 * Minimal xDS clients on {@link GrpcCall}: SotW and delta, over ADS or a
 * per-type service. They keep what a real client would hold (name -> version
 * per type) and ACK or NACK only when a test says so, or automatically in
 * {@link SotwClient.run}/{@link DeltaClient.run} for the fault tests.
 */
import { createHash } from "node:crypto";
import { fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { defaultResourceTypes, FullStateTypes, TypeUrl } from "@nebucloud/xds-core";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  type DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  DeltaDiscoveryRequestSchema as DeltaRequest,
  type DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
  DiscoveryRequestSchema as SotwRequest,
  ResourceSchema as WireResourceSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { perTypeServices } from "@nebucloud/xds-server";
import { type CallEnd, CallEnded, type Connection, GrpcCall } from "./grpc-call.js";

export type Protocol = "sotw" | "delta";

/** Where a case runs: protocol, and ADS or the per-type service of the case's type. */
export interface Variant {
  readonly id: "sotw-ads" | "sotw-per-type" | "delta-ads" | "delta-per-type";
  readonly protocol: Protocol;
  readonly ads: boolean;
  readonly label: string;
}

export const variants: readonly Variant[] = [
  { id: "sotw-ads", protocol: "sotw", ads: true, label: "SotW ADS" },
  { id: "sotw-per-type", protocol: "sotw", ads: false, label: "SotW per-type service" },
  { id: "delta-ads", protocol: "delta", ads: true, label: "delta ADS" },
  { id: "delta-per-type", protocol: "delta", ads: false, label: "delta per-type service" },
];

/** The HTTP/2 path of the stream method: ADS, or the per-type service serving `typeUrl`. */
export function streamPath(protocol: Protocol, typeUrl: string | undefined): string {
  const service =
    typeUrl === undefined ? AggregatedDiscoveryService : perTypeServices.find(([, t]) => t === typeUrl)?.[0];
  if (!service) throw new Error(`no per-type service serves ${typeUrl}`);
  const input =
    protocol === "sotw"
      ? "envoy.service.discovery.v3.DiscoveryRequest"
      : "envoy.service.discovery.v3.DeltaDiscoveryRequest";
  const method = service.methods.find((m) => m.methodKind === "bidi_streaming" && m.input.typeName === input);
  if (!method) throw new Error(`${service.typeName} has no ${protocol} stream`);
  return `/${service.typeName}/${method.name}`;
}

/** The content version of resource bytes: what `Resource.version` is for the same bytes. */
export function contentVersion(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A resource as a SotW response carries it. */
export interface SotwItem {
  readonly name: string;
  readonly version: string;
  /** Wrapped in discovery.v3.Resource (TTL). */
  readonly wrapped: boolean;
  /** A TTL heartbeat: wrapped, without a body. */
  readonly heartbeat: boolean;
  readonly ttlMs: number | undefined;
  readonly bytes: Uint8Array | undefined;
}

/** Decodes the resources of a SotW response (plain Any or TTL-wrapped). */
export function sotwItems(response: DiscoveryResponse): SotwItem[] {
  return response.resources.map((any) => {
    if (any.typeUrl === TypeUrl.Resource) {
      const wire = fromBinary(WireResourceSchema, any.value);
      const ttlMs = wire.ttl ? Number(wire.ttl.seconds) * 1000 + Math.floor(wire.ttl.nanos / 1e6) : undefined;
      const body = wire.resource?.value;
      return {
        name: wire.name,
        version: body ? contentVersion(body) : wire.version,
        wrapped: true,
        heartbeat: body === undefined,
        ttlMs,
        bytes: body,
      };
    }
    const type = defaultResourceTypes.require(any.typeUrl);
    const name = type.name(fromBinary(type.schema, any.value));
    return {
      name,
      version: contentVersion(any.value),
      wrapped: false,
      heartbeat: false,
      ttlMs: undefined,
      bytes: any.value,
    };
  });
}

type SotwInit = MessageInitShape<typeof DiscoveryRequestSchema>;
type DeltaInit = MessageInitShape<typeof DeltaDiscoveryRequestSchema>;

/** Options shared by both clients. */
export interface ClientOptions {
  /** ADS, or the per-type service of `typeUrl`. */
  readonly ads: boolean;
  /** The type of the per-type service (ignored for ADS). */
  readonly typeUrl: string;
  readonly nodeId: string;
}

/** A SotW client. */
export class SotwClient {
  readonly call: GrpcCall<typeof DiscoveryResponseSchema>;
  /** Type URL -> name -> content version the client holds. */
  readonly held = new Map<string, Map<string, string>>();
  /** Type URL -> the version of the last response applied. */
  readonly versions = new Map<string, string>();
  /** Type URL -> the nonce of the last response received. */
  readonly nonces = new Map<string, string>();
  /** Type URL -> the names the client subscribes to. */
  readonly names = new Map<string, string[]>();
  #nodeSent = false;

  constructor(
    connection: Connection,
    readonly options: ClientOptions,
  ) {
    this.call = new GrpcCall(
      connection,
      streamPath("sotw", options.ads ? undefined : options.typeUrl),
      DiscoveryResponseSchema,
    );
  }

  /** Sends a request as given; the node goes on the first one unless `init` sets it. */
  request(init: SotwInit): void {
    const withNode =
      !this.#nodeSent && !("node" in init) ? ({ ...init, node: { id: this.options.nodeId } } as typeof init) : init;
    this.#nodeSent = true;
    if (init.typeUrl !== undefined && init.resourceNames !== undefined) {
      this.names.set(init.typeUrl, [...init.resourceNames]);
    }
    this.call.send(SotwRequest, withNode);
  }

  /** Subscribes to `names` of `typeUrl` (replacing the previous list), with the last version and nonce. */
  subscribe(typeUrl: string, names: string[] = []): void {
    this.request({
      typeUrl,
      resourceNames: names,
      versionInfo: this.versions.get(typeUrl) ?? "",
      responseNonce: this.nonces.get(typeUrl) ?? "",
    });
  }

  /** The next response, applied to {@link held} (not acknowledged). */
  async next(timeoutMs = 3000): Promise<DiscoveryResponse> {
    const response = await this.call.next(timeoutMs);
    this.nonces.set(response.typeUrl, response.nonce);
    return response;
  }

  /** Applies a response to what the client holds, as Envoy does. */
  apply(response: DiscoveryResponse): void {
    const items = sotwItems(response);
    const held = this.held.get(response.typeUrl) ?? new Map<string, string>();
    if (FullStateTypes.has(response.typeUrl)) held.clear();
    for (const item of items) held.set(item.name, item.version);
    this.held.set(response.typeUrl, held);
    this.versions.set(response.typeUrl, response.versionInfo);
  }

  /** ACKs a response: applies it, then sends its version and nonce with the current names. */
  ack(response: DiscoveryResponse): void {
    this.apply(response);
    this.request({
      typeUrl: response.typeUrl,
      versionInfo: response.versionInfo,
      responseNonce: response.nonce,
      resourceNames: this.names.get(response.typeUrl) ?? [],
    });
  }

  /** NACKs a response: the previous version, its nonce and an error. */
  nack(response: DiscoveryResponse, message = "rejected by the test client"): void {
    this.request({
      typeUrl: response.typeUrl,
      versionInfo: this.versions.get(response.typeUrl) ?? "",
      responseNonce: response.nonce,
      resourceNames: this.names.get(response.typeUrl) ?? [],
      errorDetail: { code: 3, message },
    });
  }

  /** ACKs every response until the call ends; resolves with how it ended. */
  async run(onResponse?: (response: DiscoveryResponse) => void): Promise<CallEnd> {
    for (;;) {
      let response: DiscoveryResponse;
      try {
        response = await this.next(3_600_000);
      } catch (error) {
        if (error instanceof CallEnded) return error.end;
        throw error;
      }
      this.ack(response);
      onResponse?.(response);
    }
  }
}

/** A delta client. */
export class DeltaClient {
  readonly call: GrpcCall<typeof DeltaDiscoveryResponseSchema>;
  /** Type URL -> name -> version the client holds. */
  readonly held = new Map<string, Map<string, string>>();
  readonly nonces = new Map<string, string>();
  #nodeSent = false;

  constructor(
    connection: Connection,
    readonly options: ClientOptions,
  ) {
    this.call = new GrpcCall(
      connection,
      streamPath("delta", options.ads ? undefined : options.typeUrl),
      DeltaDiscoveryResponseSchema,
    );
  }

  request(init: DeltaInit): void {
    const withNode =
      !this.#nodeSent && !("node" in init) ? ({ ...init, node: { id: this.options.nodeId } } as typeof init) : init;
    this.#nodeSent = true;
    this.call.send(DeltaRequest, withNode);
  }

  /** Changes the subscription of `typeUrl`. */
  subscribe(
    typeUrl: string,
    subscribe: string[],
    unsubscribe: string[] = [],
    initialResourceVersions?: Record<string, string>,
  ): void {
    this.request({
      typeUrl,
      resourceNamesSubscribe: subscribe,
      resourceNamesUnsubscribe: unsubscribe,
      ...(initialResourceVersions ? { initialResourceVersions } : {}),
    });
    const held = this.held.get(typeUrl);
    for (const name of unsubscribe) held?.delete(name);
  }

  async next(timeoutMs = 3000): Promise<DeltaDiscoveryResponse> {
    const response = await this.call.next(timeoutMs);
    this.nonces.set(response.typeUrl, response.nonce);
    return response;
  }

  apply(response: DeltaDiscoveryResponse): void {
    const held = this.held.get(response.typeUrl) ?? new Map<string, string>();
    for (const r of response.resources) held.set(r.name, r.resource ? contentVersion(r.resource.value) : r.version);
    for (const name of response.removedResources) held.delete(name);
    this.held.set(response.typeUrl, held);
  }

  ack(response: DeltaDiscoveryResponse): void {
    this.apply(response);
    this.request({ typeUrl: response.typeUrl, responseNonce: response.nonce });
  }

  nack(response: DeltaDiscoveryResponse, message = "rejected by the test client"): void {
    this.request({ typeUrl: response.typeUrl, responseNonce: response.nonce, errorDetail: { code: 3, message } });
  }

  async run(onResponse?: (response: DeltaDiscoveryResponse) => void): Promise<CallEnd> {
    for (;;) {
      let response: DeltaDiscoveryResponse;
      try {
        response = await this.next(3_600_000);
      } catch (error) {
        if (error instanceof CallEnded) return error.end;
        throw error;
      }
      this.ack(response);
      onResponse?.(response);
    }
  }
}

/** Names of a delta response's resources, sorted. */
export function deltaNames(response: DeltaDiscoveryResponse): string[] {
  return response.resources.map((r) => r.name).sort();
}

/** Names of a SotW response's resources, sorted. */
export function sotwNames(response: DiscoveryResponse): string[] {
  return sotwItems(response)
    .map((i) => i.name)
    .sort();
}
