/**
 * Failover clients in a process of their own, so a test can drive more
 * streams than one event loop handles quickly, or pause the clients with
 * SIGSTOP as a lost network would. Run as
 * `node --import tsx client-process.ts <replicas,comma,separated> <count> <first> <clusters>`;
 * for each line `r` on stdin it writes one JSON line: the state of every client.
 * Closing stdin stops the clients and the process.
 */
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { TypeUrl } from "@nebucloud/xds-core";
import { FailoverClient } from "./failover-client.js";

/** What the parent learns of one client. */
export interface ClientReport {
  nodeId: string;
  address: string;
  streams: number;
  responses: number;
  resources: number;
  removals: number;
  clusters: number;
  endpoints: number;
  /** Distinct endpoint ports it holds. */
  ports: number[];
  /** A digest of every (type, name, content version) it holds: equal digests, equal state. */
  digest: string;
}

const [replicaList = "", countArg = "0", firstArg = "0", clustersArg = "0"] = process.argv.slice(2);
const replicas = replicaList.split(",");
const first = Number(firstArg);
const clusters = Array.from({ length: Number(clustersArg) }, (_, i) => `service-${i}`);
const clients = Array.from(
  { length: Number(countArg) },
  (_, i) =>
    new FailoverClient(
      `node-${first + i}`,
      (first + i) % 2 === 0 ? "sotw" : "delta",
      clusters,
      () => replicas,
      first + i,
    ),
);
for (const client of clients) client.run();

const report = (c: FailoverClient): ClientReport => ({
  nodeId: c.nodeId,
  address: c.address,
  ...c.counters,
  clusters: c.held.get(TypeUrl.Cluster)?.size ?? 0,
  endpoints: c.held.get(TypeUrl.Endpoint)?.size ?? 0,
  ports: [...new Set(c.ports.values())].sort(),
  digest: createHash("sha256")
    .update(JSON.stringify([...c.held].map(([type, held]) => [type, [...held].sort()])))
    .digest("hex"),
});

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "r") process.stdout.write(`${JSON.stringify(clients.map(report))}\n`);
});
process.stdin.once("end", () => {
  void Promise.all(clients.map((c) => c.stop())).then(() => process.exit(0));
});
