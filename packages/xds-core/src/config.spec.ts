import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CacheConfig, parseConfig, ServerConfig, XdsError } from "@nebucloud/xds-core";

/** Runs `fn` and returns the XdsError it throws (failing when it throws anything else or nothing). */
function thrown(fn: () => unknown): XdsError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof XdsError, `threw ${String(error)}`);
    return error;
  }
  assert.fail("did not throw");
}

describe("parseConfig(CacheConfig)", () => {
  it("gives every default for an empty object", () => {
    assert.deepEqual(parseConfig(CacheConfig, {}), {
      ads: false,
      shards: 16,
      watchBuffer: 16,
      maxWatchesPerNode: 1000,
      heartbeatIntervalMs: 10_000,
    });
  });

  it("leaves snapshotTtlMs undefined by default", () => {
    assert.equal(parseConfig(CacheConfig, {}).snapshotTtlMs, undefined);
  });

  it("gives every default for undefined", () => {
    assert.deepEqual(parseConfig(CacheConfig, undefined), parseConfig(CacheConfig, {}));
  });

  it("keeps the values it is given", () => {
    const config = parseConfig(CacheConfig, { ads: true, shards: 4, snapshotTtlMs: 60_000 });
    assert.equal(config.ads, true);
    assert.equal(config.shards, 4);
    assert.equal(config.snapshotTtlMs, 60_000);
  });

  it("throws invalid_config naming shards when shards is zero", () => {
    const error = thrown(() => parseConfig(CacheConfig, { shards: 0 }));
    assert.equal(error.code, "invalid_config");
    assert.equal(error.details.field, "shards");
  });

  it("throws invalid_config naming watchBuffer when it is not an integer", () => {
    assert.equal(thrown(() => parseConfig(CacheConfig, { watchBuffer: 1.5 })).details.field, "watchBuffer");
  });

  it("throws invalid_config naming ads when it is not a boolean", () => {
    assert.equal(thrown(() => parseConfig(CacheConfig, { ads: "yes" })).details.field, "ads");
  });

  it("throws invalid_config naming an unknown key", () => {
    const error = thrown(() => parseConfig(CacheConfig, { shard: 4 }));
    assert.equal(error.code, "invalid_config");
    assert.equal(error.details.field, "shard");
    assert.match(error.message, /shard/);
  });

  it("throws invalid_config at the root when the input is not an object", () => {
    const error = thrown(() => parseConfig(CacheConfig, 42));
    assert.equal(error.code, "invalid_config");
    assert.equal(error.details.field, "(root)");
  });

  it("names what it was validating in the message", () => {
    assert.match(
      thrown(() => parseConfig(CacheConfig, { shards: 0 }, "cache options")).message,
      /invalid cache options/,
    );
  });

  it("gives a reason for the bad field", () => {
    assert.ok((thrown(() => parseConfig(CacheConfig, { shards: 0 })).details.reason ?? "").length > 0);
  });
});

describe("parseConfig(ServerConfig)", () => {
  it("gives every default for an empty object", () => {
    assert.deepEqual(parseConfig(ServerConfig, {}), {
      address: "127.0.0.1:18000",
      maxConcurrentStreams: 1000,
      maxReceiveMessageBytes: 4 * 1024 * 1024,
      maxSendMessageBytes: 64 * 1024 * 1024,
      maxNamesPerRequest: 10_000,
      newStreamsPerSecond: 0,
      maxStreamsPerPeer: 0,
      requestsPerSecondPerPeer: 0,
      writeTimeoutMs: 60_000,
      keepalive: { intervalMs: 30_000, timeoutMs: 10_000 },
      maxConcurrentWrites: 256,
      drainTimeoutMs: 5_000,
    });
  });

  it("accepts an IPv4 HOST:PORT address", () => {
    assert.equal(parseConfig(ServerConfig, { address: "0.0.0.0:18000" }).address, "0.0.0.0:18000");
  });

  it("accepts a bracketed IPv6 address", () => {
    assert.equal(parseConfig(ServerConfig, { address: "[::1]:18000" }).address, "[::1]:18000");
  });

  it("accepts a host name address", () => {
    assert.equal(parseConfig(ServerConfig, { address: "localhost:18000" }).address, "localhost:18000");
  });

  it("throws invalid_config naming address for an address without a port", () => {
    const error = thrown(() => parseConfig(ServerConfig, { address: "nope" }));
    assert.equal(error.code, "invalid_config");
    assert.equal(error.details.field, "address");
  });

  it("throws invalid_config naming address for a port above 65535", () => {
    assert.equal(thrown(() => parseConfig(ServerConfig, { address: "127.0.0.1:99999" })).details.field, "address");
  });

  it("accepts port 65535", () => {
    assert.equal(parseConfig(ServerConfig, { address: "127.0.0.1:65535" }).address, "127.0.0.1:65535");
  });

  it("fills keepalive defaults for a keepalive object given empty", () => {
    assert.deepEqual(parseConfig(ServerConfig, { keepalive: {} }).keepalive, { intervalMs: 30_000, timeoutMs: 10_000 });
  });

  it("throws invalid_config naming keepalive.intervalMs when it is negative", () => {
    const error = thrown(() => parseConfig(ServerConfig, { keepalive: { intervalMs: -1 } }));
    assert.equal(error.code, "invalid_config");
    assert.equal(error.details.field, "keepalive.intervalMs");
  });

  it("throws invalid_config naming an unknown key inside keepalive by its dotted path", () => {
    assert.equal(
      thrown(() => parseConfig(ServerConfig, { keepalive: { interval: 5 } })).details.field,
      "keepalive.interval",
    );
  });

  it("accepts zero for newStreamsPerSecond, turning the limit off", () => {
    assert.equal(parseConfig(ServerConfig, { newStreamsPerSecond: 0 }).newStreamsPerSecond, 0);
  });

  it("throws invalid_config naming maxReceiveMessageBytes below 1024", () => {
    assert.equal(
      thrown(() => parseConfig(ServerConfig, { maxReceiveMessageBytes: 10 })).details.field,
      "maxReceiveMessageBytes",
    );
  });
});
