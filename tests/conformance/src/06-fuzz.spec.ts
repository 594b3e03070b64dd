/**
 * F1-F4: fuzzing a live server with fast-check. Random and malformed
 * DiscoveryRequests, malformed gRPC framing, garbage bytes on the socket and
 * garbage HTTP/2 streams. Properties: the server never crashes, every stream
 * it rejects ends with a gRPC status (never INTERNAL or UNKNOWN, which would be
 * a bug), a canary stream is still served afterwards, and the heap returns
 * near its baseline. Runs are bounded; FUZZ_RUNS sets the runs per property.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { TypeUrl } from "@nebucloud/xds-core";
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { perTypeServices } from "@nebucloud/xds-server";
import fc from "fast-check";
import { canCollect, heapMiB, type Served, serve, sleep, snapshotOf } from "./support/fixtures.js";
import { type CallEnd, Connection, frame, GrpcCall } from "./support/grpc-call.js";
import { FrameType, h2Frame, preface, RawConnection } from "./support/raw-h2.js";
import { record } from "./support/results.js";
import { type Protocol, SotwClient, streamPath } from "./support/xds-clients.js";

const fuzzRuns = Number(process.env["FUZZ_RUNS"] ?? "") || undefined;
const runs = (ci: number) => fuzzRuns ?? ci;
/** A property stops early after this long, so CI stays bounded whatever FUZZ_RUNS says. */
const timeLimitMs = fuzzRuns ? 600_000 : 20_000;
const testTimeoutMs = timeLimitMs + 60_000;

/** Statuses a rejection may carry: anything else (UNKNOWN 2, INTERNAL 13...) is a server bug. */
const acceptable = new Set([0, 3, 7, 8, 12]);
const knownTypes = [...perTypeServices.map(([, t]) => t)];
/** The per-type services that have a stream of each protocol (LEDS is delta only). */
const servicesOf = (protocol: Protocol) =>
  knownTypes.filter((t) => {
    try {
      streamPath(protocol, t);
      return true;
    } catch {
      return false;
    }
  });

interface Script {
  readonly protocol: Protocol;
  /** undefined: ADS. */
  readonly service: string | undefined;
  readonly requests: readonly Uint8Array[];
  readonly ending: "half-close" | "cancel";
}

const arbName = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40, unit: "grapheme" }) },
  { weight: 2, arbitrary: fc.constantFrom("*", "a", "c1", "svc/*", "", "/*", "**") },
);
const arbNames = fc.oneof(
  { weight: 12, arbitrary: fc.array(arbName, { maxLength: 12 }) },
  // Thousands of names: over maxNamesPerRequest (2000) or not.
  {
    weight: 1,
    arbitrary: fc.integer({ min: 500, max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => `name-${i}`)),
  },
  // One huge name: over maxReceiveMessageBytes (64 KiB) or not.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ minLength: 1, maxLength: 2 }), fc.integer({ min: 20_000, max: 120_000 }))
      .map(([c, n]) => [c.repeat(n)]),
  },
);
/** Mostly the type the stream serves (per-type) or a served type (ADS); sometimes anything. */
const arbTypeUrl = (service: string | undefined) =>
  fc.oneof(
    { weight: 7, arbitrary: service ? fc.constantFrom(service, "") : fc.constantFrom(...knownTypes) },
    { weight: 1, arbitrary: fc.constantFrom(...knownTypes, "") },
    { weight: 1, arbitrary: fc.constantFrom(TypeUrl.Resource, "type.googleapis.com/google.protobuf.Empty") },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  );
const arbNode = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 6, arbitrary: fc.constant({ id: "fuzz" }) },
  { weight: 1, arbitrary: fc.constant({ id: "" }) },
  { weight: 2, arbitrary: fc.record({ id: fc.string({ maxLength: 80, unit: "grapheme" }) }) },
);
const arbStatus = fc.option(
  fc.record({ code: fc.integer({ min: -5, max: 40 }), message: fc.string({ maxLength: 60 }) }),
  { nil: undefined },
);
const arbNonce = fc.oneof(fc.constant(""), fc.constantFrom("1", "2", "999"), fc.string({ maxLength: 20 }));

const arbSotw = (service: string | undefined) =>
  fc
    .record({
      node: arbNode,
      typeUrl: arbTypeUrl(service),
      resourceNames: arbNames,
      versionInfo: fc.string({ maxLength: 20 }),
      responseNonce: arbNonce,
      errorDetail: arbStatus,
    })
    .map((r) => toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, r as never)));
const arbDelta = (service: string | undefined) =>
  fc
    .record({
      node: arbNode,
      typeUrl: arbTypeUrl(service),
      resourceNamesSubscribe: arbNames,
      resourceNamesUnsubscribe: fc.array(arbName, { maxLength: 5 }),
      initialResourceVersions: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), {
        maxKeys: 5,
      }),
      responseNonce: arbNonce,
      errorDetail: arbStatus,
    })
    .map((r) => toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, r as never)));

const arbScript: fc.Arbitrary<Script> = fc
  .record({
    protocol: fc.constantFrom<Protocol>("sotw", "delta"),
    count: fc.integer({ min: 1, max: 3 }),
    ending: fc.constantFrom<"half-close" | "cancel">("half-close", "half-close", "cancel"),
  })
  .chain((s) =>
    fc.option(fc.constantFrom(...servicesOf(s.protocol)), { nil: undefined }).chain((service) =>
      fc.record({
        protocol: fc.constant(s.protocol),
        service: fc.constant(service),
        requests: fc.array(s.protocol === "sotw" ? arbSotw(service) : arbDelta(service), {
          minLength: s.count,
          maxLength: s.count,
        }),
        ending: fc.constant(s.ending),
      }),
    ),
  );

/** Malformed gRPC framing of an otherwise plausible request. */
const arbMalformed = fc.oneof(
  // Invalid UTF-8 in a resource name: field 3 (resource_names / resource_names_subscribe) as raw bytes.
  fc.uint8Array({ minLength: 1, maxLength: 30 }).map((junk) => ({
    what: "invalid UTF-8 name",
    bytes: frame(
      Buffer.concat([
        toBinary(
          DiscoveryRequestSchema,
          create(DiscoveryRequestSchema, { node: { id: "fuzz" }, typeUrl: TypeUrl.Cluster }),
        ),
        Buffer.from([0x1a, junk.length + 2, 0xff, 0xfe]),
        junk,
      ]),
    ),
  })),
  fc.uint8Array({ maxLength: 200 }).map((junk) => ({ what: "random message bytes", bytes: frame(junk) })),
  fc
    .uint8Array({ maxLength: 50 })
    .map((junk) => ({ what: "compressed flag without grpc-encoding", bytes: frame(junk, 1) })),
  fc.integer({ min: 70_000, max: 0xffffffff }).map((declared) => ({
    what: "declared length over the limit",
    bytes: frame(new Uint8Array(10), 0, declared),
  })),
  fc.integer({ min: 1, max: 4 }).map((cut) => ({
    what: "message cut short",
    bytes: frame(
      toBinary(
        DiscoveryRequestSchema,
        create(DiscoveryRequestSchema, { node: { id: "fuzz" }, typeUrl: TypeUrl.Cluster }),
      ),
    ).subarray(0, -cut),
  })),
  fc
    .uint8Array({ minLength: 1, maxLength: 4 })
    .map((junk) => ({ what: "a partial length prefix", bytes: Buffer.from(junk) })),
);

describe("fuzzing a live server", () => {
  let served: Served;
  let connections: Connection[] = [];
  let canary: SotwClient;
  let canaryVersions = 0;
  let baseline = 0;
  let inputs = 0;
  const statuses = new Map<string, number>();
  const note = (end: CallEnd | undefined) => {
    const key = end ? (end.via === "trailers" || end.via === "trailers-only" ? `grpc ${end.code}` : end.via) : "open";
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  };
  /** A live connection, reopened when the server closed one. */
  const connection = async (i: number): Promise<Connection> => {
    const at = i % 3;
    const existing = connections[at];
    if (existing && !existing.closed && !existing.goaway) return existing;
    existing?.destroy();
    const fresh = await Connection.open(served.address);
    connections[at] = fresh;
    return fresh;
  };

  before(async () => {
    served = await serve({ config: { maxReceiveMessageBytes: 64 * 1024, maxNamesPerRequest: 2000 } });
    served.cache.setSnapshot("fuzz", snapshotOf({ clusters: { a: 0, c1: 0 }, endpoints: { c1: 0 } }));
    served.cache.setSnapshot("canary", snapshotOf({ clusters: { canary: 0 } }));
    canary = new SotwClient(await Connection.open(served.address), {
      ads: true,
      typeUrl: TypeUrl.Cluster,
      nodeId: "canary",
    });
    canary.subscribe(TypeUrl.Cluster, []);
    void canary.run(() => canaryVersions++);
    while (canaryVersions === 0) await sleep(10);
    baseline = await heapMiB();
  });
  after(async () => {
    for (const c of connections) c.destroy();
    canary.call.cancel();
    await served.stop();
  });

  it("F1 random and malformed DiscoveryRequests (huge names, thousands of names, bad nonces, wrong type URLs) end with a gRPC status, never INTERNAL", {
    timeout: testTimeoutMs,
  }, async () => {
    let tried = 0;
    const result = await fc.check(
      fc.asyncProperty(arbScript, async (script) => {
        tried++;
        const conn = await connection(tried);
        const call = new GrpcCall(
          conn,
          streamPath(script.protocol, script.service),
          script.protocol === "sotw" ? DiscoveryResponseSchema : DeltaDiscoveryResponseSchema,
        );
        for (const bytes of script.requests) call.write(frame(bytes));
        if (script.ending === "cancel") {
          await sleep(5);
          call.cancel();
          note(await call.waitEnd(2000));
          return;
        }
        call.endRequests();
        const end = await call.waitEnd(5000);
        note(end);
        // A stream whose requests were over the size limit may have its connection reset
        // by a proxy in real life; here the server answers every one with a status.
        assert.ok(end, "the stream did not end");
        assert.ok(end.via === "trailers" || end.via === "trailers-only", `no gRPC status: ${JSON.stringify(end)}`);
        assert.ok(acceptable.has(end.code), `status ${end.code}: ${end.message}`);
      }),
      { numRuns: runs(300), interruptAfterTimeLimit: timeLimitMs, markInterruptAsFailure: false },
    );
    inputs += tried;
    record({ kind: "fuzz", property: "F1", inputs: tried, passed: !result.failed });
    if (result.failed) assert.fail(fc.defaultReportMessage(result) ?? "F1 failed");
  });

  it("F2 malformed gRPC framing (invalid UTF-8 names, garbage bodies, compressed flag, oversized and truncated messages) ends with a gRPC status", {
    timeout: testTimeoutMs,
  }, async () => {
    let tried = 0;
    const result = await fc.check(
      fc.asyncProperty(arbMalformed, fc.constantFrom<Protocol>("sotw", "delta"), async (input, protocol) => {
        tried++;
        const conn = await connection(tried);
        const call = new GrpcCall(conn, streamPath(protocol, undefined), DiscoveryResponseSchema);
        call.write(input.bytes);
        call.endRequests();
        const end = await call.waitEnd(5000);
        note(end);
        assert.ok(end, `${input.what}: the stream did not end`);
        assert.ok(end.via === "trailers" || end.via === "trailers-only", `${input.what}: no gRPC status`);
        assert.ok(acceptable.has(end.code), `${input.what}: status ${end.code}: ${end.message}`);
      }),
      { numRuns: runs(150), interruptAfterTimeLimit: timeLimitMs, markInterruptAsFailure: false },
    );
    inputs += tried;
    record({ kind: "fuzz", property: "F2", inputs: tried, passed: !result.failed });
    if (result.failed) assert.fail(fc.defaultReportMessage(result) ?? "F2 failed");
  });

  it("F3 garbage bytes on a raw socket (without and after the HTTP/2 preface, random frames) never crash the server", {
    timeout: testTimeoutMs,
  }, async () => {
    let tried = 0;
    let closedByServer = 0;
    const arbFrame = fc
      .record({
        type: fc.integer({ min: 0, max: 12 }),
        flags: fc.integer({ min: 0, max: 255 }),
        stream: fc.integer({ min: 0, max: 9 }),
        payload: fc.uint8Array({ maxLength: 64 }),
      })
      .map((f) => h2Frame(f.type, f.flags, f.stream, f.payload));
    const arbGarbage = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 512 }).map((b) => ({ mode: "raw", chunks: [Buffer.from(b)] })),
      fc
        .uint8Array({ minLength: 1, maxLength: 512 })
        .map((b) => ({ mode: "preface", chunks: [preface, Buffer.from(b)] })),
      fc
        .array(arbFrame, { minLength: 1, maxLength: 8 })
        .map((frames) => ({ mode: "frames", chunks: [preface, h2Frame(FrameType.Settings, 0, 0), ...frames] })),
    );
    const result = await fc.check(
      fc.asyncProperty(arbGarbage, async (garbage) => {
        tried++;
        const raw = await RawConnection.open(served.address);
        for (const chunk of garbage.chunks) raw.write(chunk);
        // The server either closes the connection or keeps it; either way, it must go on.
        for (let i = 0; i < 10 && !raw.closed; i++) await sleep(5);
        if (raw.closed) closedByServer++;
        raw.destroy();
      }),
      { numRuns: runs(80), interruptAfterTimeLimit: timeLimitMs, markInterruptAsFailure: false },
    );
    console.log(`# F3: ${tried} garbage connections, ${closedByServer} closed by the server within 50 ms`);
    inputs += tried;
    record({ kind: "fuzz", property: "F3", inputs: tried, passed: !result.failed });
    if (result.failed) assert.fail(fc.defaultReportMessage(result) ?? "F3 failed");
  });

  it("F4 HTTP/2 streams with garbage headers and gRPC bodies end (a gRPC status on xDS paths with gRPC content type)", {
    timeout: testTimeoutMs,
  }, async () => {
    let tried = 0;
    const paths = [streamPath("sotw", undefined), streamPath("delta", TypeUrl.Endpoint), "/", "/nope.Service/Method"];
    const arbStream = fc.record({
      path: fc.oneof(
        fc.constantFrom(...paths),
        fc.string({ minLength: 1, maxLength: 30 }).map((s) => `/${s}`),
      ),
      method: fc.constantFrom("POST", "POST", "GET", "PUT"),
      contentType: fc.constantFrom("application/grpc", "application/grpc+proto", "application/json", "text/plain", ""),
      encoding: fc.option(fc.constantFrom("gzip", "identity", "br", "x-junk"), { nil: undefined }),
      body: fc.uint8Array({ maxLength: 300 }),
    });
    const result = await fc.check(
      fc.asyncProperty(arbStream, async (s) => {
        tried++;
        const conn = await connection(tried);
        const headers: http2.OutgoingHttpHeaders = { ":method": s.method, ":path": s.path, te: "trailers" };
        if (s.contentType) headers["content-type"] = s.contentType;
        if (s.encoding) headers["grpc-encoding"] = s.encoding;
        const stream = conn.session.request(headers, { endStream: s.method === "GET" });
        stream.on("error", () => {});
        let grpcStatus: string | undefined;
        let httpStatus = 0;
        stream.on("response", (h) => {
          httpStatus = Number(h[":status"]);
          grpcStatus ??= h["grpc-status"] as string | undefined;
        });
        stream.on("trailers", (h) => {
          grpcStatus ??= h["grpc-status"] as string | undefined;
        });
        stream.resume();
        if (s.method !== "GET") stream.end(Buffer.from(s.body));
        const ended = await Promise.race([
          new Promise<boolean>((resolve) => stream.once("close", () => resolve(true))),
          sleep(5000).then(() => false),
        ]);
        if (!ended) stream.close(http2.constants.NGHTTP2_CANCEL);
        assert.ok(ended, `the stream ${s.method} ${s.path} did not end`);
        const grpcCall =
          paths.slice(0, 2).includes(s.path) && s.method === "POST" && s.contentType.startsWith("application/grpc");
        if (grpcCall) {
          assert.ok(grpcStatus !== undefined, `no grpc-status for ${JSON.stringify(s)} (HTTP ${httpStatus})`);
          assert.ok(acceptable.has(Number(grpcStatus)), `status ${grpcStatus} for ${JSON.stringify(s)}`);
        }
      }),
      { numRuns: runs(150), interruptAfterTimeLimit: timeLimitMs, markInterruptAsFailure: false },
    );
    inputs += tried;
    record({ kind: "fuzz", property: "F4", inputs: tried, passed: !result.failed });
    if (result.failed) assert.fail(fc.defaultReportMessage(result) ?? "F4 failed");
  });

  it("F5 afterwards: the canary stream gets the next update, no stream or watch is left behind, the heap is near its baseline", {
    timeout: testTimeoutMs,
  }, async () => {
    let passed = false;
    try {
      for (const c of connections) c.destroy();
      connections = [];
      const before = canaryVersions;
      served.cache.setSnapshot("canary", snapshotOf({ clusters: { canary: 1 } }));
      for (let i = 0; i < 300 && canaryVersions === before; i++) await sleep(10);
      assert.equal(canaryVersions, before + 1, "the canary got the update");
      // The canary's next watch opens once the server has its ACK.
      const settled = () => served.server.streams().length === 1 && served.cache.numWatches() === 1;
      for (let i = 0; i < 300 && !settled(); i++) await sleep(10);
      assert.equal(served.server.streams().length, 1, "only the canary stream is open");
      assert.equal(served.cache.numWatches(), 1, "only the canary's watch is open");
      const heap = await heapMiB();
      const grown = heap - baseline;
      console.log(
        `# fuzz: ${inputs} inputs; heap ${baseline.toFixed(1)} MiB before, ${heap.toFixed(1)} MiB after (${grown >= 0 ? "+" : ""}${grown.toFixed(1)} MiB${canCollect ? "" : ", no --expose-gc: not collected"}); endings ${JSON.stringify(Object.fromEntries(statuses))}; node keys the cache keeps: ${served.cache.status().length}`,
      );
      assert.ok(grown < 32, `the heap grew by ${grown.toFixed(1)} MiB`);
      passed = true;
    } finally {
      record({ kind: "fuzz", property: "F5", inputs: 0, passed });
    }
  });
});
