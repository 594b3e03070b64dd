import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TypeUrl } from "@nebucloud/xds-core";
import { ClusterSchema } from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { AggregatedDiscoveryService } from "@nebucloud/xds-proto/envoy/service/discovery/v3/ads_pb";
import {
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";

const main = fileURLToPath(new URL("./main.ts", import.meta.url));

/** Rejects after `ms` with `what` timed out; the timer never holds the process. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A request stream the test writes to, as a client would. */
function requestQueue() {
  const queue: DiscoveryRequest[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  return {
    push(init: Parameters<typeof create<typeof DiscoveryRequestSchema>>[1]) {
      queue.push(create(DiscoveryRequestSchema, init));
      wake?.();
    },
    end() {
      done = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift() as DiscoveryRequest;
        if (done) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}

describe("simple-server", () => {
  let child: ChildProcess;
  let address: string;
  let stderr = "";
  const requests = requestQueue();
  let responses: AsyncIterator<DiscoveryResponse>;

  before(async () => {
    child = spawn(process.execPath, ["--import", "tsx", main, "--xds-address", "127.0.0.1:0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const [line] = (await within(once(lines, "line"), 15_000, `start-up line (stderr: ${stderr})`)) as [string];
    const match = /serving xDS on (\S+)$/.exec(line);
    assert.ok(match, `unexpected start-up line: ${line}`);
    address = match[1] as string;
  });

  after(() => {
    requests.end();
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });

  it("prints the bound address, not port 0", () => {
    assert.match(address, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(address, "127.0.0.1:0");
  });

  it("serves cluster backend and its endpoints to any node over ADS", async () => {
    const client = createClient(AggregatedDiscoveryService, createGrpcTransport({ baseUrl: `http://${address}` }));
    responses = client.streamAggregatedResources(requests)[Symbol.asyncIterator]();
    const node = { id: `test-node-${process.pid}`, cluster: "test" };
    requests.push({ node, typeUrl: TypeUrl.Cluster });
    const clusters = await within(responses.next(), 5000, "CDS response");
    assert.equal(clusters.done, false);
    const cds = clusters.value as DiscoveryResponse;
    assert.equal(cds.typeUrl, TypeUrl.Cluster);
    const names = cds.resources.map((any) => anyUnpack(any, ClusterSchema)?.name);
    assert.deepEqual(names, ["backend"]);

    // ACK, then ask for the endpoints the EDS cluster needs.
    requests.push({ node, typeUrl: TypeUrl.Cluster, versionInfo: cds.versionInfo, responseNonce: cds.nonce });
    requests.push({ node, typeUrl: TypeUrl.Endpoint, resourceNames: ["backend"] });
    const endpoints = await within(responses.next(), 5000, "EDS response");
    const eds = endpoints.value as DiscoveryResponse;
    assert.equal(eds.typeUrl, TypeUrl.Endpoint);
    const cla = anyUnpack(eds.resources[0] as never, ClusterLoadAssignmentSchema);
    const endpoint = cla?.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
    assert.equal(endpoint?.case, "endpoint");
    const socket = endpoint?.value.address?.address;
    assert.equal(socket?.case, "socketAddress");
    assert.equal(socket?.value.address, "127.0.0.1");
    assert.deepEqual(socket?.value.portSpecifier, { case: "portValue", value: 8080 });
  });

  it("shuts down gracefully on SIGTERM and exits 0", async () => {
    const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    child.kill("SIGTERM");
    // The open ADS stream is drained: it ends (after GOAWAY and the drain timeout) rather than hanging.
    const ended = (async () => {
      try {
        for (let r = await responses.next(); !r.done; r = await responses.next()) {}
      } catch {
        // UNAVAILABLE after the drain timeout is how a draining server ends a stream.
      }
      requests.end(); // as a client does once its stream is over
    })();
    const [code, signal] = await within(exited, 15_000, "child exit");
    assert.equal(signal, null, `killed by ${signal}; stderr: ${stderr}`);
    assert.equal(code, 0, `stderr: ${stderr}`);
    await within(ended, 5000, "ADS stream end");
  });
});
