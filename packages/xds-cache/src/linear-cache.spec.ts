import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Resource, TypeUrl, versionOf, XdsError } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import type {
  DeltaResponse,
  DeltaSubscriptionState,
  SotwRequest,
  SotwResponse,
  SubscriptionState,
  Watch,
} from "./cache.js";
import { LinearCache } from "./linear-cache.js";

const EDS = TypeUrl.Endpoint;
const CDS = TypeUrl.Cluster;

/** An endpoint assignment whose content varies with `zone`. */
const cla = (name: string, zone = "a") =>
  create(ClusterLoadAssignmentSchema, { clusterName: name, endpoints: [{ locality: { zone } }] });
const cluster = (name: string, seconds = 1) =>
  create(ClusterSchema, { name, connectTimeout: { seconds: BigInt(seconds) } });

const request = (typeUrl: string, names: readonly string[] = [], versionInfo = ""): SotwRequest => ({
  typeUrl,
  node: undefined,
  resourceNames: names,
  versionInfo,
});
const state = (
  names: readonly string[] = [],
  returned: ReadonlyMap<string, string> = new Map(),
): SubscriptionState => ({
  wildcard: names.length === 0,
  subscribed: new Set(names),
  returned,
});
const deltaState = (names: readonly string[] = [], versions: ReadonlyMap<string, string> = new Map()) =>
  ({ wildcard: names.length === 0, subscribed: new Set(names), versions }) satisfies DeltaSubscriptionState;

/** Collects a watch's responses (a watch answers at most once). */
function recorder<R>() {
  const responses: R[] = [];
  return { responses, respond: (response: R) => void responses.push(response) };
}

const names = (response: { resources: readonly Resource[] } | undefined) =>
  response ? response.resources.map((r) => r.name).sort() : [];

/** Opens a SotW watch and returns what it got at once, if anything. */
function watch(cache: LinearCache, req: SotwRequest, st: SubscriptionState) {
  const rec = recorder<SotwResponse>();
  const handle = cache.createWatch(req, st, rec.respond);
  return { ...rec, handle };
}

/** Opens the watch a server opens after the client ACKs `response`. */
function ack(cache: LinearCache, response: SotwResponse, st: SubscriptionState) {
  return watch(cache, { ...response.request, versionInfo: response.version }, { ...st, returned: response.returned });
}

describe("LinearCache", () => {
  test("answers a wildcard watch with every resource", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a"), cla("b"), cla("c")] });
    const w = watch(cache, request(EDS), state());
    assert.equal(w.responses.length, 1);
    assert.deepEqual(names(w.responses[0]), ["a", "b", "c"]);
    assert.equal(cache.numWatches(), 0);
  });

  test("answers a named watch with only the named resources", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a"), cla("b"), cla("c")] });
    const w = watch(cache, request(EDS, ["a", "c", "missing"]), state(["a", "c", "missing"]));
    assert.deepEqual(names(w.responses[0]), ["a", "c"]);
  });

  test("answers a full-state type with every subscribed resource though the client holds some", () => {
    const cache = new LinearCache(CDS, { initialResources: [cluster("a"), cluster("b")] });
    const first = watch(cache, request(CDS), state());
    const next = ack(cache, first.responses[0]!, state());
    cache.updateResource("b", cluster("b", 2));
    assert.deepEqual(names(next.responses[0]), ["a", "b"]);
  });

  test("sends a full-state type without a deleted resource", () => {
    const cache = new LinearCache(CDS, { initialResources: [cluster("a"), cluster("b")] });
    const first = watch(cache, request(CDS), state());
    const next = ack(cache, first.responses[0]!, state());
    cache.deleteResource("b");
    assert.deepEqual(names(next.responses[0]), ["a"]);
    assert.deepEqual([...next.responses[0]!.returned.keys()], ["a"]);
  });

  test("keeps a watch open when the client is current and answers it on the next update", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a")] });
    const first = watch(cache, request(EDS, ["a"]), state(["a"]));
    const next = ack(cache, first.responses[0]!, state(["a"]));
    assert.equal(next.responses.length, 0);
    assert.equal(cache.numWatches(), 1);
    cache.updateResource("a", cla("a", "b"));
    assert.equal(next.responses.length, 1);
    assert.equal(next.responses[0]!.resources[0]!.message.$typeName, "envoy.config.endpoint.v3.ClusterLoadAssignment");
    assert.equal(cache.numWatches(), 0);
  });

  test("keeps a named watch open until its resource exists", () => {
    const cache = new LinearCache(EDS);
    const w = watch(cache, request(EDS, ["a"]), state(["a"]));
    assert.equal(w.responses.length, 0);
    cache.updateResource("a", cla("a"));
    assert.deepEqual(names(w.responses[0]), ["a"]);
  });

  test("notifies only watches whose names an update touches", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a"), cla("b")] });
    const open = (subscribed: string[]) => {
      const first = watch(cache, request(EDS, subscribed), state(subscribed));
      return ack(cache, first.responses[0]!, state(subscribed));
    };
    const onA = open(["a"]);
    const onB = open(["b"]);
    const onAll = open([]);
    assert.equal(cache.numWatches(), 3);
    cache.updateResource("a", cla("a", "z"));
    assert.equal(onA.responses.length, 1);
    assert.equal(onB.responses.length, 0);
    assert.equal(onAll.responses.length, 1);
    assert.deepEqual(names(onAll.responses[0]), ["a"]);
    assert.equal(cache.numWatches(), 1);
  });

  test("does not even evaluate a watch whose names an update does not touch", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a"), cla("b")] });
    const first = watch(cache, request(EDS, ["b"]), state(["b"]));
    let reads = 0;
    const base = { ...state(["b"]), returned: first.responses[0]!.returned };
    const counted: SubscriptionState = {
      wildcard: false,
      get subscribed() {
        reads++;
        return base.subscribed;
      },
      returned: base.returned,
    };
    const onB = watch(cache, { ...request(EDS, ["b"]), versionInfo: first.responses[0]!.version }, counted);
    assert.equal(onB.responses.length, 0);
    reads = 0;
    cache.updateResource("a", cla("a", "z"));
    cache.updateResource("c", cla("c"));
    assert.equal(reads, 0);
    cache.updateResource("b", cla("b", "z"));
    assert.ok(reads > 0);
    assert.equal(onB.responses.length, 1);
  });

  test("does not re-answer a watch whose resources an unrelated update leaves alone", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a"), cla("b")] });
    const first = watch(cache, request(EDS, ["a"]), state(["a"]));
    const next = ack(cache, first.responses[0]!, state(["a"]));
    cache.updateResources([cla("b", "z"), cla("c")], []);
    cache.deleteResource("b");
    assert.equal(next.responses.length, 0);
    assert.equal(cache.numWatches(), 1);
  });

  test("bumps the version once per batch", () => {
    const cache = new LinearCache(EDS, { versionPrefix: "eds-" });
    assert.equal(cache.version(), "eds-0");
    cache.updateResources([cla("a"), cla("b"), cla("c")], []);
    assert.equal(cache.version(), "eds-1");
    cache.updateResources([cla("a", "z")], ["b", "c"]);
    assert.equal(cache.version(), "eds-2");
    cache.setResources([cla("x")]);
    assert.equal(cache.version(), "eds-3");
    assert.deepEqual([...cache.getResources().keys()], ["x"]);
  });

  test("does not bump the version for a batch that changes nothing", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a")] });
    const first = watch(cache, request(EDS), state());
    const next = ack(cache, first.responses[0]!, state());
    cache.updateResource("a", cla("a"));
    cache.deleteResource("missing");
    cache.updateResources([], []);
    cache.setResources([cla("a")]);
    assert.equal(cache.version(), "0");
    assert.equal(next.responses.length, 0);
  });

  test("answers each watch once per batch however many names it touches", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a"), cla("b")] });
    const first = watch(cache, request(EDS, ["a", "b"]), state(["a", "b"]));
    const next = ack(cache, first.responses[0]!, state(["a", "b"]));
    cache.updateResources([cla("a", "y"), cla("b", "y")], []);
    assert.equal(next.responses.length, 1);
    assert.deepEqual(names(next.responses[0]), ["a", "b"]);
  });

  test("applies nothing from a batch with an invalid entry", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a")] });
    assert.throws(
      () => cache.updateResources([cla("b"), cla("b", "z")], []),
      (e: unknown) => e instanceof XdsError && e.code === "invalid_config",
    );
    assert.throws(
      () => cache.updateResources([cla("b")], ["b"]),
      (e: unknown) => e instanceof XdsError && e.code === "invalid_config",
    );
    assert.throws(
      () => cache.updateResources([cla("b"), cluster("c")], []),
      (e: unknown) => e instanceof XdsError && e.code === "invalid_config",
    );
    assert.deepEqual([...cache.getResources().keys()], ["a"]);
    assert.equal(cache.version(), "0");
  });

  test("rejects a resource whose name is not the name it is updated under", () => {
    const cache = new LinearCache(EDS);
    assert.throws(
      () => cache.updateResource("b", Resource.from(EDS, cla("a"))),
      (e: unknown) => e instanceof XdsError && e.code === "invalid_config",
    );
    cache.updateResource("alias", cla("a"));
    assert.deepEqual([...cache.getResources().keys()], ["alias"]);
  });

  test("sends removed names to a delta watch when a resource is deleted", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a"), cla("b")] });
    const first = recorder<DeltaResponse>();
    cache.createDeltaWatch({ typeUrl: EDS, node: undefined }, deltaState(), first.respond);
    assert.deepEqual(names(first.responses[0]), ["a", "b"]);
    assert.equal(first.responses[0]!.systemVersion, "0");
    const next = recorder<DeltaResponse>();
    cache.createDeltaWatch(
      { typeUrl: EDS, node: undefined },
      deltaState([], first.responses[0]!.nextVersions),
      next.respond,
    );
    assert.equal(next.responses.length, 0);
    cache.deleteResource("a");
    assert.equal(next.responses.length, 1);
    assert.deepEqual(next.responses[0]!.removed, ["a"]);
    assert.deepEqual(next.responses[0]!.resources, []);
    assert.equal(next.responses[0]!.systemVersion, "1");
    assert.deepEqual([...next.responses[0]!.nextVersions.keys()], ["b"]);
  });

  test("sends a removal to a named delta watch that holds the deleted name", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a"), cla("b")] });
    const a = Resource.from(EDS, cla("a"));
    const rec = recorder<DeltaResponse>();
    cache.createDeltaWatch(
      { typeUrl: EDS, node: undefined },
      deltaState(["a"], new Map([["a", a.version]])),
      rec.respond,
    );
    cache.deleteResource("b");
    assert.equal(rec.responses.length, 0);
    cache.deleteResource("a");
    assert.deepEqual(rec.responses[0]?.removed, ["a"]);
  });

  test("honours initial_resource_versions in delta (state.versions) by not resending unchanged resources", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a"), cla("b")] });
    const held = new Map([["a", Resource.from(EDS, cla("a")).version]]);
    const rec = recorder<DeltaResponse>();
    cache.createDeltaWatch({ typeUrl: EDS, node: undefined }, deltaState(["a", "b"], held), rec.respond);
    assert.deepEqual(names(rec.responses[0]), ["b"]);

    const current = recorder<DeltaResponse>();
    const all = new Map([...held, ["b", Resource.from(EDS, cla("b")).version]]);
    cache.createDeltaWatch({ typeUrl: EDS, node: undefined }, deltaState(["a", "b"], all), current.respond);
    assert.equal(current.responses.length, 0);
    assert.equal(cache.numDeltaWatches(), 1);
  });

  test("matches prefix globs name/*", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("svc/a"), cla("svc/b"), cla("other")] });
    const first = watch(cache, request(EDS, ["svc/*"]), state(["svc/*"]));
    assert.deepEqual(names(first.responses[0]), ["svc/a", "svc/b"]);
    const next = ack(cache, first.responses[0]!, state(["svc/*"]));
    cache.updateResource("other", cla("other", "z"));
    cache.updateResource("svcx", cla("svcx"));
    assert.equal(next.responses.length, 0);
    cache.updateResource("svc/c", cla("svc/c"));
    assert.deepEqual(names(next.responses[0]), ["svc/c"]);
  });

  test("matches prefix globs in delta watches", () => {
    const cache = new LinearCache(EDS);
    const rec = recorder<DeltaResponse>();
    cache.createDeltaWatch({ typeUrl: EDS, node: undefined }, deltaState(["svc/*"]), rec.respond);
    cache.updateResource("other", cla("other"));
    assert.equal(rec.responses.length, 0);
    cache.updateResource("svc/a", cla("svc/a"));
    assert.deepEqual(names(rec.responses[0]), ["svc/a"]);
  });

  test("does not answer a NACKed version again but answers the next update", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a")] });
    const first = watch(cache, request(EDS, ["a"]), state(["a"]));
    const accepted = first.responses[0]!;
    const next = ack(cache, accepted, state(["a"]));
    cache.updateResource("a", cla("a", "bad"));
    const rejected = next.responses[0]!;
    // The client NACKs: it keeps the accepted version; the server remembers the rejected one.
    const nacked = watch(
      cache,
      { ...rejected.request, versionInfo: accepted.version },
      { ...state(["a"], accepted.returned), nackedVersion: rejected.version },
    );
    assert.equal(nacked.responses.length, 0);
    cache.updateResource("a", cla("a", "good"));
    assert.equal(nacked.responses.length, 1);
    assert.notEqual(nacked.responses[0]!.version, rejected.version);
  });

  test("versions SotW responses by content so that equal content has equal versions", () => {
    const one = new LinearCache(EDS, { initialResources: [cla("a")] });
    const two = new LinearCache(EDS, { versionPrefix: "p", initialResources: [cla("x")] });
    two.setResources([cla("a")]);
    const a = watch(one, request(EDS), state()).responses[0]!;
    const b = watch(two, request(EDS), state()).responses[0]!;
    assert.equal(a.version, b.version);
    assert.equal(a.version, versionOf([Resource.from(EDS, cla("a"))]));
  });

  test("leaves no watch behind after cancel", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a")] });
    const first = watch(cache, request(EDS, ["a"]), state(["a"]));
    const handles: Watch[] = [];
    const responses: SotwResponse[] = [];
    const respond = (r: SotwResponse) => void responses.push(r);
    for (const subscribed of [["a"], ["a", "b"], ["svc/*"], []]) {
      const st = { ...state(subscribed), returned: first.responses[0]!.returned };
      const req = { ...request(EDS, subscribed), versionInfo: first.responses[0]!.version };
      handles.push(cache.createWatch(req, st, respond));
    }
    const delta = recorder<DeltaResponse>();
    handles.push(cache.createDeltaWatch({ typeUrl: EDS, node: undefined }, deltaState(["b", "svc/*"]), delta.respond));
    handles.push(cache.createDeltaWatch({ typeUrl: EDS, node: undefined }, deltaState(["b"]), delta.respond));
    assert.equal(cache.numWatches(), 4);
    assert.equal(cache.numDeltaWatches(), 2);
    assert.ok(cache.indexSize() > 0);
    for (const handle of handles) {
      handle.cancel();
      handle.cancel();
    }
    assert.equal(cache.numWatches(), 0);
    assert.equal(cache.numDeltaWatches(), 0);
    assert.equal(cache.indexSize(), 0);
    cache.updateResources([cla("a", "z"), cla("b"), cla("svc/x")], []);
    assert.equal(responses.length, 0);
    assert.equal(delta.responses.length, 0);
  });

  test("leaves no index entry behind once watches are answered", () => {
    const cache = new LinearCache(EDS);
    const a = watch(cache, request(EDS, ["a", "b"]), state(["a", "b"]));
    const d = recorder<DeltaResponse>();
    cache.createDeltaWatch({ typeUrl: EDS, node: undefined }, deltaState(["a", "svc/*"]), d.respond);
    cache.updateResource("a", cla("a"));
    assert.equal(a.responses.length, 1);
    assert.equal(d.responses.length, 1);
    assert.equal(cache.indexSize(), 0);
    a.handle.cancel();
  });

  test("keeps notifying other watches when a respond callback throws", () => {
    const errors: unknown[] = [];
    const cache = new LinearCache(EDS, { onError: (e) => errors.push(e) });
    const got: string[] = [];
    cache.createWatch(request(EDS, ["a"]), state(["a"]), () => {
      throw new Error("boom");
    });
    cache.createWatch(request(EDS, ["a"]), state(["a"]), () => void got.push("second"));
    cache.createDeltaWatch({ typeUrl: EDS, node: undefined }, deltaState(["a"]), () => void got.push("delta"));
    assert.doesNotThrow(() => cache.updateResource("a", cla("a")));
    assert.deepEqual(got, ["second", "delta"]);
    assert.equal(errors.length, 1);
    assert.equal(cache.numWatches(), 0);
  });

  test("skips a watch that an earlier callback cancelled during the same notification", () => {
    const cache = new LinearCache(EDS);
    let second: Watch | undefined;
    let secondCalled = false;
    cache.createWatch(request(EDS, ["a"]), state(["a"]), () => second?.cancel());
    second = cache.createWatch(request(EDS, ["a"]), state(["a"]), () => {
      secondCalled = true;
    });
    cache.updateResource("a", cla("a"));
    assert.equal(secondCalled, false);
    assert.equal(cache.numWatches(), 0);
  });

  test("lets a respond callback open the next watch re-entrantly", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a")] });
    const seen: SotwResponse[] = [];
    const open = (req: SotwRequest, st: SubscriptionState) => {
      cache.createWatch(req, st, (r) => {
        seen.push(r);
        open({ ...req, versionInfo: r.version }, { ...st, returned: r.returned });
      });
    };
    open(request(EDS), state());
    assert.equal(seen.length, 1);
    assert.equal(cache.numWatches(), 1);
    cache.updateResource("a", cla("a", "z"));
    assert.equal(seen.length, 2);
    assert.equal(cache.numWatches(), 1);
  });

  test("fetch answers with the named resources", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a"), cla("b")] });
    assert.deepEqual(names(cache.fetch(request(EDS, ["b"]))), ["b"]);
    assert.deepEqual(names(cache.fetch(request(EDS))), ["a", "b"]);
    assert.deepEqual(names(cache.fetch(request(EDS, ["missing"]))), []);
  });

  test("fetch throws version_up_to_date when current", () => {
    const cache = new LinearCache(EDS, { initialResources: [cla("a")] });
    const first = cache.fetch(request(EDS, ["a"]));
    assert.throws(
      () => cache.fetch(request(EDS, ["a"], first.version)),
      (e: unknown) =>
        e instanceof XdsError &&
        e.code === "version_up_to_date" &&
        e.details.typeUrl === EDS &&
        e.details.version === first.version,
    );
  });

  test("rejects a request for another type URL with unknown_type", () => {
    const cache = new LinearCache(EDS);
    const isUnknown = (e: unknown) => e instanceof XdsError && e.code === "unknown_type" && e.details.typeUrl === CDS;
    assert.throws(() => cache.createWatch(request(CDS), state(), () => {}), isUnknown);
    assert.throws(() => cache.createDeltaWatch({ typeUrl: CDS, node: undefined }, deltaState(), () => {}), isUnknown);
    assert.throws(() => cache.fetch(request(CDS)), isUnknown);
    assert.throws(
      () => new LinearCache("type.googleapis.com/unknown.Type"),
      (e: unknown) => e instanceof XdsError && e.code === "unknown_type",
    );
  });

  test("reports its version and open watches in status", () => {
    const cache = new LinearCache(EDS, { versionPrefix: "v" });
    cache.createWatch(request(EDS, ["a"]), state(["a"]), () => {});
    cache.createDeltaWatch({ typeUrl: EDS, node: undefined }, deltaState(["b"]), () => {});
    cache.updateResource("c", cla("c"));
    const [status] = cache.status();
    assert.equal(status?.nodeKey, "");
    assert.equal(status?.watches, 2);
    assert.equal(status?.versions.get(EDS), "v1");
    assert.ok((status?.lastRequestTime ?? 0) > 0);
  });
});
