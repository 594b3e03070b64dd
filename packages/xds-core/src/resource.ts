import { createHash } from "node:crypto";
import { type DescMessage, fromBinary, type Message } from "@bufbuild/protobuf";
import { canonicalBinary } from "./canonical-encoding.js";
import { defaultResourceTypes, messageRegistry, type References, type ResourceTypeRegistry } from "./resource-type.js";
import { XdsError } from "./xds-error.js";

let encodings = 0;

/** Options of {@link Resource.from} and {@link Resource.fromBytes}. */
export interface ResourceOptions {
  /** The name clients subscribe by. Default: the resource type's name function. */
  readonly name?: string;
  /**
   * Time to live in milliseconds: the resource is sent wrapped in
   * `discovery.v3.Resource` with this TTL, and heartbeats keep it alive (as
   * go-control-plane's `Resource.Ttl`). Default: none.
   */
  readonly ttlMs?: number;
  /** Where the type comes from. Default: {@link defaultResourceTypes}. */
  readonly types?: ResourceTypeRegistry;
}

/**
 * One named xDS resource and its wire encoding. The encoding (deterministic:
 * maps sorted) and the version (SHA-256 of it) are computed on first use and
 * kept, so a resource is encoded and hashed once per content however many
 * streams receive it. Treat the message as immutable once wrapped: build a new
 * Resource for new content. Safe to share between caches, nodes and streams.
 */
export class Resource<T extends Message = Message> {
  /** The type URL the resource is served under. */
  readonly typeUrl: string;
  /** The name clients subscribe by, unique within its type in a snapshot. */
  readonly name: string;
  /** Time to live in milliseconds ({@link ResourceOptions.ttlMs}); undefined for none. */
  readonly ttlMs: number | undefined;
  readonly #schema: DescMessage;
  #message: T | undefined;
  #bytes: Uint8Array | undefined;
  #version: string | undefined;
  #references: References | undefined;
  readonly #types: ResourceTypeRegistry;

  private constructor(
    typeUrl: string,
    name: string,
    schema: DescMessage,
    types: ResourceTypeRegistry,
    ttlMs: number | undefined,
    message?: T,
    bytes?: Uint8Array,
  ) {
    this.typeUrl = typeUrl;
    this.name = name;
    this.#schema = schema;
    this.#types = types;
    this.ttlMs = ttlMs;
    this.#message = message;
    this.#bytes = bytes;
  }

  /** Wraps a message of a registered type; its name comes from the type unless given. */
  static from<T extends Message>(typeUrl: string, message: T, options: ResourceOptions = {}): Resource<T> {
    const types = options.types ?? defaultResourceTypes;
    const type = types.require(typeUrl);
    if (message.$typeName !== type.schema.typeName) {
      throw new XdsError(
        "invalid_config",
        `a ${message.$typeName} cannot be a resource of type ${typeUrl} (expected ${type.schema.typeName})`,
        { typeUrl, field: "$typeName" },
      );
    }
    const name = options.name ?? type.name(message);
    return new Resource(typeUrl, name, type.schema, types, options.ttlMs, message);
  }

  /**
   * Wraps bytes already encoded (from a store or an upstream server). The bytes
   * must be the canonical encoding for versions to agree with {@link from}'s;
   * the message is decoded only if something asks for it.
   */
  static fromBytes(typeUrl: string, name: string, bytes: Uint8Array, options: ResourceOptions = {}): Resource {
    const types = options.types ?? defaultResourceTypes;
    return new Resource(typeUrl, name, types.require(typeUrl).schema, types, options.ttlMs, undefined, bytes);
  }

  /** The decoded message (decoded on first use when built from bytes). */
  get message(): T {
    if (this.#message === undefined) {
      try {
        this.#message = fromBinary(this.#schema, this.#bytes as Uint8Array) as T;
      } catch (cause) {
        throw new XdsError(
          "deserialization",
          `resource ${this.name} of ${this.typeUrl} does not decode`,
          {
            typeUrl: this.typeUrl,
            names: [this.name],
          },
          { cause },
        );
      }
    }
    return this.#message;
  }

  /** The canonical wire encoding; computed once. */
  get bytes(): Uint8Array {
    if (this.#bytes === undefined) {
      try {
        this.#bytes = canonicalBinary(this.#schema, this.#message as T, messageRegistry);
        encodings++;
      } catch (cause) {
        throw new XdsError(
          "serialization",
          `resource ${this.name} of ${this.typeUrl} does not encode`,
          {
            typeUrl: this.typeUrl,
            names: [this.name],
          },
          { cause },
        );
      }
    }
    return this.#bytes;
  }

  /** SHA-256 (hex) of {@link bytes}: equal content, equal version, on every replica. */
  get version(): string {
    this.#version ??= createHash("sha256").update(this.bytes).digest("hex");
    return this.#version;
  }

  /** Names this resource refers to, by type URL (from its type's `references`). */
  get references(): References {
    if (this.#references === undefined) {
      const type = this.#types.get(this.typeUrl);
      this.#references = type?.references?.(this.message) ?? new Map();
    }
    return this.#references;
  }
}

/**
 * How many resource encodings this process has performed: a diagnostic for
 * tests and benchmarks that prove resources are encoded once per content.
 */
export function resourceEncodingCount(): number {
  return encodings;
}
