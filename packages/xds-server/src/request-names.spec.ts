import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { DiscoveryRequestSchema } from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { RequestNames } from "./request-names.js";

const endpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
const manyNames = Array.from({ length: 200 }, (_, i) => `cluster-${i}`);

function encoded(init: MessageInitShape<typeof DiscoveryRequestSchema>): Uint8Array {
  return toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { typeUrl: endpointType, ...init }));
}

describe("RequestNames", () => {
  it("decodes a request exactly as fromBinary does", () => {
    const decoder = new RequestNames();
    const bytes = encoded({
      versionInfo: "v1",
      responseNonce: "7",
      resourceNames: manyNames,
      node: { id: "node-1", cluster: "fleet" },
      errorDetail: { code: 3, message: "rejected" },
    });
    const first = decoder.decode(bytes);
    const again = decoder.decode(bytes);
    const expected = fromBinary(DiscoveryRequestSchema, bytes);
    assert.deepEqual({ ...first, resourceNames: [...first.resourceNames] }, expected);
    assert.deepEqual({ ...again, resourceNames: [...again.resourceNames] }, expected);
  });

  it("gives requests that carry the same names one frozen list", () => {
    const decoder = new RequestNames();
    const initial = decoder.decode(encoded({ resourceNames: manyNames }));
    const ack = decoder.decode(encoded({ resourceNames: manyNames, versionInfo: "v1", responseNonce: "1" }));
    assert.equal(ack.resourceNames, initial.resourceNames);
    assert.ok(Object.isFrozen(ack.resourceNames));
    assert.equal(ack.versionInfo, "v1");
    assert.equal(ack.responseNonce, "1");
  });

  it("keeps different name lists apart", () => {
    const decoder = new RequestNames();
    const a = decoder.decode(encoded({ resourceNames: manyNames }));
    const b = decoder.decode(encoded({ resourceNames: [...manyNames.slice(1), "cluster-x"] }));
    assert.notEqual(a.resourceNames, b.resourceNames);
    assert.equal(b.resourceNames.at(-1), "cluster-x");
  });

  it("decodes names that do not lie side by side in the encoding", () => {
    // Legal protobuf: a repeated field's entries may be interleaved with other fields.
    const writer = new BinaryWriter();
    for (const name of manyNames.slice(0, 100)) writer.tag(3, 2).string(name);
    writer.tag(4, 2).string(endpointType);
    for (const name of manyNames.slice(100)) writer.tag(3, 2).string(name);
    const bytes = writer.finish();
    const decoder = new RequestNames();
    assert.deepEqual(decoder.decode(bytes).resourceNames, manyNames);
    assert.deepEqual(decoder.decode(bytes).resourceNames, manyNames);
  });

  it("fails on malformed bytes as fromBinary does", () => {
    const bytes = encoded({ resourceNames: manyNames }).subarray(0, 100);
    assert.throws(() => fromBinary(DiscoveryRequestSchema, bytes));
    assert.throws(() => new RequestNames().decode(bytes));
  });

  it("keeps a list in use when others push past the byte budget", () => {
    const decoder = new RequestNames(8192);
    const lists = Array.from({ length: 5 }, (_, k) => manyNames.map((n) => `${n}-${k}`));
    const [hot = [], ...others] = lists;
    const first = decoder.decode(encoded({ resourceNames: hot })).resourceNames;
    for (const list of others) {
      decoder.decode(encoded({ resourceNames: list }));
      assert.equal(decoder.decode(encoded({ resourceNames: hot })).resourceNames, first);
    }
  });

  it("forgets the least recently used lists once it holds more than its byte budget", () => {
    const decoder = new RequestNames(4096);
    const lists = Array.from({ length: 5 }, (_, k) => manyNames.map((n) => `${n}-${k}`));
    const [oldest = [], ...newer] = lists;
    const first = decoder.decode(encoded({ resourceNames: oldest })).resourceNames;
    for (const list of newer) decoder.decode(encoded({ resourceNames: list }));
    const later = decoder.decode(encoded({ resourceNames: oldest })).resourceNames;
    assert.notEqual(later, first);
    assert.deepEqual(later, first);
  });
});
