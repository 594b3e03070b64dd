import { create } from "@bufbuild/protobuf";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  type DiscoveryRequest,
  DiscoveryRequestSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { type AdsSession, interestNames, nackStatusCode } from "./ads-session.js";
import type { RequestQueue } from "./request-queue.js";
import { type Interest, sameInterest } from "./type-subscription.js";

/**
 * A state-of-the-world ADS stream: every request carries the type's full name
 * list, the last accepted version_info and the last nonce received for the
 * type on this stream. The first request of the stream carries the node.
 */
export class SotwSession implements AdsSession {
  readonly #requests: RequestQueue<DiscoveryRequest>;
  readonly #node: Node;
  readonly #acceptedVersion: (typeUrl: string) => string;
  readonly #sent = new Map<string, Interest>();
  readonly #nonces = new Map<string, string>();
  #nodeSent = false;

  /**
   * @param acceptedVersion the version_info last accepted for a type, kept by
   *   the client across streams so that a new stream resumes from it.
   */
  constructor(requests: RequestQueue<DiscoveryRequest>, node: Node, acceptedVersion: (typeUrl: string) => string) {
    this.#requests = requests;
    this.#node = node;
    this.#acceptedVersion = acceptedVersion;
  }

  sync(typeUrl: string, interest: Interest, _dropped?: readonly string[]): string[] {
    const sent = this.#sent.get(typeUrl);
    if (sent ? sameInterest(sent, interest) : !interest.wildcard && interest.names.size === 0) return [];
    const added = [...interest.names].filter((name) => !sent?.names.has(name));
    this.#send(typeUrl, interest, this.#acceptedVersion(typeUrl), this.#nonces.get(typeUrl) ?? "");
    return added;
  }

  ack(typeUrl: string, version: string, nonce: string, interest: Interest): void {
    this.#nonces.set(typeUrl, nonce);
    this.#send(typeUrl, interest, version, nonce);
  }

  nack(typeUrl: string, nonce: string, message: string, interest: Interest): void {
    this.#nonces.set(typeUrl, nonce);
    this.#send(typeUrl, interest, this.#acceptedVersion(typeUrl), nonce, message);
  }

  end(): void {
    this.#requests.end();
  }

  #send(typeUrl: string, interest: Interest, versionInfo: string, responseNonce: string, error?: string): void {
    this.#sent.set(typeUrl, interest);
    this.#requests.push(
      create(DiscoveryRequestSchema, {
        ...(this.#nodeSent ? {} : { node: this.#node }),
        typeUrl,
        versionInfo,
        responseNonce,
        resourceNames: interestNames(interest),
        ...(error === undefined ? {} : { errorDetail: { code: nackStatusCode, message: error } }),
      }),
    );
    this.#nodeSent = true;
  }
}
