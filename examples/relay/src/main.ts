#!/usr/bin/env node
// An xDS relay: one upstream ADS stream per node group, served to every
// downstream client of the group. Runs until SIGINT or SIGTERM.
import { parseArgs } from "node:util";
import { groupByCluster, groupById } from "./node-group.js";
import { Relay } from "./relay.js";

const { values } = parseArgs({
  options: {
    upstream: { type: "string", default: "127.0.0.1:18000" },
    listen: { type: "string", default: "127.0.0.1:18001" },
    "group-by": { type: "string", default: "cluster" },
    sotw: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help || (values["group-by"] !== "cluster" && values["group-by"] !== "id")) {
  console.log(`usage: relay [--upstream HOST:PORT] [--listen HOST:PORT] [--group-by cluster|id] [--sotw]
  --upstream   the control plane to relay (default 127.0.0.1:18000)
  --listen     where downstream clients connect (default 127.0.0.1:18001)
  --group-by   node groups by node.cluster (default) or node.id: one upstream stream per group
  --sotw       talk state of the world upstream instead of delta`);
  process.exit(values.help ? 0 : 2);
}

const log = (level: string) => (fields: Record<string, unknown>, message: string) =>
  console.log(`${new Date().toISOString()} ${level} ${message} ${JSON.stringify(fields)}`);
const relay = await Relay.start({
  upstream: values.upstream,
  listen: values.listen,
  groupOf: values["group-by"] === "id" ? groupById : groupByCluster,
  protocol: values.sotw ? "sotw" : "delta",
  logger: { debug() {}, info: log("info"), warn: log("warn"), error: log("error") },
});
console.log(`relay: ${values.upstream} -> xDS on ${relay.address}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void relay.close());
}
