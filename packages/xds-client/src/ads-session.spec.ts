import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { TypeUrl } from "@nebucloud/xds-core";
import { NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type {
  DeltaDiscoveryRequest,
  DiscoveryRequest,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import { DeltaSession } from "./delta-session.js";
import { RequestQueue } from "./request-queue.js";
import { SotwSession } from "./sotw-session.js";

const node = create(NodeSchema, { id: "n1" });
const interest = (names: string[], wildcard = false) => ({ wildcard, names: new Set(names) });

async function drain<T>(queue: RequestQueue<T>): Promise<T[]> {
  queue.end();
  const out: T[] = [];
  for await (const item of queue) out.push(item);
  return out;
}

describe("a SotW session", () => {
  it("sends the node once, then the full name list with the accepted version and the last nonce", async () => {
    const queue = new RequestQueue<DiscoveryRequest>();
    const session = new SotwSession(queue, node, () => "v0");
    assert.deepEqual(session.sync(TypeUrl.Endpoint, interest(["b", "a"])), ["b", "a"]);
    session.ack(TypeUrl.Endpoint, "v1", "7", interest(["a", "b"]));
    assert.deepEqual(session.sync(TypeUrl.Endpoint, interest(["a", "b", "c"])), ["c"]);
    const [first, ack, grow] = await drain(queue);
    assert.equal(first?.node?.id, "n1");
    assert.deepEqual(first?.resourceNames, ["a", "b"]);
    assert.equal(first?.versionInfo, "v0");
    assert.equal(ack?.node, undefined);
    assert.deepEqual([ack?.versionInfo, ack?.responseNonce], ["v1", "7"]);
    assert.deepEqual(grow?.resourceNames, ["a", "b", "c"]);
    assert.equal(grow?.responseNonce, "7");
  });

  it("sends * first for a wildcard and nothing when the interest is unchanged", async () => {
    const queue = new RequestQueue<DiscoveryRequest>();
    const session = new SotwSession(queue, node, () => "");
    session.sync(TypeUrl.Cluster, interest(["x"], true));
    session.sync(TypeUrl.Cluster, interest(["x"], true));
    const requests = await drain(queue);
    assert.equal(requests.length, 1);
    assert.deepEqual(requests[0]?.resourceNames, ["*", "x"]);
  });

  it("NACKs with the accepted version, the nonce and the error text", async () => {
    const queue = new RequestQueue<DiscoveryRequest>();
    const session = new SotwSession(queue, node, () => "good");
    session.nack(TypeUrl.Cluster, "3", "bad cluster", interest([], true));
    const [nack] = await drain(queue);
    assert.deepEqual(
      [nack?.versionInfo, nack?.responseNonce, nack?.errorDetail?.message],
      ["good", "3", "bad cluster"],
    );
    assert.equal(nack?.errorDetail?.code, 3);
  });

  it("sends nothing for a type nobody watches", async () => {
    const queue = new RequestQueue<DiscoveryRequest>();
    assert.deepEqual(new SotwSession(queue, node, () => "").sync(TypeUrl.Route, interest([])), []);
    assert.equal((await drain(queue)).length, 0);
  });
});

describe("a delta session", () => {
  it("subscribes with initial_resource_versions first, then only changes", async () => {
    const queue = new RequestQueue<DeltaDiscoveryRequest>();
    const session = new DeltaSession(queue, node, () => ({ a: "va" }));
    session.sync(TypeUrl.Endpoint, interest(["a", "b"]));
    assert.deepEqual(session.sync(TypeUrl.Endpoint, interest(["b", "c"])), ["c"]);
    session.sync(TypeUrl.Endpoint, interest(["b", "c"], true));
    session.sync(TypeUrl.Endpoint, interest([]));
    const [first, change, wildcard, none] = await drain(queue);
    assert.equal(first?.node?.id, "n1");
    assert.deepEqual(first?.resourceNamesSubscribe, ["a", "b"]);
    assert.deepEqual(first?.initialResourceVersions, { a: "va" });
    assert.deepEqual([change?.resourceNamesSubscribe, change?.resourceNamesUnsubscribe], [["c"], ["a"]]);
    assert.equal(change?.node, undefined);
    assert.deepEqual(wildcard?.resourceNamesSubscribe, ["*"]);
    assert.deepEqual(none?.resourceNamesUnsubscribe, ["*", "b", "c"]);
  });

  it("unsubscribes by name the resources it dropped with the wildcard", async () => {
    const queue = new RequestQueue<DeltaDiscoveryRequest>();
    const session = new DeltaSession(queue, node, () => ({}));
    session.sync(TypeUrl.Endpoint, interest(["a"], true));
    session.sync(TypeUrl.Endpoint, interest(["a"]), ["b", "c"]);
    const [, drop] = await drain(queue);
    assert.deepEqual(drop?.resourceNamesUnsubscribe, ["*", "b", "c"]);
  });

  it("splits long name lists over several requests", async () => {
    const queue = new RequestQueue<DeltaDiscoveryRequest>();
    const session = new DeltaSession(queue, node, () => ({}));
    session.sync(TypeUrl.Endpoint, interest(["first"]));
    const many = Array.from({ length: 2500 }, (_, i) => `n${i}`);
    session.sync(TypeUrl.Endpoint, interest(["first", ...many]));
    const [, ...parts] = await drain(queue);
    assert.deepEqual(
      parts.map((p) => p.resourceNamesSubscribe.length),
      [1000, 1000, 500],
    );
  });

  it("ACKs and NACKs by nonce", async () => {
    const queue = new RequestQueue<DeltaDiscoveryRequest>();
    const session = new DeltaSession(queue, node, () => ({}));
    session.ack(TypeUrl.Cluster, "v", "1", interest([]));
    session.nack(TypeUrl.Cluster, "2", "nope", interest([]));
    const [ack, nack] = await drain(queue);
    assert.deepEqual([ack?.responseNonce, ack?.errorDetail], ["1", undefined]);
    assert.deepEqual([nack?.responseNonce, nack?.errorDetail?.message], ["2", "nope"]);
  });
});
