/**
 * A small ADS client for tests: one SotW stream over gRPC (connect-node) that
 * ACKs every response, keeps each type's responses and lets a test wait for a
 * response that satisfies a check.
 */
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";

/** The messages of `schema` in a response. */
export function unpack<Desc extends DescMessage>(response: DiscoveryResponse, schema: Desc): MessageShape<Desc>[] {
  return response.resources.map((any) => {
    const message = anyUnpack(any, schema);
    if (!message) throw new Error(`a ${any.typeUrl} is not a ${schema.typeName}`);
    return message;
  });
}

interface Waiter {
  readonly typeUrl: string;
  readonly check: (response: DiscoveryResponse) => boolean;
  readonly resolve: (response: DiscoveryResponse) => void;
}

export class AdsClient {
  readonly #queue: DiscoveryRequest[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  readonly #names = new Map<string, string[]>();
  readonly #waiters = new Set<Waiter>();
  /** Every response, by type URL, in order. */
  readonly responses = new Map<string, DiscoveryResponse[]>();
  /** Set when the stream failed. */
  error: unknown;
  readonly #done: Promise<void>;

  constructor(
    address: string,
    readonly nodeId: string,
  ) {
    const client = createClient(AggregatedDiscoveryService, createGrpcTransport({ baseUrl: `http://${address}` }));
    const stream = client.streamAggregatedResources(this.#requests());
    this.#done = (async () => {
      try {
        for await (const response of stream) this.#received(response);
      } catch (error) {
        this.error = error;
      }
    })();
  }

  /** Subscribes to `typeUrl`: the given names, or every resource (wildcard) when none. */
  subscribe(typeUrl: string, names: readonly string[] = []): void {
    this.#names.set(typeUrl, [...names]);
    this.#push({ typeUrl, resourceNames: [...names] });
  }

  /** The last response of a type. */
  latest(typeUrl: string): DiscoveryResponse | undefined {
    return this.responses.get(typeUrl)?.at(-1);
  }

  /**
   * The first response of `typeUrl` (the latest one received, or a later one)
   * for which `check` holds; rejects after `timeoutMs`.
   */
  waitFor(
    typeUrl: string,
    check: (response: DiscoveryResponse) => boolean,
    timeoutMs = 5000,
  ): Promise<DiscoveryResponse> {
    const latest = this.latest(typeUrl);
    if (latest && check(latest)) return Promise.resolve(latest);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        const last = this.latest(typeUrl);
        reject(
          new Error(
            `no ${typeUrl} response as expected within ${timeoutMs} ms (last version ${last?.versionInfo ?? "none"}; error ${String(this.error)})`,
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        typeUrl,
        check,
        resolve: (response) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(response);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** Ends the stream and waits for it to be over. */
  async close(): Promise<void> {
    this.#ended = true;
    this.#wake?.();
    await this.#done;
  }

  #received(response: DiscoveryResponse): void {
    const list = this.responses.get(response.typeUrl) ?? [];
    list.push(response);
    this.responses.set(response.typeUrl, list);
    // ACK.
    this.#push({
      typeUrl: response.typeUrl,
      resourceNames: this.#names.get(response.typeUrl) ?? [],
      versionInfo: response.versionInfo,
      responseNonce: response.nonce,
    });
    for (const waiter of [...this.#waiters]) {
      if (waiter.typeUrl === response.typeUrl && waiter.check(response)) waiter.resolve(response);
    }
  }

  #push(init: { typeUrl: string; resourceNames: string[]; versionInfo?: string; responseNonce?: string }): void {
    this.#queue.push(create(DiscoveryRequestSchema, { ...init, node: { id: this.nodeId, cluster: "test" } }));
    this.#wake?.();
  }

  async *#requests(): AsyncGenerator<DiscoveryRequest> {
    for (;;) {
      while (this.#queue.length > 0) yield this.#queue.shift() as DiscoveryRequest;
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }
}
