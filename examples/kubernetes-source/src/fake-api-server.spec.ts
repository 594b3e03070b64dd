// The fake API server speaks enough of the list-and-watch protocol for the
// integration tests to mean something: these tests pin what it does.
import assert from "node:assert/strict";
import http from "node:http";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { FakeApiServer, type KubeObject, parseLabelSelector } from "./test-support/fake-api-server.js";
import { fixture } from "./test-support/fixtures.js";

interface WatchEvent {
  type: string;
  object: KubeObject & { code?: number; reason?: string };
}

/** Opens a watch; its events gather in `events`, `ended` resolves when the server ends it. */
function openWatch(url: string) {
  const events: WatchEvent[] = [];
  let request: http.ClientRequest | undefined;
  const ended = new Promise<number>((resolve, reject) => {
    request = http.get(url, (res) => {
      const lines = createInterface({ input: res });
      lines.on("line", (line) => events.push(JSON.parse(line) as WatchEvent));
      lines.on("close", () => resolve(res.statusCode ?? 0));
    });
    request.on("error", reject);
  });
  return { events, ended, close: () => request?.destroy() };
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("fake API server", { timeout: 20_000 }, () => {
  let fake: FakeApiServer;
  const watches: ReturnType<typeof openWatch>[] = [];
  const watch = (path: string) => {
    const w = openWatch(`${fake.url}${path}`);
    watches.push(w);
    return w;
  };

  before(async () => {
    const staging = fixture("greeter-service");
    staging.metadata = { ...staging.metadata, namespace: "staging" };
    fake = await FakeApiServer.start([
      fixture("greeter-service"),
      fixture("greeter-endpointslice"),
      fixture("legacy-billing-service"),
      staging,
    ]);
  });

  after(async () => {
    for (const w of watches) w.close();
    await fake.close();
  });

  it("lists a namespace's objects like the API server: list kind, resourceVersion, items without kind", async () => {
    const { status, body } = await getJson(`${fake.url}/api/v1/namespaces/shop/services`);
    assert.equal(status, 200);
    assert.equal(body["kind"], "ServiceList");
    assert.equal(body["apiVersion"], "v1");
    assert.equal((body["metadata"] as { resourceVersion: string }).resourceVersion, fake.resourceVersion);
    const items = body["items"] as KubeObject[];
    assert.deepEqual(items.map((i) => i.metadata?.name).sort(), ["greeter", "legacy-billing"]);
    assert.equal(items[0]?.kind, undefined);
    const all = await getJson(`${fake.url}/api/v1/services`);
    assert.equal((all.body["items"] as unknown[]).length, 3);
    const slices = await getJson(`${fake.url}/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices`);
    assert.equal(slices.body["kind"], "EndpointSliceList");
    assert.equal(slices.body["apiVersion"], "discovery.k8s.io/v1");
  });

  it("filters by label selector, and answers unknown paths with a 404 Status", async () => {
    const { body } = await getJson(
      `${fake.url}/api/v1/namespaces/shop/services?labelSelector=app.kubernetes.io%2Fpart-of%3Dshop`,
    );
    assert.deepEqual(
      (body["items"] as KubeObject[]).map((i) => i.metadata?.name),
      ["greeter"],
    );
    const missing = await getJson(`${fake.url}/api/v1/namespaces/shop/pods`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body["kind"], "Status");
  });

  it("streams events after the resourceVersion asked for, each with its new resourceVersion", async () => {
    const from = fake.resourceVersion;
    const open = fake.openWatches;
    const w = watch(`/api/v1/namespaces/shop/services?watch=true&resourceVersion=${from}`);
    await until("the watch", () => fake.openWatches === open + 1);
    fake.apply(fixture("checkout-service"));
    fake.update("services", "shop", "checkout", (s) => {
      s.metadata = { ...s.metadata, annotations: { touched: "yes" } };
    });
    fake.remove("services", "shop", "checkout");
    await until("three events", () => w.events.length === 3);
    assert.deepEqual(
      w.events.map((e) => [e.type, e.object.kind, e.object.metadata?.name]),
      [
        ["ADDED", "Service", "checkout"],
        ["MODIFIED", "Service", "checkout"],
        ["DELETED", "Service", "checkout"],
      ],
    );
    const versions = w.events.map((e) => Number(e.object.metadata?.resourceVersion));
    assert.ok(versions.every((v, i) => v > Number(from) && (i === 0 || v > (versions[i - 1] ?? 0))));
  });

  it("sends current objects as ADDED to a watch without a resourceVersion, and turns selector changes into ADDED/DELETED", async () => {
    const w = watch("/api/v1/namespaces/shop/services?watch=1&labelSelector=app.kubernetes.io/part-of%3Dshop");
    await until("the current state", () => w.events.length === 1);
    assert.deepEqual(
      w.events.map((e) => [e.type, e.object.metadata?.name]),
      [["ADDED", "greeter"]],
    );
    fake.update("services", "shop", "greeter", (s) => {
      s.metadata = { ...s.metadata, labels: { "app.kubernetes.io/name": "greeter" } };
    });
    fake.update("services", "shop", "greeter", (s) => {
      s.metadata = { ...s.metadata, labels: { "app.kubernetes.io/part-of": "shop" } };
    });
    await until("two more events", () => w.events.length === 3);
    assert.deepEqual(
      w.events.slice(1).map((e) => e.type),
      ["DELETED", "ADDED"],
    );
  });

  it("ends watches with an ERROR 410 Gone Status, and refuses to resume from before that", async () => {
    const old = fake.resourceVersion;
    const open = fake.openWatches;
    const w = watch(`/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?watch=true&resourceVersion=${old}`);
    await until("the watch", () => fake.openWatches === open + 1);
    fake.apply(fixture("checkout-endpointslice"));
    fake.expireWatches();
    assert.equal(await w.ended, 200);
    assert.deepEqual(
      w.events.map((e) => e.type),
      ["ADDED", "ERROR"],
    );
    const last = w.events.at(-1);
    assert.equal(last?.object.kind, "Status");
    assert.equal(last?.object.code, 410);
    assert.equal(last?.object.reason, "Expired");
    assert.equal(fake.openWatches, 0);

    // History before the expiry is compacted: resuming from `old` is refused.
    const again = watch(`/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?watch=true&resourceVersion=${old}`);
    await again.ended;
    assert.deepEqual(
      again.events.map((e) => [e.type, e.object.code]),
      [["ERROR", 410]],
    );
  });

  it("holds list answers while asked to", async () => {
    const release = fake.holdLists();
    let answered = false;
    const listed = getJson(`${fake.url}/api/v1/namespaces/shop/services`).then((r) => {
      answered = true;
      return r;
    });
    await until("the list to wait", () => fake.pendingLists === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(answered, false);
    release();
    assert.equal((await listed).status, 200);
  });
});

describe("parseLabelSelector", () => {
  const matches = (selector: string, labels: Record<string, string>) =>
    parseLabelSelector(selector).every((requirement) => requirement(labels));

  it("handles equality, inequality, existence and set requirements", () => {
    const labels = { app: "greeter", tier: "backend" };
    assert.equal(matches("", labels), true);
    assert.equal(matches("app=greeter", labels), true);
    assert.equal(matches("app==greeter,tier=backend", labels), true);
    assert.equal(matches("app!=greeter", labels), false);
    assert.equal(matches("tier", labels), true);
    assert.equal(matches("!tier", labels), false);
    assert.equal(matches("app in (greeter, checkout)", labels), true);
    assert.equal(matches("app notin (greeter,checkout)", labels), false);
    assert.equal(matches("env notin (prod)", labels), true);
    assert.throws(() => parseLabelSelector("app=(x"));
  });
});
