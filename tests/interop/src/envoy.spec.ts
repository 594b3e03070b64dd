/**
 * A real Envoy against our server, when one is available: ENVOY_BIN names the
 * binary. None can be installed on the machines this project is built on, so
 * without ENVOY_BIN the test is skipped and says so; the grpc-js-xds scenarios
 * are then the only real data plane exercised.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { makeCluster, makeEndpoints, makeHttpListener, makeRoute } from "@nebucloud/xds-cache/testing";
import { TypeUrl, validateResource } from "@nebucloud/xds-core";
import { registry } from "@nebucloud/xds-proto";
import { BootstrapSchema } from "@nebucloud/xds-proto/envoy/config/bootstrap/v3/bootstrap_pb";
import { XdsServer, type XdsServerHandle } from "@nebucloud/xds-server";
import { eventually } from "./harness.js";

const envoyBin = process.env["ENVOY_BIN"];
const skip = envoyBin
  ? false
  : "ENVOY_BIN is not set: no Envoy binary on this machine, so the Envoy end-to-end test did not run";
if (skip) console.log(`# ${skip}`);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An Envoy bootstrap taking everything over ADS from our server. */
function bootstrap(xdsPort: number, adminPort: number): string {
  return JSON.stringify({
    node: { id: "envoy-1", cluster: "interop" },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
    dynamic_resources: {
      ads_config: {
        api_type: "GRPC",
        transport_api_version: "V3",
        grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }],
      },
      cds_config: { ads: {}, resource_api_version: "V3" },
      lds_config: { ads: {}, resource_api_version: "V3" },
    },
    static_resources: {
      clusters: [
        {
          name: "xds",
          type: "STATIC",
          connect_timeout: "1s",
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: "xds",
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: xdsPort } } } },
                ],
              },
            ],
          },
        },
      ],
    },
  });
}

describe("the Envoy bootstrap this test uses", () => {
  // Checked even without Envoy, so the skipped test's input is known good.
  it("is a valid envoy.config.bootstrap.v3.Bootstrap by Envoy's own validation rules", () => {
    const message = fromJson(BootstrapSchema, JSON.parse(bootstrap(18000, 9901)) as JsonValue, { registry });
    assert.deepEqual(validateResource(BootstrapSchema, message), []);
    assert.equal(message.dynamicResources?.adsConfig?.grpcServices[0]?.targetSpecifier.case, "envoyGrpc");
  });
});

describe("a real Envoy", () => {
  let envoy: ChildProcess | undefined;
  let server: XdsServerHandle | undefined;
  let backend: http.Server | undefined;
  const cache = new SnapshotCache({ ads: true });
  after(async () => {
    envoy?.kill("SIGKILL");
    await server?.shutdown();
    backend?.close();
    cache.close();
  });

  it("routes HTTP through the listener, route, cluster and endpoints it took over ADS", { skip }, async () => {
    backend = http.createServer((_req, res) => res.end("from-the-backend"));
    await new Promise<void>((resolve) => backend?.listen(0, "127.0.0.1", resolve));
    const backendPort = (backend.address() as { port: number }).port;
    const listenerPort = await freePort();
    cache.setSnapshot(
      "envoy-1",
      Snapshot.fromResources({
        [TypeUrl.Cluster]: [makeCluster("backend")],
        [TypeUrl.Endpoint]: [makeEndpoints("backend", [{ host: "127.0.0.1", port: backendPort }])],
        [TypeUrl.Route]: [makeRoute("local_route", { cluster: "backend" })],
        [TypeUrl.Listener]: [makeHttpListener("ingress", "local_route", { address: "127.0.0.1", port: listenerPort })],
      }),
    );
    server = await XdsServer.builder().withCache(cache).withConfig({ drainTimeoutMs: 200 }).serve("127.0.0.1:0");
    const dir = mkdtempSync(join(tmpdir(), "envoy-"));
    const config = join(dir, "bootstrap.json");
    writeFileSync(config, bootstrap(server.port, await freePort()));
    const output: string[] = [];
    envoy = spawn(envoyBin as string, ["-c", config, "--base-id", String(process.pid % 60000), "-l", "warning"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    envoy.stdout?.setEncoding("utf8").on("data", (c: string) => output.push(c));
    envoy.stderr?.setEncoding("utf8").on("data", (c: string) => output.push(c));
    const body = await eventually(
      "a request through Envoy reaching the backend",
      async () => {
        try {
          const response = await fetch(`http://127.0.0.1:${listenerPort}/`);
          const text = await response.text();
          return text === "from-the-backend" ? text : undefined;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nEnvoy said:\n${output.join("").slice(-4000)}`);
    });
    assert.equal(body, "from-the-backend");
    const stream = server.streams().find((s) => s.node?.id === "envoy-1");
    assert.ok(stream, "Envoy's ADS stream is listed");
    for (const type of stream.status()) {
      assert.equal(type.nack, undefined, `Envoy rejected ${type.typeUrl}: ${type.nack?.message}`);
      assert.equal(type.ackedVersion, type.sentVersion, `${type.typeUrl} acknowledged`);
    }
  });
});
