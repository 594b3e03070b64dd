import { toJson } from "@bufbuild/protobuf";
import { type Resource, XdsError } from "@nebucloud/xds-core";
import { registry } from "@nebucloud/xds-proto";
import { ClientStatusResponseSchema } from "@nebucloud/xds-proto/envoy/service/status/v3/csds_pb";
import { fetchClientStatus } from "../client-status.js";
import { XdsClient } from "../xds-client.js";
import type { Command } from "./command-line.js";
import { fetchResources } from "./fetch-resources.js";
import { formatDocument, formatStreamDocument } from "./output-format.js";
import { resourceJson } from "./resource-json.js";
import { renderStatusTable, statusRows } from "./status-table.js";
import { displayTypeName } from "./type-names.js";

/** Where a command writes: `out` for results (stdout), `note` for progress and warnings (stderr). */
export interface CommandOutput {
  out(text: string): void;
  note(text: string): void;
}

type ResourceCommand = Extract<Command, { kind: "get" | "watch" }>;

function clientFor(command: ResourceCommand): XdsClient {
  return new XdsClient({
    server: command.connection.server,
    node: { id: command.nodeId, ...(command.cluster === undefined ? {} : { cluster: command.cluster }) },
    protocol: command.protocol,
    ...(command.connection.tls ? { tls: command.connection.tls } : {}),
    doesNotExistTimeoutMs: command.connection.timeoutMs,
    backoff: { initialMs: 200, maxMs: 2000 },
  });
}

const sortedJson = (resources: Iterable<Resource>) =>
  [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map(resourceJson);

/**
 * `xdsctl get`: prints the resources once, as a YAML or JSON list. Named
 * resources that do not exist (or did not come within the timeout) fail it
 * with `resource_not_found` after the found ones are printed.
 */
export async function runGet(command: ResourceCommand, output: CommandOutput): Promise<void> {
  const client = clientFor(command);
  try {
    const { resources, missing } = await fetchResources(
      client,
      command.typeUrl,
      command.names,
      command.connection.timeoutMs,
    );
    if (resources.length > 0 || !missing) output.out(formatDocument(sortedJson(resources), command.output));
    if (missing) throw missing;
  } finally {
    await client.close();
  }
}

/**
 * `xdsctl watch`: prints the watched resources at first and after every
 * change (YAML documents or JSON lines) until `signal` aborts or `count`
 * updates were printed. A first connection that fails ends it with that
 * error; later outages are noted and waited out.
 */
export async function runWatch(command: ResourceCommand, output: CommandOutput, signal: AbortSignal): Promise<void> {
  const client = clientFor(command);
  const cleanup: (() => void)[] = [];
  const type = displayTypeName(command.typeUrl);
  try {
    await new Promise<void>((resolve, reject) => {
      let connected = false;
      let updates = 0;
      if (signal.aborted) return resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
      const timer = setTimeout(() => {
        if (!connected) {
          reject(
            new XdsError(
              "channel_closed",
              `cannot reach the xDS server at ${client.address} within ${command.connection.timeoutMs} ms`,
              { address: client.address, reason: "unreachable" },
            ),
          );
        }
      }, command.connection.timeoutMs);
      cleanup.push(() => clearTimeout(timer));
      cleanup.push(
        client.on("connected", () => {
          if (connected) output.note(`xdsctl: reconnected to ${client.address}\n`);
          connected = true;
        }),
      );
      cleanup.push(
        client.on("disconnected", ({ error, retryInMs }) => {
          if (!connected) return reject(error);
          output.note(`xdsctl: ${error.rawMessage}; retrying in ${retryInMs} ms\n`);
        }),
      );
      cleanup.push(
        client.watch(command.typeUrl, command.names.length === 0 ? "*" : command.names, {
          onChange(resources) {
            output.out(formatStreamDocument(sortedJson(resources.values()), command.output));
            updates++;
            if (command.count !== undefined && updates >= command.count) resolve();
          },
          onDoesNotExist(name) {
            output.note(`xdsctl: ${type} ${name} does not exist\n`);
          },
          onError(error) {
            if (error.code !== "channel_closed") output.note(`xdsctl: ${error.rawMessage}\n`);
          },
        }),
      );
    });
  } finally {
    for (const fn of cleanup) fn();
    await client.close();
  }
}

/** `xdsctl status`: the server's CSDS answer as a table, or as proto3 JSON in YAML or JSON. */
export async function runStatus(command: Extract<Command, { kind: "status" }>, output: CommandOutput): Promise<void> {
  const response = await fetchClientStatus({
    server: command.connection.server,
    ...(command.connection.tls ? { tls: command.connection.tls } : {}),
    ...(command.nodeId === undefined ? {} : { nodeId: command.nodeId }),
    timeoutMs: command.connection.timeoutMs,
  });
  if (command.output === "table") {
    const rows = statusRows(response);
    output.out(renderStatusTable(rows));
    if (rows.length === 0) output.note("xdsctl: no client is connected to this server\n");
    return;
  }
  output.out(formatDocument(toJson(ClientStatusResponseSchema, response, { registry }), command.output));
}
