import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  create,
  createFileRegistry,
  type DescFile,
  type DescMessage,
  type Message,
  type MessageInitShape,
  type MessageShape,
  setExtension,
} from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import {
  anyPack,
  DescriptorProtoSchema,
  DurationSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  FieldOptionsSchema,
  FileDescriptorProtoSchema,
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  MessageOptionsSchema,
  TimestampSchema,
} from "@bufbuild/protobuf/wkt";
import { assertValid, validateResource, XdsError } from "@nebucloud/xds-core";
import { FileAccessLogSchema } from "@nebucloud/xds-proto/envoy/config/accesslog/v2/file_pb";
import {
  Cluster_DiscoveryType,
  type Cluster_LbPolicy,
  Cluster_LbPolicySchema,
  ClusterSchema,
} from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import {
  HttpGenericBodyMatch_GenericTextMatchSchema,
  Matcher_MatcherTree_MatchMapSchema,
} from "@nebucloud/xds-proto/envoy/config/common/matcher/v3/matcher_pb";
import { HeaderValueSchema, MetadataSchema, RequestMethod } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type { TypedExtensionConfigSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/extension_pb";
import {
  HealthCheck_HttpHealthCheckSchema,
  HealthCheckSchema,
  HealthStatus,
  HealthStatusSetSchema,
} from "@nebucloud/xds-proto/envoy/config/core/v3/health_check_pb";
import { HttpUriSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/http_uri_pb";
import {
  QuicKeepAliveSettingsSchema,
  SchemeHeaderTransformationSchema,
  UpstreamHttpProtocolOptionsSchema,
} from "@nebucloud/xds-proto/envoy/config/core/v3/protocol_pb";
import { UdpSocketConfigSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/udp_socket_config_pb";
import { ClusterLoadAssignmentSchema } from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import { ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import { type Permission, PermissionSchema } from "@nebucloud/xds-proto/envoy/config/rbac/v3/rbac_pb";
import {
  DirectResponseActionSchema,
  InternalRedirectPolicySchema,
  RouteMatchSchema,
} from "@nebucloud/xds-proto/envoy/config/route/v3/route_components_pb";
import { RouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";
import { AccessLogCommonSchema } from "@nebucloud/xds-proto/envoy/data/accesslog/v3/accesslog_pb";
import {
  type HttpConnectionManager,
  HttpConnectionManagerSchema,
} from "@nebucloud/xds-proto/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb";
import { ClientSideWeightedRoundRobinSchema } from "@nebucloud/xds-proto/envoy/extensions/load_balancing_policies/client_side_weighted_round_robin/v3/client_side_weighted_round_robin_pb";
import { UriTemplateMatchConfigSchema } from "@nebucloud/xds-proto/envoy/extensions/path/match/uri_template/v3/uri_template_match_pb";
import { DownstreamConnectionsConfigSchema } from "@nebucloud/xds-proto/envoy/extensions/resource_monitors/downstream_connections/v3/downstream_connections_pb";
import { PreviousPrioritiesConfigSchema } from "@nebucloud/xds-proto/envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config_pb";
import { BucketIdSchema } from "@nebucloud/xds-proto/envoy/service/rate_limit_quota/v3/rlqs_pb";
import {
  disabled as disabledOption,
  FieldRulesSchema,
  KnownRegex,
  rules as rulesOption,
} from "@nebucloud/xds-proto/validate/validate_pb";

// ---------------------------------------------------------------------------
// Helpers

/** [path, rule] of each violation, in order. */
function found(schema: DescMessage, message: Message, options?: Parameters<typeof validateResource>[2]) {
  return validateResource(schema, message, options).map((violation) => [violation.path, violation.rule]);
}

function rejects(schema: DescMessage, message: Message, path: string, rule: string) {
  assert.deepEqual(found(schema, message), [[path, rule]]);
}

function accepts(schema: DescMessage, message: Message) {
  assert.deepEqual(validateResource(schema, message), []);
}

/** What `create` takes, without the already-built message it also accepts (so that it can be spread). */
type Init<Desc extends DescMessage> = Exclude<MessageInitShape<Desc>, MessageShape<Desc>>;

const seconds = (value: number) => ({ seconds: BigInt(Math.floor(value)), nanos: Math.round((value % 1) * 1e9) });

const ads = { configSourceSpecifier: { case: "ads" as const, value: {} } };

const validHcm = (init: Init<typeof HttpConnectionManagerSchema> = {}): HttpConnectionManager =>
  create(HttpConnectionManagerSchema, {
    statPrefix: "ingress_http",
    routeSpecifier: { case: "rds", value: { routeConfigName: "local_route", configSource: ads } },
    ...init,
  });

const listenerWith = (hcm: HttpConnectionManager) =>
  create(ListenerSchema, {
    name: "listener_0",
    address: {
      address: {
        case: "socketAddress",
        value: { address: "0.0.0.0", portSpecifier: { case: "portValue", value: 10000 } },
      },
    },
    filterChains: [
      {
        filters: [
          { name: "envoy.filters.network.rbac" },
          {
            name: "envoy.filters.network.http_connection_manager",
            configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, hcm) },
          },
        ],
      },
    ],
  });

const cluster = (init: Init<typeof ClusterSchema> = {}) =>
  create(ClusterSchema, {
    name: "backend",
    connectTimeout: seconds(0.25),
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: ads },
    ...init,
  });

const routeConfiguration = (domains: string[]) =>
  create(RouteConfigurationSchema, {
    name: "local_route",
    virtualHosts: [
      {
        name: "backend",
        domains,
        routes: [
          {
            match: { pathSpecifier: { case: "prefix", value: "/" } },
            action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: "backend" } } },
          },
        ],
      },
    ],
  });

const healthCheck = (init: Init<typeof HealthCheckSchema> = {}) =>
  create(HealthCheckSchema, {
    timeout: seconds(1),
    interval: seconds(5),
    unhealthyThreshold: 3,
    healthyThreshold: 1,
    healthChecker: { case: "tcpHealthCheck", value: {} },
    ...init,
  });

/**
 * A message type built on the fly for rules no Envoy field uses (string.email,
 * timestamp.lt_now...): proto3 `message M` in its own file, whose fields carry
 * the given `validate.rules`.
 */
interface FieldSpec {
  readonly name: string;
  readonly type: FieldDescriptorProto_Type;
  /** For message and enum fields: `.google.protobuf.Duration`, `Color` (the file's enum), `Inner`. */
  readonly typeName?: string;
  readonly repeated?: boolean;
  /** A map<key, value> field; `type` is then the value type. */
  readonly mapKey?: FieldDescriptorProto_Type;
  readonly rules?: MessageInitShape<typeof FieldRulesSchema>;
  /** A bool field number set on the type-specific rules: options only a newer validate.proto declares. */
  readonly unknownRuleFlag?: number;
}

let fileCount = 0;
const dependencies = new Map<string, DescFile>(
  [
    file_google_protobuf_any,
    file_google_protobuf_duration,
    file_google_protobuf_timestamp,
    file_google_protobuf_wrappers,
  ].map((file) => [file.proto.name, file]),
);

function synthetic(
  fields: FieldSpec[],
  extra: { readonly inner?: FieldSpec[]; readonly innerOption?: "disabled" | "ignored" } = {},
): DescMessage {
  const pkg = `validate_spec_${++fileCount}`;
  const toField = (spec: FieldSpec, number: number, owner: string) => {
    const options = create(FieldOptionsSchema);
    if (spec.rules !== undefined) {
      const rules = create(FieldRulesSchema, spec.rules);
      if (spec.unknownRuleFlag !== undefined) {
        const value = rules.type.value as Message | undefined;
        assert.ok(value !== undefined);
        value.$unknown = [{ no: spec.unknownRuleFlag, wireType: WireType.Varint, data: new Uint8Array([1]) }];
      }
      setExtension(options, rulesOption, rules);
    }
    const isMap = spec.mapKey !== undefined;
    const typeName = isMap
      ? `.${pkg}.${owner}.${entryName(spec.name)}`
      : spec.typeName === undefined
        ? ""
        : spec.typeName.startsWith(".")
          ? spec.typeName
          : `.${pkg}.${spec.typeName}`;
    return create(FieldDescriptorProtoSchema, {
      name: spec.name,
      jsonName: spec.name,
      number,
      type: isMap ? FieldDescriptorProto_Type.MESSAGE : spec.type,
      label: spec.repeated || isMap ? FieldDescriptorProto_Label.REPEATED : FieldDescriptorProto_Label.OPTIONAL,
      typeName,
      options,
    });
  };
  const entryName = (name: string) => `${name.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase())}Entry`;
  const message = (name: string, specs: FieldSpec[], options?: MessageInitShape<typeof MessageOptionsSchema>) =>
    create(DescriptorProtoSchema, {
      name,
      field: specs.map((spec, i) => toField(spec, i + 1, name)),
      nestedType: specs
        .filter((spec) => spec.mapKey !== undefined)
        .map((spec) =>
          create(DescriptorProtoSchema, {
            name: entryName(spec.name),
            field: [
              toField({ name: "key", type: spec.mapKey as FieldDescriptorProto_Type }, 1, name),
              toField(
                { name: "value", type: spec.type, ...(spec.typeName ? { typeName: spec.typeName } : {}) },
                2,
                name,
              ),
            ],
            options: { mapEntry: true },
          }),
        ),
      ...(options === undefined ? {} : { options }),
    });
  let innerOptions: MessageInitShape<typeof MessageOptionsSchema> | undefined;
  if (extra.innerOption === "disabled") {
    const options = create(MessageOptionsSchema);
    setExtension(options, disabledOption, true);
    innerOptions = options;
  } else if (extra.innerOption === "ignored") {
    // validate.ignored (1072) is not in this build's validate.proto: set it as the raw option.
    const options = create(MessageOptionsSchema);
    options.$unknown = [{ no: 1072, wireType: WireType.Varint, data: new Uint8Array([1]) }];
    innerOptions = options;
  }
  const file = create(FileDescriptorProtoSchema, {
    name: `${pkg}.proto`,
    package: pkg,
    syntax: "proto3",
    dependency: [...dependencies.keys()],
    messageType: [message("M", fields), message("Inner", extra.inner ?? [], innerOptions)],
    enumType: [
      {
        name: "Color",
        value: [
          { name: "COLOR_UNSPECIFIED", number: 0 },
          { name: "RED", number: 1 },
          { name: "GREEN", number: 2 },
        ],
      },
    ],
  });
  const schema = createFileRegistry(file, (name) => dependencies.get(name)).getMessage(`${pkg}.M`);
  assert.ok(schema !== undefined);
  return schema;
}

const T = FieldDescriptorProto_Type;

/** A synthetic message with one field `v` under `rules`, and a function making instances from `v`'s value. */
function single(type: FieldDescriptorProto_Type, rules: MessageInitShape<typeof FieldRulesSchema>, typeName?: string) {
  const schema = synthetic([{ name: "v", type, rules, ...(typeName === undefined ? {} : { typeName }) }]);
  return {
    schema,
    make: (value: unknown) => create(schema, value === undefined ? {} : ({ v: value } as never)),
    rule: (value: unknown) => found(schema, create(schema, value === undefined ? {} : ({ v: value } as never))),
  };
}

// ---------------------------------------------------------------------------

describe("validateResource: strings", () => {
  it("rejects a Cluster whose name is empty (string.min_len)", () => {
    rejects(ClusterSchema, cluster({ name: "" }), "name", "string.min_len");
  });

  it("rejects a ClusterLoadAssignment whose cluster_name is empty (string.min_len)", () => {
    const cla = create(ClusterLoadAssignmentSchema, { clusterName: "" });
    rejects(ClusterLoadAssignmentSchema, cla, "cluster_name", "string.min_len");
    const [violation] = validateResource(ClusterLoadAssignmentSchema, cla);
    assert.match(violation?.message ?? "", /cluster_name must be at least 1 character long, got ""/);
  });

  it("accepts a Cluster and a ClusterLoadAssignment with names", () => {
    accepts(ClusterSchema, cluster());
    accepts(ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, { clusterName: "backend" }));
  });

  it("counts string.min_len/max_len in code points, not UTF-16 units", () => {
    // UriTemplateMatchConfig.path_template: min_len 1, max_len 256.
    const template = (path: string) => create(UriTemplateMatchConfigSchema, { pathTemplate: path });
    accepts(UriTemplateMatchConfigSchema, template(`/${"😀".repeat(255)}`)); // 256 code points, 511 units
    rejects(UriTemplateMatchConfigSchema, template(`/${"😀".repeat(256)}`), "path_template", "string.max_len");
    rejects(UriTemplateMatchConfigSchema, template(""), "path_template", "string.min_len");
  });

  it("rejects a v2 FileAccessLog whose path is empty (string.min_bytes) and accepts one with a path", () => {
    rejects(FileAccessLogSchema, create(FileAccessLogSchema, { path: "" }), "path", "string.min_bytes");
    accepts(FileAccessLogSchema, create(FileAccessLogSchema, { path: "/dev/stdout" }));
  });

  it("rejects a HeaderValue key longer than 16384 bytes (string.max_bytes), counting UTF-8 bytes", () => {
    accepts(HeaderValueSchema, create(HeaderValueSchema, { key: "x".repeat(16384) }));
    // 8193 two-byte characters: 8193 code points but 16386 bytes.
    const wide = create(HeaderValueSchema, { key: "é".repeat(8193) });
    assert.deepEqual(found(HeaderValueSchema, wide), [["key", "string.max_bytes"]]);
  });

  it("rejects a header name with a newline (string.well_known_regex HTTP_HEADER_NAME, strict: false)", () => {
    const routes = create(RouteConfigurationSchema, {
      name: "r",
      requestHeadersToAdd: [{ header: { key: "x-bad\nname", value: "v" } }],
    });
    rejects(RouteConfigurationSchema, routes, "request_headers_to_add[0].header.key", "string.well_known_regex");
    const ok = create(RouteConfigurationSchema, {
      name: "r",
      requestHeadersToAdd: [{ header: { key: "x-request-id", value: "v" } }],
    });
    accepts(RouteConfigurationSchema, ok);
  });

  it("rejects a header value with a NUL (string.well_known_regex HTTP_HEADER_VALUE, strict: false)", () => {
    rejects(
      HeaderValueSchema,
      create(HeaderValueSchema, { key: "k", value: "a\u0000b" }),
      "value",
      "string.well_known_regex",
    );
    accepts(HeaderValueSchema, create(HeaderValueSchema, { key: "k", value: "a\tb" }));
  });

  it("applies the strict header regexes when strict is left at its default (true)", () => {
    // HttpHealthCheck.host: {well_known_regex: HTTP_HEADER_VALUE} (strict); a DEL character is not allowed.
    const check = (host: string) => create(HealthCheck_HttpHealthCheckSchema, { host, path: "/healthz" });
    rejects(HealthCheck_HttpHealthCheckSchema, check("example.com\u007f"), "host", "string.well_known_regex");
    accepts(HealthCheck_HttpHealthCheckSchema, check("example.com"));
  });

  it("skips rules on an empty string under ignore_empty and applies strict HTTP_HEADER_NAME otherwise", () => {
    // UpstreamHttpProtocolOptions.override_auto_sni_header: {well_known_regex: HTTP_HEADER_NAME ignore_empty: true}.
    const options = (header: string) => create(UpstreamHttpProtocolOptionsSchema, { overrideAutoSniHeader: header });
    accepts(UpstreamHttpProtocolOptionsSchema, options(""));
    accepts(UpstreamHttpProtocolOptionsSchema, options(":authority"));
    rejects(UpstreamHttpProtocolOptionsSchema, options("x sni"), "override_auto_sni_header", "string.well_known_regex");
  });

  it("rejects a scheme outside string.in and accepts one inside", () => {
    // HttpConnectionManager.scheme_header_transformation.scheme_to_overwrite: in ["http", "https"].
    const transformation = (scheme: string) =>
      create(SchemeHeaderTransformationSchema, { transformation: { case: "schemeToOverwrite", value: scheme } });
    rejects(SchemeHeaderTransformationSchema, transformation("ftp"), "scheme_to_overwrite", "string.in");
    accepts(SchemeHeaderTransformationSchema, transformation("https"));
  });

  it("matches string.pattern against the whole value (RouteMatch.path_separated_prefix)", () => {
    const match = (prefix: string) =>
      create(RouteMatchSchema, { pathSpecifier: { case: "pathSeparatedPrefix", value: prefix } });
    rejects(RouteMatchSchema, match("/api/"), "path_separated_prefix", "string.pattern");
    rejects(RouteMatchSchema, match("/api?x=1"), "path_separated_prefix", "string.pattern");
    accepts(RouteMatchSchema, match("/api"));
  });

  it("does not check an unselected oneof member's rules", () => {
    accepts(RouteMatchSchema, create(RouteMatchSchema, { pathSpecifier: { case: "prefix", value: "" } }));
  });

  describe("rules no Envoy field uses (synthetic message types)", () => {
    it("string.const, string.len, string.len_bytes", () => {
      assert.deepEqual(single(T.STRING, { type: { case: "string", value: { const: "a" } } }).rule("b"), [
        ["v", "string.const"],
      ]);
      assert.deepEqual(single(T.STRING, { type: { case: "string", value: { const: "a" } } }).rule("a"), []);
      const len = single(T.STRING, { type: { case: "string", value: { len: 2n } } });
      assert.deepEqual(len.rule("😀😀"), []);
      assert.deepEqual(len.rule("abc"), [["v", "string.len"]]);
      const lenBytes = single(T.STRING, { type: { case: "string", value: { lenBytes: 4n } } });
      assert.deepEqual(lenBytes.rule("😀"), []);
      assert.deepEqual(lenBytes.rule("abc"), [["v", "string.len_bytes"]]);
    });

    it("string.prefix, suffix, contains, not_contains, not_in", () => {
      const rules = single(T.STRING, {
        type: {
          case: "string",
          value: {
            prefix: "envoy.",
            suffix: ".v3",
            contains: "filters",
            notContains: "deprecated",
            notIn: ["envoy.x.v3"],
          },
        },
      });
      assert.deepEqual(rules.rule("envoy.filters.http.v3"), []);
      assert.deepEqual(rules.rule("istio.filters.v2"), [
        ["v", "string.prefix"],
        ["v", "string.suffix"],
      ]);
      assert.deepEqual(rules.rule("envoy.deprecated.v3"), [
        ["v", "string.contains"],
        ["v", "string.not_contains"],
      ]);
      // PGV's order: const, in, not_in, lengths, affixes, well-known formats, pattern.
      assert.deepEqual(rules.rule("envoy.x.v3"), [
        ["v", "string.not_in"],
        ["v", "string.contains"],
      ]);
    });

    const wellKnown = (value: MessageInitShape<typeof FieldRulesSchema>) => single(T.STRING, value);
    const cases: [string, string, string[], string[]][] = [
      ["email", "string.email", ["admin@example.com", "Admin <admin@example.com>"], ["admin", "a@b@", "@example.com"]],
      [
        "hostname",
        "string.hostname",
        ["example.com", "a-1.example.com."],
        ["-a.com", "a..b", "a_b.com", "x".repeat(64)],
      ],
      ["ip", "string.ip", ["10.0.0.1", "::1", "2001:db8::8a2e:370:7334"], ["10.0.0", "1:2:3:4:5:6:7:8:9", "localhost"]],
      ["ipv4", "string.ipv4", ["192.168.0.1", "0.0.0.0"], ["256.0.0.1", "01.2.3.4", "::1"]],
      ["ipv6", "string.ipv6", ["::", "fe80::1", "::ffff:10.0.0.1"], ["10.0.0.1", "fe80::1%eth0", "1::2::3"]],
      [
        "uri",
        "string.uri",
        ["https://example.com/a?b=c#d", "urn:isbn:0451450523"],
        ["/relative/path", "http://a b", "%zz"],
      ],
      ["uriRef", "string.uri_ref", ["/relative/path?x=1", "https://example.com"], ["a b", "%zz", "a#b#c"]],
      ["address", "string.address", ["example.com", "10.0.0.1", "::1"], ["exa mple.com", "-bad"]],
      ["uuid", "string.uuid", ["123e4567-e89b-12d3-a456-426614174000"], ["123e4567e89b12d3a456426614174000", "xyz"]],
    ];
    for (const [kind, rule, good, bad] of cases) {
      it(`${rule}: accepts ${good.length} and rejects ${bad.length} values`, () => {
        const message = wellKnown({
          type: { case: "string", value: { wellKnown: { case: kind, value: true } as never } },
        });
        for (const value of good) assert.deepEqual(message.rule(value), [], `${rule} should accept ${value}`);
        for (const value of bad) assert.deepEqual(message.rule(value), [["v", rule]], `${rule} should reject ${value}`);
      });
    }

    it("string.well_known_regex HTTP_HEADER_NAME strict rejects spaces and allows a leading colon", () => {
      const header = wellKnown({
        type: { case: "string", value: { wellKnown: { case: "wellKnownRegex", value: KnownRegex.HTTP_HEADER_NAME } } },
      });
      assert.deepEqual(header.rule(":path"), []);
      assert.deepEqual(header.rule("x header"), [["v", "string.well_known_regex"]]);
      assert.deepEqual(header.rule(""), [["v", "string.well_known_regex"]]);
    });

    it("string.pattern translates RE2 inline flags", () => {
      const pattern = single(T.STRING, { type: { case: "string", value: { pattern: "(?i)^[a-z]+$" } } });
      assert.deepEqual(pattern.rule("Envoy"), []);
      assert.deepEqual(pattern.rule("Envoy1"), [["v", "string.pattern"]]);
    });

    it("string rules on a StringValue apply only when it is set; on a plain proto3 string, also to its default", () => {
      const wrapper = single(
        T.MESSAGE,
        { type: { case: "string", value: { minLen: 3n } } },
        ".google.protobuf.StringValue",
      );
      assert.deepEqual(wrapper.rule(undefined), []);
      assert.deepEqual(wrapper.rule("ab"), [["v", "string.min_len"]]);
      assert.deepEqual(wrapper.rule("abc"), []);
      const plain = single(T.STRING, { type: { case: "string", value: { minLen: 3n } } });
      assert.deepEqual(plain.rule(undefined), [["v", "string.min_len"]]);
    });
  });
});

describe("validateResource: numbers and bools", () => {
  it("rejects an LbEndpoint load_balancing_weight of 0 (uint32.gte 1 on a UInt32Value wrapper)", () => {
    const cla = (weight: number | undefined) =>
      create(ClusterLoadAssignmentSchema, {
        clusterName: "backend",
        endpoints: [{ lbEndpoints: [weight === undefined ? {} : { loadBalancingWeight: weight }] }],
      });
    rejects(ClusterLoadAssignmentSchema, cla(0), "endpoints[0].lb_endpoints[0].load_balancing_weight", "uint32.gte");
    accepts(ClusterLoadAssignmentSchema, cla(1));
    accepts(ClusterLoadAssignmentSchema, cla(undefined)); // an unset wrapper is not checked
  });

  it("rejects max_request_headers_kb outside (0, 8192] (uint32.gt, uint32.lte) and accepts 60", () => {
    rejects(HttpConnectionManagerSchema, validHcm({ maxRequestHeadersKb: 0 }), "max_request_headers_kb", "uint32.gt");
    rejects(
      HttpConnectionManagerSchema,
      validHcm({ maxRequestHeadersKb: 8193 }),
      "max_request_headers_kb",
      "uint32.lte",
    );
    accepts(HttpConnectionManagerSchema, validHcm({ maxRequestHeadersKb: 60 }));
  });

  it("rejects a direct response status outside [200, 600) (uint32.gte, uint32.lt) and accepts 503", () => {
    const action = (status: number) => create(DirectResponseActionSchema, { status });
    rejects(DirectResponseActionSchema, action(99), "status", "uint32.gte");
    rejects(DirectResponseActionSchema, action(600), "status", "uint32.lt");
    accepts(DirectResponseActionSchema, action(503));
    const [violation] = validateResource(DirectResponseActionSchema, action(99));
    assert.equal(violation?.message, "status must be inside the range [200, 600), got 99");
  });

  it("rejects a source port of 0 in a list (repeated.items uint32.gte)", () => {
    const listener = (ports: number[]) =>
      create(ListenerSchema, { name: "l", filterChains: [{ filterChainMatch: { sourcePorts: ports } }] });
    rejects(ListenerSchema, listener([443, 0]), "filter_chains[0].filter_chain_match.source_ports[1]", "uint32.gte");
    accepts(ListenerSchema, listener([443, 8443]));
  });

  it("rejects a UInt64Value max_rx_datagram_size of 0 or 65536 (uint64.gt, uint64.lt)", () => {
    const udp = (size: bigint) => create(UdpSocketConfigSchema, { maxRxDatagramSize: size });
    rejects(UdpSocketConfigSchema, udp(0n), "max_rx_datagram_size", "uint64.gt");
    rejects(UdpSocketConfigSchema, udp(65536n), "max_rx_datagram_size", "uint64.lt");
    accepts(UdpSocketConfigSchema, udp(1500n));
  });

  it("rejects a ring hash minimum_ring_size above 8388608 (uint64.lte inside a oneof member)", () => {
    const ringHash = (size: bigint) =>
      cluster({ lbConfig: { case: "ringHashLbConfig", value: { minimumRingSize: size } } });
    rejects(ClusterSchema, ringHash(8388609n), "ring_hash_lb_config.minimum_ring_size", "uint64.lte");
    accepts(ClusterSchema, ringHash(1024n));
  });

  it("rejects an int32 update_frequency of 0 (int32.gt) and accepts 2", () => {
    const config = (frequency: number) => create(PreviousPrioritiesConfigSchema, { updateFrequency: frequency });
    rejects(PreviousPrioritiesConfigSchema, config(0), "update_frequency", "int32.gt");
    accepts(PreviousPrioritiesConfigSchema, config(2));
  });

  it("rejects an int64 max_active_downstream_connections of -1 (int64.gt) and accepts 1000", () => {
    const config = (max: bigint) => create(DownstreamConnectionsConfigSchema, { maxActiveDownstreamConnections: max });
    rejects(DownstreamConnectionsConfigSchema, config(-1n), "max_active_downstream_connections", "int64.gt");
    accepts(DownstreamConnectionsConfigSchema, config(1000n));
  });

  it("rejects a negative FloatValue error_utilization_penalty (float.gte) and accepts 1.5", () => {
    const config = (penalty: number) =>
      create(ClientSideWeightedRoundRobinSchema, { errorUtilizationPenalty: penalty });
    rejects(ClientSideWeightedRoundRobinSchema, config(-0.5), "error_utilization_penalty", "float.gte");
    accepts(ClientSideWeightedRoundRobinSchema, config(1.5));
  });

  it("rejects a preconnect ratio outside [1, 3] (double.gte, double.lte on a DoubleValue)", () => {
    const preconnect = (ratio: number) => cluster({ preconnectPolicy: { perUpstreamPreconnectRatio: ratio } });
    rejects(ClusterSchema, preconnect(0.5), "preconnect_policy.per_upstream_preconnect_ratio", "double.gte");
    rejects(ClusterSchema, preconnect(3.5), "preconnect_policy.per_upstream_preconnect_ratio", "double.lte");
    accepts(ClusterSchema, preconnect(1.5));
  });

  it("rejects an access log sample_rate of 0 (double.gt) and accepts 1", () => {
    rejects(AccessLogCommonSchema, create(AccessLogCommonSchema, { sampleRate: 0 }), "sample_rate", "double.gt");
    accepts(AccessLogCommonSchema, create(AccessLogCommonSchema, { sampleRate: 1 }));
  });

  it("rejects an RBAC permission with any: false (bool.const true) and accepts any: true", () => {
    const permission = (any: boolean) => create(PermissionSchema, { rule: { case: "any", value: any } });
    rejects(PermissionSchema, permission(false), "any", "bool.const");
    accepts(PermissionSchema, permission(true));
  });

  describe("rules no Envoy field uses (synthetic message types)", () => {
    it("int32.const, in, not_in", () => {
      assert.deepEqual(single(T.INT32, { type: { case: "int32", value: { const: 7 } } }).rule(8), [
        ["v", "int32.const"],
      ]);
      const within = single(T.INT32, { type: { case: "int32", value: { in: [1, 2, 3] } } });
      assert.deepEqual(within.rule(2), []);
      assert.deepEqual(within.rule(4), [["v", "int32.in"]]);
      const without = single(T.INT32, { type: { case: "int32", value: { notIn: [0] } } });
      assert.deepEqual(without.rule(0), [["v", "int32.not_in"]]);
      assert.deepEqual(without.rule(1), []);
    });

    it("an exclusive range (gt above lt) rejects values inside it", () => {
      // {gt: 10, lt: 5}: the value must be < 5 or > 10.
      const outside = single(T.SINT32, { type: { case: "sint32", value: { gt: 10, lt: 5 } } });
      assert.deepEqual(outside.rule(4), []);
      assert.deepEqual(outside.rule(11), []);
      assert.deepEqual(outside.rule(5), [["v", "sint32.gt"]]);
      assert.deepEqual(outside.rule(10), [["v", "sint32.gt"]]);
      const message = validateResource(outside.schema, outside.make(7))[0]?.message;
      assert.equal(message, "v must be outside the range [5, 10], got 7");
      // {gte: 10, lte: 5}: the value must be <= 5 or >= 10.
      const inclusive = single(T.SFIXED64, { type: { case: "sfixed64", value: { gte: 10n, lte: 5n } } });
      assert.deepEqual(inclusive.rule(5n), []);
      assert.deepEqual(inclusive.rule(10n), []);
      assert.deepEqual(inclusive.rule(6n), [["v", "sfixed64.gte"]]);
    });

    it("fixed32, fixed64, sint64, uint64 ranges and in", () => {
      assert.deepEqual(single(T.FIXED32, { type: { case: "fixed32", value: { lte: 10 } } }).rule(11), [
        ["v", "fixed32.lte"],
      ]);
      assert.deepEqual(single(T.FIXED64, { type: { case: "fixed64", value: { gt: 0n } } }).rule(0n), [
        ["v", "fixed64.gt"],
      ]);
      assert.deepEqual(single(T.SINT64, { type: { case: "sint64", value: { in: [-1n, 1n] } } }).rule(-1n), []);
      assert.deepEqual(single(T.UINT64, { type: { case: "uint64", value: { notIn: [5n] } } }).rule(5n), [
        ["v", "uint64.not_in"],
      ]);
    });

    it("float rules compare float32 values", () => {
      // 0.1 as a float32 is 0.100000001490116...; a double 0.1 field value rounds to it.
      const constant = single(T.FLOAT, { type: { case: "float", value: { const: 0.1 } } });
      assert.deepEqual(constant.rule(0.1), []);
      assert.deepEqual(constant.rule(0.2), [["v", "float.const"]]);
    });

    it("ignore_empty (from a newer validate.proto) skips a zero number", () => {
      const schema = synthetic([
        {
          name: "v",
          type: T.UINT32,
          rules: { type: { case: "uint32", value: { gte: 10 } } },
          unknownRuleFlag: 8,
        },
      ]);
      assert.deepEqual(found(schema, create(schema, { v: 0 } as never)), []);
      assert.deepEqual(found(schema, create(schema, { v: 5 } as never)), [["v", "uint32.gte"]]);
    });

    it("bool.const false", () => {
      const flag = single(T.BOOL, { type: { case: "bool", value: { const: false } } });
      assert.deepEqual(flag.rule(true), [["v", "bool.const"]]);
      assert.deepEqual(flag.rule(false), []);
    });
  });
});

describe("validateResource: bytes", () => {
  it("rejects an empty binary_match (bytes.min_len) and accepts one byte", () => {
    const match = (bytes: Uint8Array) =>
      create(HttpGenericBodyMatch_GenericTextMatchSchema, { rule: { case: "binaryMatch", value: bytes } });
    rejects(HttpGenericBodyMatch_GenericTextMatchSchema, match(new Uint8Array()), "binary_match", "bytes.min_len");
    accepts(HttpGenericBodyMatch_GenericTextMatchSchema, match(new Uint8Array([0xca])));
  });

  it("rejects a raw_value over 16384 bytes (bytes.max_len)", () => {
    const header = (size: number) => create(HeaderValueSchema, { key: "k", rawValue: new Uint8Array(size) });
    rejects(HeaderValueSchema, header(16385), "raw_value", "bytes.max_len");
    accepts(HeaderValueSchema, header(16384));
  });

  describe("rules no Envoy field uses (synthetic message types)", () => {
    const bytes = (...values: number[]) => new Uint8Array(values);

    it("bytes.const, len, prefix, suffix, contains, in, not_in", () => {
      const constant = single(T.BYTES, { type: { case: "bytes", value: { const: bytes(1, 2) } } });
      assert.deepEqual(constant.rule(bytes(1, 2)), []);
      assert.deepEqual(constant.rule(bytes(1, 3)), [["v", "bytes.const"]]);
      assert.deepEqual(single(T.BYTES, { type: { case: "bytes", value: { len: 3n } } }).rule(bytes(1)), [
        ["v", "bytes.len"],
      ]);
      const affixes = single(T.BYTES, {
        type: { case: "bytes", value: { prefix: bytes(0xca), suffix: bytes(0xfe), contains: bytes(0xba, 0xbe) } },
      });
      assert.deepEqual(affixes.rule(bytes(0xca, 0xba, 0xbe, 0xfe)), []);
      assert.deepEqual(affixes.rule(bytes(0xfe, 0xba, 0xca)), [
        ["v", "bytes.prefix"],
        ["v", "bytes.suffix"],
        ["v", "bytes.contains"],
      ]);
      const member = single(T.BYTES, {
        type: { case: "bytes", value: { in: [bytes(1), bytes(2)], notIn: [bytes(2)] } },
      });
      assert.deepEqual(member.rule(bytes(1)), []);
      assert.deepEqual(member.rule(bytes(2)), [["v", "bytes.not_in"]]);
      assert.deepEqual(member.rule(bytes(3)), [["v", "bytes.in"]]);
    });

    it("bytes.pattern matches the UTF-8 text of the bytes", () => {
      const pattern = single(T.BYTES, { type: { case: "bytes", value: { pattern: "^[a-z]+$" } } });
      assert.deepEqual(pattern.rule(new TextEncoder().encode("envoy")), []);
      assert.deepEqual(pattern.rule(new TextEncoder().encode("Envoy")), [["v", "bytes.pattern"]]);
    });

    it("bytes.ip, ipv4, ipv6 check the address length", () => {
      const ip = single(T.BYTES, { type: { case: "bytes", value: { wellKnown: { case: "ip", value: true } } } });
      assert.deepEqual(ip.rule(new Uint8Array(4)), []);
      assert.deepEqual(ip.rule(new Uint8Array(16)), []);
      assert.deepEqual(ip.rule(new Uint8Array(5)), [["v", "bytes.ip"]]);
      const v4 = single(T.BYTES, { type: { case: "bytes", value: { wellKnown: { case: "ipv4", value: true } } } });
      assert.deepEqual(v4.rule(new Uint8Array(16)), [["v", "bytes.ipv4"]]);
      const v6 = single(T.BYTES, { type: { case: "bytes", value: { wellKnown: { case: "ipv6", value: true } } } });
      assert.deepEqual(v6.rule(new Uint8Array(16)), []);
    });

    it("bytes ignore_empty (from a newer validate.proto)", () => {
      const schema = synthetic([
        { name: "v", type: T.BYTES, rules: { type: { case: "bytes", value: { len: 4n } } }, unknownRuleFlag: 14 },
      ]);
      assert.deepEqual(found(schema, create(schema)), []);
      assert.deepEqual(found(schema, create(schema, { v: bytes(1) } as never)), [["v", "bytes.len"]]);
    });
  });
});

describe("validateResource: enums", () => {
  it("rejects a Cluster lb_policy that is not a defined LbPolicy (enum.defined_only)", () => {
    rejects(ClusterSchema, cluster({ lbPolicy: 99 as Cluster_LbPolicy }), "lb_policy", "enum.defined_only");
    const [violation] = validateResource(ClusterSchema, cluster({ lbPolicy: 99 as Cluster_LbPolicy }));
    assert.match(
      violation?.message ?? "",
      /lb_policy must be a value defined by envoy\.config\.cluster\.v3\.Cluster\.LbPolicy, got 99/,
    );
  });

  it("rejects an undefined discovery type held in a oneof (enum.defined_only)", () => {
    rejects(
      ClusterSchema,
      cluster({ clusterDiscoveryType: { case: "type", value: 42 as Cluster_DiscoveryType } }),
      "type",
      "enum.defined_only",
    );
  });

  it("rejects an undefined health status in a list (repeated.items enum.defined_only)", () => {
    const set = (statuses: HealthStatus[]) => create(HealthStatusSetSchema, { statuses });
    rejects(HealthStatusSetSchema, set([HealthStatus.HEALTHY, 77 as HealthStatus]), "statuses[1]", "enum.defined_only");
    accepts(HealthStatusSetSchema, set([HealthStatus.HEALTHY, HealthStatus.DRAINING]));
  });

  it("rejects a health check method of CONNECT (enum.not_in) and accepts GET", () => {
    const check = (method: RequestMethod) => create(HealthCheck_HttpHealthCheckSchema, { path: "/healthz", method });
    rejects(HealthCheck_HttpHealthCheckSchema, check(RequestMethod.CONNECT), "method", "enum.not_in");
    accepts(HealthCheck_HttpHealthCheckSchema, check(RequestMethod.GET));
  });

  it("accepts every defined value of a Cluster enum", () => {
    for (const value of Cluster_LbPolicySchema.values) {
      assert.deepEqual(found(ClusterSchema, cluster({ lbPolicy: value.number })), [], value.name);
    }
  });

  describe("rules no Envoy field uses (synthetic message types)", () => {
    it("enum.const and enum.in", () => {
      const constant = single(T.ENUM, { type: { case: "enum", value: { const: 1 } } }, "Color");
      assert.deepEqual(constant.rule(1), []);
      assert.deepEqual(constant.rule(2), [["v", "enum.const"]]);
      const member = single(T.ENUM, { type: { case: "enum", value: { in: [1, 2] } } }, "Color");
      assert.deepEqual(member.rule(2), []);
      assert.deepEqual(member.rule(0), [["v", "enum.in"]]);
      const [violation] = validateResource(member.schema, member.make(0));
      assert.equal(violation?.message, "v must be one of [RED (1), GREEN (2)], got COLOR_UNSPECIFIED (0)");
    });
  });
});

describe("validateResource: messages and oneofs", () => {
  it("rejects an HttpConnectionManager with no route_specifier (oneof.required)", () => {
    const hcm = create(HttpConnectionManagerSchema, { statPrefix: "ingress_http" });
    rejects(HttpConnectionManagerSchema, hcm, "route_specifier", "oneof.required");
    accepts(HttpConnectionManagerSchema, validHcm());
  });

  it("rejects Rds without a config_source (message.required)", () => {
    const hcm = validHcm({ routeSpecifier: { case: "rds", value: { routeConfigName: "local_route" } } });
    rejects(HttpConnectionManagerSchema, hcm, "rds.config_source", "message.required");
  });

  it("rejects a HealthCheck without unhealthy_threshold (message.required on a wrapper)", () => {
    const check = healthCheck();
    check.unhealthyThreshold = undefined;
    rejects(HealthCheckSchema, check, "unhealthy_threshold", "message.required");
    accepts(HealthCheckSchema, healthCheck({ unhealthyThreshold: 0 })); // set, even if 0
  });

  it("recurses into nested messages and reports every violation with its path", () => {
    const cla = create(ClusterLoadAssignmentSchema, {
      clusterName: "",
      endpoints: [
        {
          lbEndpoints: [
            {
              hostIdentifier: {
                case: "endpoint",
                value: {
                  address: {
                    address: {
                      case: "socketAddress",
                      value: { address: "", portSpecifier: { case: "portValue", value: 70000 } },
                    },
                  },
                },
              },
            },
          ],
        },
      ],
    });
    assert.deepEqual(found(ClusterLoadAssignmentSchema, cla), [
      ["cluster_name", "string.min_len"],
      ["endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address", "string.min_len"],
      ["endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value", "uint32.lte"],
    ]);
  });

  it("stops at maxDepth (RBAC permissions nested 40 deep)", () => {
    let permission: Permission = create(PermissionSchema, { rule: { case: "any", value: false } });
    for (let i = 0; i < 40; i++)
      permission = create(PermissionSchema, { rule: { case: "notRule", value: permission } });
    assert.deepEqual(validateResource(PermissionSchema, permission), []);
    const deep = validateResource(PermissionSchema, permission, { maxDepth: 64 });
    assert.equal(deep.length, 1);
    assert.equal(deep[0]?.path, `${"not_rule.".repeat(40)}any`);
    assert.equal(deep[0]?.rule, "bool.const");
  });

  describe("rules no Envoy field uses (synthetic message types)", () => {
    const inner: FieldSpec[] = [
      { name: "name", type: T.STRING, rules: { type: { case: "string", value: { minLen: 1n } } } },
    ];

    it("message.skip: the nested message's rules are not checked", () => {
      const schema = synthetic(
        [
          { name: "checked", type: T.MESSAGE, typeName: "Inner" },
          { name: "skipped", type: T.MESSAGE, typeName: "Inner", rules: { message: { skip: true } } },
        ],
        { inner },
      );
      const message = create(schema, { checked: {}, skipped: {} } as never);
      assert.deepEqual(found(schema, message), [["checked.name", "string.min_len"]]);
    });

    it("validate.disabled and validate.ignored: a message type's own rules are off, message.required still holds", () => {
      for (const option of ["disabled", "ignored"] as const) {
        const schema = synthetic(
          [{ name: "inner", type: T.MESSAGE, typeName: "Inner", rules: { message: { required: true } } }],
          { inner, innerOption: option },
        );
        assert.deepEqual(found(schema, create(schema, { inner: {} } as never)), [], option);
        assert.deepEqual(found(schema, create(schema)), [["inner", "message.required"]], option);
      }
    });
  });
});

describe("validateResource: repeated and maps", () => {
  it("rejects a virtual host with no domains (repeated.min_items)", () => {
    rejects(RouteConfigurationSchema, routeConfiguration([]), "virtual_hosts[0].domains", "repeated.min_items");
    accepts(RouteConfigurationSchema, routeConfiguration(["*"]));
  });

  it("applies repeated.items to each domain (HTTP_HEADER_VALUE, strict: false)", () => {
    rejects(
      RouteConfigurationSchema,
      routeConfiguration(["example.com", "bad\r\ndomain"]),
      "virtual_hosts[0].domains[1]",
      "string.well_known_regex",
    );
  });

  it("rejects more than 1000 headers to add (repeated.max_items)", () => {
    const header = { header: { key: "x-a", value: "1" } };
    const routes = (count: number) =>
      create(RouteConfigurationSchema, { name: "r", requestHeadersToAdd: Array.from({ length: count }, () => header) });
    rejects(RouteConfigurationSchema, routes(1001), "request_headers_to_add", "repeated.max_items");
    accepts(RouteConfigurationSchema, routes(1000));
  });

  it("rejects a repeated header in response_headers_to_copy (repeated.unique)", () => {
    const policy = (headers: string[]) => create(InternalRedirectPolicySchema, { responseHeadersToCopy: headers });
    rejects(
      InternalRedirectPolicySchema,
      policy(["x-a", "x-b", "x-a"]),
      "response_headers_to_copy[2]",
      "repeated.unique",
    );
    accepts(InternalRedirectPolicySchema, policy(["x-a", "x-b"]));
  });

  it("rejects an empty matcher map (map.min_pairs)", () => {
    const map = create(Matcher_MatcherTree_MatchMapSchema, {});
    rejects(Matcher_MatcherTree_MatchMapSchema, map, "map", "map.min_pairs");
    const matched = create(Matcher_MatcherTree_MatchMapSchema, {
      map: {
        "/a": {
          onMatch: {
            case: "action",
            value: { name: "a", typedConfig: anyPack(DurationSchema, create(DurationSchema)) },
          },
        },
      },
    });
    accepts(Matcher_MatcherTree_MatchMapSchema, matched);
  });

  it("rejects metadata with an empty filter name (map.keys string.min_len)", () => {
    const metadata = create(MetadataSchema, { filterMetadata: { "": { a: 1 }, "envoy.lb": { canary: true } } });
    rejects(MetadataSchema, metadata, 'filter_metadata[""]', "string.min_len");
    const [violation] = validateResource(MetadataSchema, metadata);
    assert.match(violation?.message ?? "", /^the key "" of filter_metadata must be at least 1 character long/);
    accepts(MetadataSchema, create(MetadataSchema, { filterMetadata: { "envoy.lb": { canary: true } } }));
  });

  it("rejects a bucket id with an empty value (map.values string.min_len)", () => {
    const bucket = (entries: Record<string, string>) => create(BucketIdSchema, { bucket: entries });
    rejects(BucketIdSchema, bucket({ name: "" }), 'bucket["name"]', "string.min_len");
    rejects(BucketIdSchema, bucket({}), "bucket", "map.min_pairs");
    accepts(BucketIdSchema, bucket({ name: "web" }));
  });

  describe("rules no Envoy field uses (synthetic message types)", () => {
    it("map.max_pairs, and map keys of a non-string type", () => {
      const schema = synthetic([
        {
          name: "v",
          type: T.STRING,
          mapKey: T.INT32,
          rules: {
            type: { case: "map", value: { maxPairs: 1n, keys: { type: { case: "int32", value: { gt: 0 } } } } },
          },
        },
      ]);
      assert.deepEqual(found(schema, create(schema, { v: { 1: "a" } } as never)), []);
      assert.deepEqual(found(schema, create(schema, { v: { 1: "a", 0: "b" } } as never)), [
        ["v", "map.max_pairs"],
        ["v[0]", "int32.gt"],
      ]);
    });

    it("repeated and map ignore_empty (from a newer validate.proto)", () => {
      const schema = synthetic([
        {
          name: "list",
          type: T.STRING,
          repeated: true,
          rules: { type: { case: "repeated", value: { minItems: 2n } } },
          unknownRuleFlag: 5,
        },
        {
          name: "map",
          type: T.STRING,
          mapKey: T.STRING,
          rules: { type: { case: "map", value: { minPairs: 2n } } },
          unknownRuleFlag: 6,
        },
      ]);
      assert.deepEqual(found(schema, create(schema)), []);
      assert.deepEqual(found(schema, create(schema, { list: ["a"], map: { a: "b" } } as never)), [
        ["list", "repeated.min_items"],
        ["map", "map.min_pairs"],
      ]);
    });
  });
});

describe("validateResource: Any", () => {
  it("rejects a Listener whose HttpConnectionManager typed_config has an empty stat_prefix (typed Any recursion)", () => {
    const listener = listenerWith(validHcm({ statPrefix: "" }));
    rejects(ListenerSchema, listener, "filter_chains[0].filters[1].typed_config.stat_prefix", "string.min_len");
    accepts(ListenerSchema, listenerWith(validHcm()));
  });

  it("recurses through Any twice: a route configuration inside the HCM inside the Listener", () => {
    const hcm = validHcm({ routeSpecifier: { case: "routeConfig", value: routeConfiguration([]) } });
    rejects(
      ListenerSchema,
      listenerWith(hcm),
      "filter_chains[0].filters[1].typed_config.route_config.virtual_hosts[0].domains",
      "repeated.min_items",
    );
  });

  it("does not look inside an Any whose type the registry does not know", () => {
    const listener = listenerWith(validHcm({ statPrefix: "" }));
    const empty = { getMessage: () => undefined, getEnum: () => undefined, getExtension: () => undefined } as never;
    assert.deepEqual(validateResource(ListenerSchema, listener, { registry: empty }), []);
  });

  it("reports an Any whose bytes do not decode as its type (any.unpack)", () => {
    const listener = listenerWith(validHcm());
    const filter = listener.filterChains[0]?.filters[1];
    assert.ok(filter?.configType.case === "typedConfig");
    filter.configType.value.value = new Uint8Array([0xff, 0xff, 0xff]);
    assert.deepEqual(found(ListenerSchema, listener), [["filter_chains[0].filters[1].typed_config", "any.unpack"]]);
  });

  it("rejects a TypedExtensionConfig without typed_config (any.required)", () => {
    const dns = (config: MessageInitShape<typeof TypedExtensionConfigSchema>) =>
      cluster({ typedDnsResolverConfig: config });
    rejects(
      ClusterSchema,
      dns({ name: "envoy.network.dns_resolver.cares" }),
      "typed_dns_resolver_config.typed_config",
      "any.required",
    );
    accepts(
      ClusterSchema,
      dns({ name: "envoy.network.dns_resolver.cares", typedConfig: anyPack(DurationSchema, create(DurationSchema)) }),
    );
  });

  describe("rules no Envoy field uses (synthetic message types)", () => {
    it("any.in and any.not_in compare type URLs", () => {
      const durationUrl = "type.googleapis.com/google.protobuf.Duration";
      const allowed = single(
        T.MESSAGE,
        { type: { case: "any", value: { in: [durationUrl] } } },
        ".google.protobuf.Any",
      );
      assert.deepEqual(allowed.rule(anyPack(DurationSchema, create(DurationSchema))), []);
      assert.deepEqual(allowed.rule(anyPack(TimestampSchema, create(TimestampSchema))), [["v", "any.in"]]);
      const denied = single(
        T.MESSAGE,
        { type: { case: "any", value: { notIn: [durationUrl] } } },
        ".google.protobuf.Any",
      );
      assert.deepEqual(denied.rule(anyPack(DurationSchema, create(DurationSchema))), [["v", "any.not_in"]]);
    });
  });
});

describe("validateResource: Duration and Timestamp", () => {
  it("rejects a Cluster with a negative or zero connect_timeout (duration.gt 0s)", () => {
    rejects(ClusterSchema, cluster({ connectTimeout: { seconds: -1n } }), "connect_timeout", "duration.gt");
    rejects(ClusterSchema, cluster({ connectTimeout: {} }), "connect_timeout", "duration.gt");
    const [violation] = validateResource(
      ClusterSchema,
      cluster({ connectTimeout: { seconds: -1n, nanos: -500_000_000 } }),
    );
    assert.equal(violation?.message, "connect_timeout must be greater than 0s, got -1.5s");
    accepts(ClusterSchema, cluster({ connectTimeout: { nanos: 1 } }));
  });

  it("rejects a HealthCheck without a timeout (duration.required)", () => {
    const check = healthCheck();
    check.timeout = undefined;
    rejects(HealthCheckSchema, check, "timeout", "duration.required");
    accepts(HealthCheckSchema, healthCheck());
  });

  it("rejects an HttpUri timeout of 2^32 seconds (duration.lt) or below 0 (duration.gte)", () => {
    const uri = (timeout: { seconds: bigint }) =>
      create(HttpUriSchema, {
        uri: "https://example.com/jwks",
        httpUpstreamType: { case: "cluster", value: "jwks" },
        timeout,
      });
    rejects(HttpUriSchema, uri({ seconds: 4294967296n }), "timeout", "duration.lt");
    rejects(HttpUriSchema, uri({ seconds: -1n }), "timeout", "duration.gte");
    accepts(HttpUriSchema, uri({ seconds: 5n }));
  });

  it("rejects a QUIC keepalive max_interval inside (0s, 1s): an exclusive range (lte 0s, gte 1s)", () => {
    const keepalive = (value: number) => create(QuicKeepAliveSettingsSchema, { maxInterval: seconds(value) });
    rejects(QuicKeepAliveSettingsSchema, keepalive(0.5), "max_interval", "duration.gte");
    const [violation] = validateResource(QuicKeepAliveSettingsSchema, keepalive(0.5));
    assert.equal(violation?.message, "max_interval must be outside the range (0s, 1s), got 0.5s");
    accepts(QuicKeepAliveSettingsSchema, keepalive(0));
    accepts(QuicKeepAliveSettingsSchema, keepalive(1));
    accepts(QuicKeepAliveSettingsSchema, keepalive(30));
  });

  describe("rules no Envoy field uses (synthetic message types)", () => {
    const D = ".google.protobuf.Duration";
    const TS = ".google.protobuf.Timestamp";

    it("duration.const, in, not_in, lte", () => {
      const constant = single(T.MESSAGE, { type: { case: "duration", value: { const: seconds(1) } } }, D);
      assert.deepEqual(constant.rule(seconds(1)), []);
      assert.deepEqual(constant.rule(seconds(2)), [["v", "duration.const"]]);
      const member = single(T.MESSAGE, { type: { case: "duration", value: { in: [seconds(1), seconds(2)] } } }, D);
      assert.deepEqual(member.rule(seconds(2)), []);
      assert.deepEqual(member.rule(seconds(3)), [["v", "duration.in"]]);
      const excluded = single(T.MESSAGE, { type: { case: "duration", value: { notIn: [{}] } } }, D);
      assert.deepEqual(excluded.rule({}), [["v", "duration.not_in"]]);
      const capped = single(T.MESSAGE, { type: { case: "duration", value: { lte: seconds(60) } } }, D);
      assert.deepEqual(capped.rule(seconds(60)), []);
      assert.deepEqual(capped.rule(seconds(60.5)), [["v", "duration.lte"]]);
      assert.deepEqual(capped.rule(undefined), []); // unset, not required
    });

    const at = (millis: number) => ({
      seconds: BigInt(Math.floor(millis / 1000)),
      nanos: (millis % 1000) * 1_000_000,
    });

    it("timestamp.required, const, lt, gt", () => {
      const required = single(T.MESSAGE, { type: { case: "timestamp", value: { required: true } } }, TS);
      assert.deepEqual(required.rule(undefined), [["v", "timestamp.required"]]);
      const constant = single(T.MESSAGE, { type: { case: "timestamp", value: { const: at(0) } } }, TS);
      assert.deepEqual(constant.rule(at(0)), []);
      assert.deepEqual(constant.rule(at(1000)), [["v", "timestamp.const"]]);
      const window = single(T.MESSAGE, { type: { case: "timestamp", value: { gt: at(1000), lt: at(5000) } } }, TS);
      assert.deepEqual(window.rule(at(2000)), []);
      assert.deepEqual(window.rule(at(1000)), [["v", "timestamp.gt"]]);
      assert.deepEqual(window.rule(at(5000)), [["v", "timestamp.lt"]]);
    });

    it("timestamp.lt_now, gt_now, within", () => {
      const now = Date.now();
      const hour = 3_600_000;
      const past = single(T.MESSAGE, { type: { case: "timestamp", value: { ltNow: true } } }, TS);
      assert.deepEqual(past.rule(at(now - hour)), []);
      assert.deepEqual(past.rule(at(now + hour)), [["v", "timestamp.lt_now"]]);
      const future = single(T.MESSAGE, { type: { case: "timestamp", value: { gtNow: true } } }, TS);
      assert.deepEqual(future.rule(at(now + hour)), []);
      assert.deepEqual(future.rule(at(now - hour)), [["v", "timestamp.gt_now"]]);
      const near = single(T.MESSAGE, { type: { case: "timestamp", value: { within: seconds(3600) } } }, TS);
      assert.deepEqual(near.rule(at(now + hour / 2)), []);
      assert.deepEqual(near.rule(at(now - 2 * hour)), [["v", "timestamp.within"]]);
      const recent = single(
        T.MESSAGE,
        { type: { case: "timestamp", value: { ltNow: true, within: seconds(3600) } } },
        TS,
      );
      assert.deepEqual(recent.rule(at(now - hour / 2)), []);
      assert.deepEqual(recent.rule(at(now - 2 * hour)), [["v", "timestamp.within"]]);
      assert.deepEqual(recent.rule(at(now + hour / 2)), [["v", "timestamp.lt_now"]]);
    });
  });
});

describe("assertValid", () => {
  it("throws an invalid_config XdsError listing the violations", () => {
    const hcm = create(HttpConnectionManagerSchema, { statPrefix: "" });
    assert.throws(
      () => assertValid(ListenerSchema, listenerWith(hcm)),
      (error: unknown) => {
        assert.ok(error instanceof XdsError);
        assert.equal(error.code, "invalid_config");
        assert.equal(error.details.field, "filter_chains[0].filters[1].typed_config.route_specifier");
        const violations = error.details["violations"] as { path: string; rule: string }[];
        assert.deepEqual(
          violations.map((violation) => violation.rule),
          ["oneof.required", "string.min_len"],
        );
        assert.match(error.message, /envoy\.config\.listener\.v3\.Listener is invalid \(2 violations\)/);
        assert.match(error.message, /typed_config\.stat_prefix must be at least 1 character long, got ""/);
        return true;
      },
    );
  });

  it("returns for a valid resource", () => {
    assertValid(ListenerSchema, listenerWith(validHcm()));
    assertValid(ClusterSchema, cluster());
  });
});

describe("validateResource: volume", () => {
  it("validates 1000 valid clusters", () => {
    const clusters = Array.from({ length: 1000 }, (_, i) =>
      cluster({
        name: `cluster-${i}`,
        lbPolicy: i % 3,
        healthChecks: [healthCheck()],
        loadAssignment: {
          clusterName: `cluster-${i}`,
          endpoints: [
            {
              lbEndpoints: [
                {
                  loadBalancingWeight: 1 + (i % 10),
                  hostIdentifier: {
                    case: "endpoint",
                    value: {
                      address: {
                        address: {
                          case: "socketAddress",
                          value: {
                            address: `10.0.${i >> 8}.${i & 255}`,
                            portSpecifier: { case: "portValue", value: 8080 },
                          },
                        },
                      },
                    },
                  },
                },
              ],
            },
          ],
        },
        metadata: { filterMetadata: { "envoy.lb": { canary: i % 2 === 0 } } },
      }),
    );
    for (const resource of clusters) assert.deepEqual(validateResource(ClusterSchema, resource), []);
  });
});
