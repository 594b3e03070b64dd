import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { XdsError } from "@nebucloud/xds-core";
import type { ClientTlsOptions } from "../client-options.js";
import type { OutputFormat } from "./output-format.js";
import { knownTypeNames, resolveTypeName } from "./type-names.js";

/** Flags every command shares. */
export interface ConnectionFlags {
  /** HOST:PORT or a URL. */
  readonly server: string;
  readonly tls: ClientTlsOptions | undefined;
  readonly timeoutMs: number;
}

/** A parsed xdsctl command line. */
export type Command =
  | { readonly kind: "help" }
  | {
      readonly kind: "get" | "watch";
      readonly typeUrl: string;
      /** Empty: every resource of the type. */
      readonly names: readonly string[];
      readonly nodeId: string;
      readonly cluster: string | undefined;
      readonly protocol: "sotw" | "delta";
      readonly output: OutputFormat;
      /** watch: exit after this many updates. */
      readonly count: number | undefined;
      readonly connection: ConnectionFlags;
    }
  | {
      readonly kind: "status";
      readonly nodeId: string | undefined;
      readonly output: OutputFormat | "table";
      readonly connection: ConnectionFlags;
    };

/** What `xdsctl help` prints. */
export const usage = `usage:
  xdsctl get <type> [names...]    print resources as the server sends them, then exit
  xdsctl watch <type> [names...]  print every update until interrupted (or --count N)
  xdsctl status                   what every client of the server holds, from its CSDS

<type>: ${knownTypeNames()}, or a full type URL

flags:
  --server HOST:PORT   the xDS server (default 127.0.0.1:18000)
  --node ID            get/watch: the node id to ask as (default xdsctl); status: only this node
  --cluster NAME       get/watch: the node's cluster
  --output FORMAT      yaml (default) or json; status also table (default)
  --delta              get/watch over delta xDS instead of state of the world
  --timeout MS         give up after this long (default 10000)
  --count N            watch: exit 0 after N updates
  --ca FILE --cert FILE --key FILE   TLS (--ca alone) or mTLS to the server

exit codes: 0 ok, 1 other failure, 2 usage or unknown type, 3 server unreachable,
4 TLS failure, 5 timeout or resource not found`;

function usageError(message: string, details: Record<string, unknown> = {}): XdsError {
  return new XdsError("invalid_request", message, details);
}

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw usageError(`--${flag} must be a positive integer, not ${value}`, { field: flag });
  return n;
}

function readPem(flag: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch (cause) {
    throw new XdsError("invalid_request", `--${flag} ${path}: ${(cause as Error).message}`, { field: flag });
  }
}

/**
 * Parses xdsctl's arguments (without `node` and the script). Throws an
 * XdsError `invalid_request` for bad usage and `unknown_type` for a type no
 * name or URL matches; both messages say what is accepted.
 */
export function parseCommandLine(argv: readonly string[]): Command {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw usageError(`${(error as Error).message}\n\n${usage}`);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") return { kind: "help" };
  const timeoutMs = positiveInteger("timeout", values.timeout) ?? 10_000;
  const ca = readPem("ca", values.ca);
  const cert = readPem("cert", values.cert);
  const key = readPem("key", values.key);
  if ((cert === undefined) !== (key === undefined)) throw usageError("--cert and --key go together", { field: "cert" });
  const tls =
    ca !== undefined || cert !== undefined
      ? {
          ...(ca === undefined ? {} : { ca }),
          ...(cert === undefined ? {} : { cert }),
          ...(key === undefined ? {} : { key }),
        }
      : undefined;
  const connection: ConnectionFlags = { server: values.server, tls, timeoutMs };
  const output = values.output;
  if (command === "status") {
    if (rest.length > 0) throw usageError(`status takes no arguments, not ${rest.join(" ")}`);
    if (output !== undefined && output !== "yaml" && output !== "json" && output !== "table") {
      throw usageError(`--output must be table, yaml or json, not ${output}`, { field: "output" });
    }
    return { kind: "status", nodeId: values.node, output: output ?? "table", connection };
  }
  if (command !== "get" && command !== "watch") {
    throw usageError(`unknown command ${JSON.stringify(command)}\n\n${usage}`, { field: "command" });
  }
  if (output !== undefined && output !== "yaml" && output !== "json") {
    throw usageError(`--output must be yaml or json, not ${output}`, { field: "output" });
  }
  const [type, ...names] = rest;
  if (type === undefined) throw usageError(`${command} needs a resource type: ${knownTypeNames()}`, { field: "type" });
  const typeUrl = resolveTypeName(type);
  if (!typeUrl) {
    throw new XdsError(
      "unknown_type",
      `unknown resource type ${JSON.stringify(type)}; known types: ${knownTypeNames()}, or a full type URL`,
      { typeUrl: type },
    );
  }
  if (values.count !== undefined && command !== "watch") throw usageError("--count is for watch", { field: "count" });
  return {
    kind: command,
    typeUrl,
    names: names.filter((name) => name !== "*"),
    nodeId: values.node ?? "xdsctl",
    cluster: values.cluster,
    protocol: values.delta ? "delta" : "sotw",
    output: output ?? "yaml",
    count: positiveInteger("count", values.count),
    connection,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      server: { type: "string", default: "127.0.0.1:18000" },
      node: { type: "string" },
      cluster: { type: "string" },
      output: { type: "string", short: "o" },
      delta: { type: "boolean", default: false },
      timeout: { type: "string" },
      count: { type: "string" },
      ca: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}
