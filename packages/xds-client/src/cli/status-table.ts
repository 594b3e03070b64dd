import { ClientResourceStatus } from "@nebucloud/xds-proto/envoy/admin/v3/config_dump_shared_pb";
import type { ClientStatusResponse } from "@nebucloud/xds-proto/envoy/service/status/v3/csds_pb";
import { displayTypeName } from "./type-names.js";

/** One row of `xdsctl status`. */
export interface StatusRow {
  readonly node: string;
  readonly type: string;
  readonly resource: string;
  readonly status: string;
  readonly version: string;
  readonly error: string;
}

/** The rows of a CSDS response: one per node and resource, in the server's order. */
export function statusRows(response: ClientStatusResponse): StatusRow[] {
  const rows: StatusRow[] = [];
  for (const config of response.config) {
    for (const generic of config.genericXdsConfigs) {
      rows.push({
        node: config.node?.id ?? "",
        type: displayTypeName(generic.typeUrl),
        resource: generic.name,
        status: ClientResourceStatus[generic.clientStatus] ?? String(generic.clientStatus),
        version: generic.versionInfo,
        error: generic.errorState?.details ?? "",
      });
    }
  }
  return rows;
}

const columns: ReadonlyArray<readonly [keyof StatusRow, string]> = [
  ["node", "NODE"],
  ["type", "TYPE"],
  ["resource", "RESOURCE"],
  ["status", "STATUS"],
  ["version", "VERSION"],
  ["error", "ERROR"],
];

/** The rows as a plain-text table with a header, columns padded to their widest cell. */
export function renderStatusTable(rows: readonly StatusRow[]): string {
  const cells = [columns.map(([, title]) => title), ...rows.map((row) => columns.map(([key]) => oneLine(row[key])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => (line[i] ?? "").length)));
  return `${cells
    .map((line) =>
      line
        .map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ");
}
