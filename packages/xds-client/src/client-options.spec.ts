import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { XdsError } from "@nebucloud/xds-core";
import { resolveClientOptions, serverUrl } from "./client-options.js";

const invalid = (field: string) => (e: unknown) =>
  e instanceof XdsError && e.code === "invalid_config" && e.details.field === field;

describe("client options", () => {
  it("fill in the defaults of gRFC A57 and gRPC's backoff", () => {
    const options = resolveClientOptions({ server: "127.0.0.1:18000", node: { id: "n" } });
    assert.equal(options.protocol, "sotw");
    assert.equal(options.doesNotExistTimeoutMs, 15_000);
    assert.deepEqual(options.backoff, { initialMs: 1000, maxMs: 30_000, multiplier: 1.6, jitter: 0.2 });
    assert.equal(options.baseUrl, "http://127.0.0.1:18000");
  });

  it("use https for HOST:PORT once TLS is set, and take URLs as they are", () => {
    assert.equal(serverUrl("xds.example:443", true).baseUrl, "https://xds.example:443");
    assert.equal(serverUrl("http://[::1]:9000", true).address, "[::1]:9000");
  });

  it("refuse a missing node id, a server without port and bad numbers, naming the field", () => {
    assert.throws(() => resolveClientOptions({ server: "h:1", node: { id: "" } }), invalid("node.id"));
    assert.throws(() => resolveClientOptions({ server: "h", node: { id: "n" } }), invalid("server"));
    assert.throws(
      () => resolveClientOptions({ server: "h:1", node: { id: "n" }, doesNotExistTimeoutMs: 0 }),
      invalid("doesNotExistTimeoutMs"),
    );
    assert.throws(
      () => resolveClientOptions({ server: "h:1", node: { id: "n" }, backoff: { jitter: 2 } }),
      invalid("backoff.jitter"),
    );
  });
});
