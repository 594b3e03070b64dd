import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Snapshot } from "@nebucloud/xds-cache";
import { makeCluster, makeEndpoints } from "@nebucloud/xds-cache/testing";
import { Resource, TypeUrl, XdsError } from "@nebucloud/xds-core";
import {
  decodeManifest,
  decodeState,
  encodeManifest,
  encodeState,
  sameContent,
  stableJson,
} from "./store-documents.js";

const snapshot = (...names: string[]) =>
  Snapshot.fromResources({
    [TypeUrl.Cluster]: names.map((n) => makeCluster(n)),
    [TypeUrl.Endpoint]: names.map((n) => makeEndpoints(n, [{ host: "127.0.0.1", port: 8080 }])),
  });
const bytes = (text: string) => new TextEncoder().encode(text);
const deserialization = (error: unknown) => error instanceof XdsError && error.code === "deserialization";

describe("manifests", () => {
  it("are the same bytes and hash whatever order the resources were given in", () => {
    assert.equal(encodeManifest(snapshot("a", "b")).hash, encodeManifest(snapshot("b", "a")).hash);
  });

  it("change when a resource's content changes", () => {
    const changed = Snapshot.fromResources({
      [TypeUrl.Cluster]: [makeCluster("a"), makeCluster("b")],
      [TypeUrl.Endpoint]: [
        makeEndpoints("a", [{ host: "127.0.0.1", port: 8080 }]),
        makeEndpoints("b", [{ host: "127.0.0.1", port: 9090 }]),
      ],
    });
    assert.notEqual(encodeManifest(changed).hash, encodeManifest(snapshot("a", "b")).hash);
  });

  it("name each resource by its version, and carry its TTL", () => {
    const withTtl = Resource.from(TypeUrl.Cluster, makeCluster("t"), { ttlMs: 5000 });
    const encoded = encodeManifest(Snapshot.fromResources({ [TypeUrl.Cluster]: [withTtl] }));
    assert.deepEqual(encoded.manifest[TypeUrl.Cluster], [["t", withTtl.version, 5000]]);
    assert.equal(encoded.resources.get(withTtl.version), withTtl);
  });

  it("round-trip through their bytes", () => {
    const encoded = encodeManifest(snapshot("a"));
    assert.deepEqual(decodeManifest(encoded.bytes, "k"), encoded.manifest);
  });

  for (const [what, text] of [
    ["not JSON", "{"],
    ["not an object", "[]"],
    ["entries that are not a list", '{"t":{}}'],
    ["an entry without a hash", '{"t":[["a","nothex",null]]}'],
    ["a negative TTL", `{"t":[["a","${"0".repeat(64)}",-1]]}`],
  ] as const) {
    it(`refuse ${what} with a deserialization error naming the key`, () => {
      assert.throws(
        () => decodeManifest(bytes(text), "xds/objects/m/x"),
        (e: unknown) => deserialization(e) && (e as XdsError).rawMessage.startsWith("xds/objects/m/x"),
      );
    });
  }
});

describe("state documents", () => {
  const doc = {
    format: 1 as const,
    writer: "w1",
    publishedAt: "2026-01-01T00:00:00.000Z",
    snapshots: { n1: "a".repeat(64) },
    meta: { groups: [{ name: "g", match: { id: "x" } }] },
  };

  it("round-trip through their bytes", () => {
    assert.deepEqual(decodeState(encodeState(doc), "k"), doc);
  });

  it("are the same content whoever published them and when", () => {
    assert.ok(sameContent(doc, { ...doc, writer: "w2", publishedAt: "2027-01-01T00:00:00.000Z" }));
    assert.ok(!sameContent(doc, { ...doc, meta: null }));
  });

  it("refuse another format, so an old replica never misreads a newer writer", () => {
    assert.throws(() => decodeState(bytes('{"format":2,"snapshots":{}}'), "k"), deserialization);
  });

  it("refuse snapshots that are not manifest hashes", () => {
    assert.throws(() => decodeState(bytes('{"format":1,"snapshots":{"n":"x"}}'), "k"), deserialization);
  });
});

describe("stableJson", () => {
  it("sorts object keys at every depth", () => {
    assert.equal(stableJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 2 } }), '{"a":{"c":2,"d":[{"y":2,"z":1}]},"b":1}');
  });
});
