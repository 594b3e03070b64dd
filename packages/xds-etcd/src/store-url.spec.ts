import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { XdsError } from "@nebucloud/xds-core";
import { defaultPrefix, parseStoreUrl } from "./store-url.js";

describe("parseStoreUrl", () => {
  it("reads one endpoint and the prefix", () => {
    assert.deepEqual(parseStoreUrl("etcd://127.0.0.1:2379/xds"), {
      endpoints: ["http://127.0.0.1:2379"],
      prefix: "xds",
    });
  });

  it("reads several endpoints and a prefix with slashes, without the slashes around it", () => {
    assert.deepEqual(parseStoreUrl("etcd://a:1,b:2/teams/edge/"), {
      endpoints: ["http://a:1", "http://b:2"],
      prefix: "teams/edge",
    });
  });

  it("gives a URL without a path the default prefix", () => {
    assert.equal(parseStoreUrl("etcd://localhost:2379").prefix, defaultPrefix);
  });

  for (const [url, reason] of [
    ["http://127.0.0.1:2379/xds", "expected etcd://host:port/prefix"],
    ["etcd:///xds", "no etcd host given"],
    ["etcd://127.0.0.1/xds", "is not host:port"],
    ["etcd://127.0.0.1:99999/xds", "is not host:port"],
    ["etcd://127.0.0.1:2379/a//b", "empty segment"],
  ] as const) {
    it(`refuses ${url} with invalid_config naming the store flag (${reason})`, () => {
      assert.throws(
        () => parseStoreUrl(url),
        (error: unknown) =>
          error instanceof XdsError &&
          error.code === "invalid_config" &&
          error.details.field === "store" &&
          error.message.includes(reason),
      );
    });
  }
});
