import { z } from "zod";
import { XdsError } from "./xds-error.js";

/** Cache settings; every field has the default shown. */
export const CacheConfig = z
  .object({
    /** go-control-plane's `ads` flag: hold a named response until every resource of the type is named. */
    ads: z.boolean().default(false),
    /** ShardedCache: how many shards node keys hash into. */
    shards: z.number().int().min(1).max(1024).default(16),
    /** Responses a watch may have pending before older ones are dropped (the newest is kept). */
    watchBuffer: z.number().int().min(1).default(16),
    /** Clear a node's snapshot once it has had no stream for this long. Default: never. */
    snapshotTtlMs: z.number().int().positive().optional(),
    /** Open watches one node (node.id) may hold, counted per node even where nodes share a key. */
    maxWatchesPerNode: z.number().int().min(1).default(1000),
    /** How often resources with a TTL are heartbeated. */
    heartbeatIntervalMs: z.number().int().positive().default(10_000),
  })
  .strict();
/** {@link CacheConfig} after defaults are applied. */
export type CacheConfig = z.output<typeof CacheConfig>;
/** What {@link CacheConfig} accepts: every field optional. */
export type CacheConfigInput = z.input<typeof CacheConfig>;

const address = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, "expected HOST:PORT, e.g. 127.0.0.1:18000 or [::1]:18000")
  .refine((value) => Number(/:(\d+)$/.exec(value)?.[1] ?? 0) <= 65_535, "expected a port from 0 to 65535");

/** Server settings; every field has the default shown. */
export const ServerConfig = z
  .object({
    /** Where the xDS server listens, as HOST:PORT (`[::1]:18000` for IPv6); port 0 picks a free one. */
    address: address.default("127.0.0.1:18000"),
    /** Streams one HTTP/2 connection may open at once. */
    maxConcurrentStreams: z.number().int().min(1).default(1000),
    /** Largest request message accepted, in bytes (gRPC's default is 4 MiB). */
    maxReceiveMessageBytes: z
      .number()
      .int()
      .min(1024)
      .default(4 * 1024 * 1024),
    /** Largest response message sent, in bytes. */
    maxSendMessageBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024 * 1024),
    /** Resource names one request may carry. */
    maxNamesPerRequest: z.number().int().min(1).default(10_000),
    /** New streams per second across the server (token bucket); 0 turns the limit off. */
    newStreamsPerSecond: z.number().min(0).default(0),
    /**
     * xDS streams one peer may hold open at once; past it a new stream is
     * refused with RESOURCE_EXHAUSTED. A peer is its verified certificate's
     * first identity, else its IP address. 0 turns the limit off (the default:
     * a fleet behind one NAT or proxy shares an address).
     */
    maxStreamsPerPeer: z.number().int().min(0).default(0),
    /**
     * Requests per second one peer may send across its xDS streams (token
     * bucket, burst of twice the rate); a stream whose request finds the
     * bucket empty ends with RESOURCE_EXHAUSTED. 0 turns the limit off.
     */
    requestsPerSecondPerPeer: z.number().min(0).default(0),
    /**
     * A stream whose client accepts no bytes of a pending response for this
     * long is reset (gRPC clients see UNAVAILABLE and reconnect) and its write
     * slot freed, so a client that answers PINGs but never reads is not held
     * forever. 0 turns it off.
     */
    writeTimeoutMs: z.number().int().min(0).default(60_000),
    /** HTTP/2 keepalive: PINGs that find and close dead connections. */
    keepalive: z
      .object({
        /** HTTP/2 PING interval on idle connections. */
        intervalMs: z.number().int().positive().default(30_000),
        /** Close a connection whose PING is not answered within this. */
        timeoutMs: z.number().int().positive().default(10_000),
      })
      .strict()
      .default({ intervalMs: 30_000, timeoutMs: 10_000 }),
    /**
     * Large (over 64 KiB) xDS responses being written at once across all
     * streams. A bound lets the first clients of a large push finish early
     * instead of all at the end; smaller responses never wait for it.
     */
    maxConcurrentWrites: z.number().int().min(1).default(256),
    /**
     * How long the whole shutdown takes at most: open streams drain until up to
     * 1 s (a quarter of it, if less) before it, are then ended with UNAVAILABLE,
     * and every connection is closed when it expires.
     */
    drainTimeoutMs: z.number().int().min(0).default(5_000),
  })
  .strict();
/** {@link ServerConfig} after defaults are applied. */
export type ServerConfig = z.output<typeof ServerConfig>;
/** What {@link ServerConfig} accepts: every field optional. */
export type ServerConfigInput = z.input<typeof ServerConfig>;

/**
 * Validates `input` against a schema and applies its defaults. An invalid value
 * throws an {@link XdsError} `invalid_config` whose `details.field` is the
 * dotted path of the first bad field and `details.reason` why it is bad.
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, what = "config"): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  // An unknown key is reported at its object's path; name the key itself.
  const pathOf = (i: z.core.$ZodIssue) =>
    (i.code === "unrecognized_keys" && i.keys[0] !== undefined ? [...i.path, i.keys[0]] : i.path)
      .map(String)
      .join(".") || "(root)";
  const issue = result.error.issues[0];
  const field = issue ? pathOf(issue) : "(root)";
  const reason = issue?.message ?? "invalid";
  const all = result.error.issues.map((i) => `${pathOf(i)}: ${i.message}`);
  throw new XdsError("invalid_config", `invalid ${what}: ${all.join("; ")}`, { field, reason });
}
