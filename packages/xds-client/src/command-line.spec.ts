import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { TypeUrl, XdsError } from "@nebucloud/xds-core";
import { ClientResourceStatus } from "@nebucloud/xds-proto/envoy/admin/v3/config_dump_shared_pb";
import { ClientStatusResponseSchema } from "@nebucloud/xds-proto/envoy/service/status/v3/csds_pb";
import { parseCommandLine } from "./cli/command-line.js";
import { ExitCode, exitCodeOf } from "./cli/exit-code.js";
import { renderStatusTable, statusRows } from "./cli/status-table.js";
import { resolveTypeName } from "./cli/type-names.js";

describe("xdsctl's command line", () => {
  it("accepts a type by plural, singular, short name, type URL or message name", () => {
    for (const arg of ["clusters", "cluster", "cds", "CDS", TypeUrl.Cluster, "envoy.config.cluster.v3.Cluster"]) {
      assert.equal(resolveTypeName(arg), TypeUrl.Cluster, arg);
    }
    assert.equal(resolveTypeName("scoped-routes"), TypeUrl.ScopedRoute);
    assert.equal(resolveTypeName("vhds"), TypeUrl.VirtualHost);
    assert.equal(resolveTypeName("extension-configs"), TypeUrl.ExtensionConfig);
    assert.equal(resolveTypeName("gizmos"), undefined);
  });

  it("parses get with names, the node, the output and delta", () => {
    const command = parseCommandLine([
      "get",
      "eds",
      "a",
      "b",
      "--server",
      "h:1",
      "--node",
      "n",
      "-o",
      "json",
      "--delta",
    ]);
    assert.equal(command.kind, "get");
    if (command.kind !== "get") return;
    assert.deepEqual(command.names, ["a", "b"]);
    assert.deepEqual(
      [command.typeUrl, command.nodeId, command.output, command.protocol, command.connection.server],
      [TypeUrl.Endpoint, "n", "json", "delta", "h:1"],
    );
  });

  it("defaults to 127.0.0.1:18000, node xdsctl, YAML, SotW and a 10 s timeout", () => {
    const command = parseCommandLine(["get", "clusters"]);
    if (command.kind !== "get") return assert.fail(command.kind);
    assert.deepEqual(
      [command.connection.server, command.nodeId, command.output, command.protocol, command.connection.timeoutMs],
      ["127.0.0.1:18000", "xdsctl", "yaml", "sotw", 10_000],
    );
  });

  it("refuses an unknown type with exit code 2 and the known types", () => {
    assert.throws(
      () => parseCommandLine(["get", "gizmos"]),
      (e: unknown) => e instanceof XdsError && exitCodeOf(e) === ExitCode.Usage && /clusters \(cds\)/.test(e.message),
    );
  });

  it("refuses unknown flags, commands and bad numbers as usage errors", () => {
    for (const argv of [
      ["get", "cds", "--bogus"],
      ["frobnicate"],
      ["watch", "cds", "--count", "0"],
      ["get", "cds", "--count", "1"],
    ]) {
      assert.throws(
        () => parseCommandLine(argv),
        (e: unknown) => exitCodeOf(e) === ExitCode.Usage,
        argv.join(" "),
      );
    }
  });

  it("asks for help with no command", () => {
    assert.equal(parseCommandLine([]).kind, "help");
    assert.equal(parseCommandLine(["--help"]).kind, "help");
  });
});

describe("exit codes", () => {
  it("tell unreachable, TLS, timeout and not-found apart", () => {
    const closed = (reason: string) => new XdsError("channel_closed", "x", { reason });
    assert.equal(exitCodeOf(closed("unreachable")), ExitCode.Unreachable);
    assert.equal(exitCodeOf(closed("tls")), ExitCode.Tls);
    assert.equal(exitCodeOf(closed("timeout")), ExitCode.NotFound);
    assert.equal(exitCodeOf(closed("server")), ExitCode.Failure);
    assert.equal(exitCodeOf(new XdsError("resource_not_found", "x")), ExitCode.NotFound);
    assert.equal(exitCodeOf(new Error("x")), ExitCode.Failure);
  });
});

describe("the status table", () => {
  it("has a row per node and resource with its status, version and error", () => {
    const response = create(ClientStatusResponseSchema, {
      config: [
        {
          node: { id: "n1" },
          genericXdsConfigs: [
            { typeUrl: TypeUrl.Cluster, name: "a", clientStatus: ClientResourceStatus.ACKED, versionInfo: "v1" },
            {
              typeUrl: TypeUrl.Cluster,
              name: "bad",
              clientStatus: ClientResourceStatus.NACKED,
              errorState: { details: "no\nway" },
            },
          ],
        },
      ],
    });
    const table = renderStatusTable(statusRows(response)).split("\n");
    assert.match(table[0] ?? "", /^NODE\s+TYPE\s+RESOURCE\s+STATUS\s+VERSION\s+ERROR$/);
    assert.match(table[1] ?? "", /^n1\s+clusters\s+a\s+ACKED\s+v1$/);
    assert.match(table[2] ?? "", /^n1\s+clusters\s+bad\s+NACKED\s+no way$/);
  });
});
