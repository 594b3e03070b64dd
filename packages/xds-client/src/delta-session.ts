import { create } from "@bufbuild/protobuf";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { type AdsSession, interestNames, nackStatusCode } from "./ads-session.js";
import type { RequestQueue } from "./request-queue.js";
import type { Interest } from "./type-subscription.js";

/** Names one delta request subscribes or unsubscribes at most; more go out in several requests. */
const maxNamesPerRequest = 1000;

/**
 * An incremental (delta) ADS stream: the first request of a type subscribes
 * to its names (`*` for a wildcard) with initial_resource_versions of what the
 * client already holds; later ones carry only what changed
 * (resource_names_subscribe / _unsubscribe). ACKs and NACKs carry the nonce.
 */
export class DeltaSession implements AdsSession {
  readonly #requests: RequestQueue<DeltaDiscoveryRequest>;
  readonly #node: Node;
  readonly #heldVersions: (typeUrl: string, interest: Interest) => Record<string, string>;
  readonly #sent = new Map<string, Interest>();
  #nodeSent = false;

  /**
   * @param heldVersions name -> server version of the resources the client
   *   holds that `interest` covers: the initial_resource_versions of a type's
   *   first request on this stream.
   */
  constructor(
    requests: RequestQueue<DeltaDiscoveryRequest>,
    node: Node,
    heldVersions: (typeUrl: string, interest: Interest) => Record<string, string>,
  ) {
    this.#requests = requests;
    this.#node = node;
    this.#heldVersions = heldVersions;
  }

  sync(typeUrl: string, interest: Interest, dropped: readonly string[] = []): string[] {
    const sent = this.#sent.get(typeUrl);
    if (!sent) {
      if (!interest.wildcard && interest.names.size === 0) return [];
      this.#sent.set(typeUrl, interest);
      this.#send({
        typeUrl,
        resourceNamesSubscribe: interestNames(interest),
        initialResourceVersions: this.#heldVersions(typeUrl, interest),
      });
      return [...interest.names];
    }
    const subscribe = [...interest.names].filter((name) => !sent.names.has(name)).sort();
    const unsubscribe = new Set([...sent.names].filter((name) => !interest.names.has(name)));
    for (const name of dropped) if (!interest.wildcard && !interest.names.has(name)) unsubscribe.add(name);
    const leaving = [...unsubscribe].sort();
    if (interest.wildcard && !sent.wildcard) subscribe.unshift("*");
    if (!interest.wildcard && sent.wildcard) leaving.unshift("*");
    this.#sent.set(typeUrl, interest);
    if (subscribe.length === 0 && leaving.length === 0) return [];
    // Servers bound the names per request (ours: 10 000), so long lists go out in parts.
    for (let at = 0; at === 0 || at < subscribe.length || at < leaving.length; at += maxNamesPerRequest) {
      this.#send({
        typeUrl,
        resourceNamesSubscribe: subscribe.slice(at, at + maxNamesPerRequest),
        resourceNamesUnsubscribe: leaving.slice(at, at + maxNamesPerRequest),
      });
    }
    return subscribe.filter((name) => name !== "*");
  }

  ack(typeUrl: string, _version: string, nonce: string, _interest: Interest): void {
    this.#send({ typeUrl, responseNonce: nonce });
  }

  nack(typeUrl: string, nonce: string, message: string, _interest: Interest): void {
    this.#send({ typeUrl, responseNonce: nonce, errorDetail: { code: nackStatusCode, message } });
  }

  end(): void {
    this.#requests.end();
  }

  #send(init: {
    typeUrl: string;
    responseNonce?: string;
    resourceNamesSubscribe?: string[];
    resourceNamesUnsubscribe?: string[];
    initialResourceVersions?: Record<string, string>;
    errorDetail?: { code: number; message: string };
  }): void {
    this.#requests.push(
      create(DeltaDiscoveryRequestSchema, { ...(this.#nodeSent ? {} : { node: this.#node }), ...init }),
    );
    this.#nodeSent = true;
  }
}
