import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { SecretSchema } from "@nebucloud/xds-proto/envoy/extensions/transport_sockets/tls/v3/secret_pb";
import { type NodeRequestHandler, restGateway } from "./index.js";

async function listen(handler: NodeRequestHandler): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function close(server: http.Server | http2.Http2Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    if (server instanceof http.Server) server.closeAllConnections();
  });
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("restGateway over HTTP/1.1", () => {
  const cache = new SnapshotCache();
  let url: string;
  let server: http.Server;
  let smallUrl: string;
  let smallServer: http.Server;
  before(async () => {
    cache.setSnapshot(
      "n1",
      Snapshot.fromResources({
        [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" }), create(ClusterSchema, { name: "c2" })],
        [TypeUrl.Secret]: [create(SecretSchema, { name: "s1" })],
      }),
    );
    ({ url, server } = await listen(restGateway({ cache })));
    ({ url: smallUrl, server: smallServer } = await listen(restGateway({ cache, maxBodyBytes: 1024 })));
  });
  after(async () => {
    await close(server);
    await close(smallServer);
    cache.close();
  });

  it("answers POST /v3/discovery:clusters with proto3 JSON and @type'd resources", async () => {
    const res = await post(`${url}/v3/discovery:clusters`, { node: { id: "n1" } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    const body = (await res.json()) as {
      versionInfo: string;
      typeUrl: string;
      resources: { "@type"?: string; name?: string }[];
    };
    assert.equal(body.typeUrl, TypeUrl.Cluster);
    assert.ok(body.versionInfo);
    assert.deepEqual(body.resources.map((r) => [r["@type"], r.name]).sort(), [
      [TypeUrl.Cluster, "c1"],
      [TypeUrl.Cluster, "c2"],
    ]);
  });

  it("answers only the named resources, with snake_case request fields", async () => {
    const res = await post(`${url}/v3/discovery:secrets`, {
      node: { id: "n1", user_agent_name: "envoy" },
      resource_names: ["s1"],
      type_url: TypeUrl.Secret,
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { resources: { "@type"?: string; name?: string }[] };
    assert.deepEqual(
      body.resources.map((r) => [r["@type"], r.name]),
      [[TypeUrl.Secret, "s1"]],
    );
  });

  it("answers 304 without a body when version_info is the current version", async () => {
    const first = (await (await post(`${url}/v3/discovery:clusters`, { node: { id: "n1" } })).json()) as {
      versionInfo: string;
    };
    const res = await post(`${url}/v3/discovery:clusters`, { node: { id: "n1" }, version_info: first.versionInfo });
    assert.equal(res.status, 304);
    assert.equal(await res.text(), "");
  });

  it("answers 400 naming an unknown field", async () => {
    const res = await post(`${url}/v3/discovery:clusters`, { node: { id: "n1" }, bogus_field: 1 });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "invalid_request");
    assert.match(body.message, /bogus_field/);
  });

  it("answers 400 for malformed JSON", async () => {
    const res = await post(`${url}/v3/discovery:clusters`, "{not json");
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string; message: string };
    assert.match(body.message, /malformed JSON/);
  });

  it("answers 400 without node.id", async () => {
    for (const request of [{}, { node: { cluster: "x" } }]) {
      const res = await post(`${url}/v3/discovery:clusters`, request);
      assert.equal(res.status, 400);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(body.code, "invalid_request");
      assert.match(body.message, /node\.id/);
    }
  });

  it("answers 400 when type_url is not the path's type", async () => {
    const res = await post(`${url}/v3/discovery:clusters`, { node: { id: "n1" }, type_url: TypeUrl.Listener });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { message: string };
    assert.match(body.message, /type_url/);
  });

  it("answers 404 for an unknown path", async () => {
    const res = await post(`${url}/v3/discovery:nothing`, { node: { id: "n1" } });
    assert.equal(res.status, 404);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "not_found");
    assert.match(body.message, /discovery:nothing/);
  });

  it("answers 404 for a node the cache has no snapshot for", async () => {
    const res = await post(`${url}/v3/discovery:clusters`, { node: { id: "nobody" } });
    assert.equal(res.status, 404);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "node_not_found");
  });

  it("answers 405 to GET with Allow: POST", async () => {
    const res = await fetch(`${url}/v3/discovery:clusters`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "POST");
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "method_not_allowed");
    assert.match(body.message, /GET/);
  });

  it("answers 413 to a body over maxBodyBytes (declared length)", async () => {
    const res = await post(`${smallUrl}/v3/discovery:clusters`, { node: { id: "n1", cluster: "x".repeat(4096) } });
    assert.equal(res.status, 413);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "payload_too_large");
    assert.match(body.message, /1024 bytes/);
  });

  it("answers 413 to a chunked body that grows over maxBodyBytes", async () => {
    const chunk = new TextEncoder().encode(" ".repeat(600));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 4) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${smallUrl}/v3/discovery:clusters`, {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit);
    assert.equal(res.status, 413);
    const body = (await res.json()) as { code: string };
    assert.equal(body.code, "payload_too_large");
  });

  it("still accepts a body under maxBodyBytes on the small gateway", async () => {
    const res = await post(`${smallUrl}/v3/discovery:clusters`, { node: { id: "n1" } });
    assert.equal(res.status, 200);
  });
});

describe("restGateway over HTTP/2 (the xDS port's fallback)", () => {
  const cache = new SnapshotCache();
  let server: http2.Http2Server;
  let client: http2.ClientHttp2Session;
  before(async () => {
    cache.setSnapshot("n1", Snapshot.fromResources({ [TypeUrl.Cluster]: [create(ClusterSchema, { name: "c1" })] }));
    server = http2.createServer(restGateway({ cache, maxBodyBytes: 1024 }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(async () => {
    client.close();
    await close(server);
    cache.close();
  });

  function request(path: string, body: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const stream = client.request({ ":method": "POST", ":path": path, "content-type": "application/json" });
      let status = 0;
      let text = "";
      stream.on("response", (headers) => {
        status = Number(headers[":status"]);
      });
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        text += chunk;
      });
      stream.on("end", () => resolve({ status, body: text }));
      stream.on("error", reject);
      stream.end(body);
    });
  }

  it("answers 200 with @type'd resources", async () => {
    const res = await request("/v3/discovery:clusters", JSON.stringify({ node: { id: "n1" } }));
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body) as { resources: { "@type"?: string; name?: string }[] };
    assert.equal(body.resources[0]?.["@type"], TypeUrl.Cluster);
  });

  it("answers 413 with a JSON body", async () => {
    const res = await request("/v3/discovery:clusters", " ".repeat(2048));
    assert.equal(res.status, 413);
    assert.equal((JSON.parse(res.body) as { code: string }).code, "payload_too_large");
  });
});
