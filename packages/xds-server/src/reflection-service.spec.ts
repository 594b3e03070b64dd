import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SnapshotCache } from "@nebucloud/xds-cache";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
} from "@nebucloud/xds-proto/grpc/reflection/v1/reflection_pb";
import {
  type ServerReflectionRequest as ServerReflectionRequestV1Alpha,
  ServerReflectionRequestSchema as ServerReflectionRequestV1AlphaSchema,
  ServerReflection as ServerReflectionV1Alpha,
} from "@nebucloud/xds-proto/grpc/reflection/v1alpha/reflection_pb";
import { XdsServer, type XdsServerHandle } from "./index.js";

const ads = "envoy.service.discovery.v3.AggregatedDiscoveryService";

/** Sends each request on one reflection stream and collects the answers. */
async function ask(
  transport: Transport,
  ...questions: NonNullable<MessageInitShape<typeof ServerReflectionRequestSchema>["messageRequest"]>[]
) {
  const client = createClient(ServerReflection, transport);
  async function* requests() {
    for (const messageRequest of questions) {
      yield create(ServerReflectionRequestSchema, { host: "localhost", messageRequest });
    }
  }
  const answers: ServerReflectionResponse[] = [];
  for await (const response of client.serverReflectionInfo(requests())) answers.push(response);
  assert.equal(answers.length, questions.length);
  return answers;
}

function descriptors(response: ServerReflectionResponse | undefined): FileDescriptorProto[] {
  assert.equal(
    response?.messageResponse.case,
    "fileDescriptorResponse",
    JSON.stringify(response?.messageResponse.value),
  );
  return response.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

describe("gRPC server reflection", () => {
  const cache = new SnapshotCache();
  let server: XdsServerHandle;
  let transport: Transport;
  before(async () => {
    server = await XdsServer.builder()
      .withCache(cache)
      .withConfig({ drainTimeoutMs: 200 })
      .withHealthService()
      .withReflection()
      .serve("127.0.0.1:0");
    transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
  });
  after(async () => {
    await server.shutdown();
    cache.close();
  });

  it("lists every service the server registers, reflection included", async () => {
    const [answer] = await ask(transport, { case: "listServices", value: "" });
    assert.equal(answer?.messageResponse.case, "listServicesResponse");
    const names = answer.messageResponse.value.service.map((s) => s.name);
    for (const name of [
      ads,
      "envoy.service.cluster.v3.ClusterDiscoveryService",
      "envoy.service.secret.v3.SecretDiscoveryService",
      "envoy.service.status.v3.ClientStatusDiscoveryService",
      "envoy.service.load_stats.v3.LoadReportingService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]) {
      assert.ok(names.includes(name), `${name} missing from ${names.join(", ")}`);
    }
    assert.equal(new Set(names).size, names.length);
    assert.equal(answer.validHost, "localhost");
    assert.equal(answer.originalRequest?.messageRequest.case, "listServices");
  });

  it("answers file_containing_symbol with ads.proto first and every file it imports, transitively", async () => {
    const [answer] = await ask(transport, { case: "fileContainingSymbol", value: ads });
    const files = descriptors(answer);
    assert.equal(files[0]?.name, "envoy/service/discovery/v3/ads.proto");
    assert.ok(files[0]?.service.some((s) => s.name === "AggregatedDiscoveryService"));
    const names = new Set(files.map((f) => f.name));
    assert.equal(names.size, files.length, "a file is sent twice");
    for (const name of [
      "envoy/service/discovery/v3/discovery.proto",
      "envoy/config/core/v3/base.proto",
      "google/protobuf/any.proto",
    ]) {
      assert.ok(names.has(name), `${name} missing`);
    }
    // Closed under imports: a client can build every descriptor from the answer alone.
    for (const file of files)
      for (const dependency of file.dependency) assert.ok(names.has(dependency), `${dependency} missing`);
  });

  it("finds methods, nested messages, fields and enum values", async () => {
    const answers = await ask(
      transport,
      { case: "fileContainingSymbol", value: `${ads}.StreamAggregatedResources` },
      { case: "fileContainingSymbol", value: "envoy.config.core.v3.Node.id" },
      { case: "fileContainingSymbol", value: ".envoy.service.status.v3.ClientConfig.GenericXdsConfig" },
      { case: "fileContainingSymbol", value: "envoy.admin.v3.NACKED" },
    );
    assert.deepEqual(
      answers.map((a) => descriptors(a)[0]?.name),
      [
        "envoy/service/discovery/v3/ads.proto",
        "envoy/config/core/v3/base.proto",
        "envoy/service/status/v3/csds.proto",
        "envoy/admin/v3/config_dump_shared.proto",
      ],
    );
  });

  it("answers file_by_filename", async () => {
    const [answer] = await ask(transport, { case: "fileByFilename", value: "envoy/service/status/v3/csds.proto" });
    const files = descriptors(answer);
    assert.equal(files[0]?.name, "envoy/service/status/v3/csds.proto");
    assert.ok(files.some((f) => f.name === "envoy/type/matcher/v3/node.proto"));
  });

  it("answers an unknown symbol or file with a NOT_FOUND error_response and keeps the stream open", async () => {
    const answers = await ask(
      transport,
      { case: "fileContainingSymbol", value: "no.such.Service" },
      { case: "fileByFilename", value: "no/such.proto" },
      { case: "listServices", value: "" },
    );
    for (const answer of answers.slice(0, 2)) {
      assert.equal(answer.messageResponse.case, "errorResponse");
      assert.equal(answer.messageResponse.value.errorCode, 5);
    }
    assert.equal(answers[2]?.messageResponse.case, "listServicesResponse");
  });

  it("lists the extension numbers of a type and finds the file of an extension", async () => {
    const [numbers, extension, unknown] = await ask(
      transport,
      { case: "allExtensionNumbersOfType", value: "google.protobuf.FieldOptions" },
      {
        case: "fileContainingExtension",
        value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 1071 },
      },
      { case: "allExtensionNumbersOfType", value: "no.such.Message" },
    );
    assert.equal(numbers?.messageResponse.case, "allExtensionNumbersResponse");
    assert.equal(numbers.messageResponse.value.baseTypeName, "google.protobuf.FieldOptions");
    // validate.rules, protoc-gen-validate's field rules.
    assert.ok(numbers.messageResponse.value.extensionNumber.includes(1071));
    assert.equal(descriptors(extension)[0]?.name, "validate/validate.proto");
    assert.equal(unknown?.messageResponse.case, "errorResponse");
    assert.equal(unknown.messageResponse.value.errorCode, 5);
  });

  it("answers an empty request with an INVALID_ARGUMENT error_response", async () => {
    const [answer] = await ask(transport, { case: undefined });
    assert.equal(answer?.messageResponse.case, "errorResponse");
    assert.equal(answer.messageResponse.value.errorCode, 3);
  });

  it("serves grpc.reflection.v1alpha too", async () => {
    const client = createClient(ServerReflectionV1Alpha, transport);
    async function* requests(): AsyncGenerator<ServerReflectionRequestV1Alpha> {
      yield create(ServerReflectionRequestV1AlphaSchema, { messageRequest: { case: "listServices", value: "" } });
      yield create(ServerReflectionRequestV1AlphaSchema, {
        messageRequest: { case: "fileContainingSymbol", value: ads },
      });
      yield create(ServerReflectionRequestV1AlphaSchema, {
        messageRequest: { case: "fileContainingSymbol", value: "nope" },
      });
    }
    const answers = [];
    for await (const response of client.serverReflectionInfo(requests())) answers.push(response);
    const [list, file, missing] = answers;
    assert.equal(list?.$typeName, "grpc.reflection.v1alpha.ServerReflectionResponse");
    assert.equal(list.messageResponse.case, "listServicesResponse");
    assert.ok(list.messageResponse.value.service.some((s) => s.name === ads));
    assert.equal(file?.messageResponse.case, "fileDescriptorResponse");
    const first = file.messageResponse.value.fileDescriptorProto[0];
    assert.ok(first);
    assert.equal(fromBinary(FileDescriptorProtoSchema, first).name, "envoy/service/discovery/v3/ads.proto");
    assert.equal(missing?.messageResponse.case, "errorResponse");
    assert.equal(missing.messageResponse.value.errorCode, 5);
  });
});

describe("a server without withReflection", () => {
  it("does not serve reflection", async () => {
    const cache = new SnapshotCache();
    const server = await XdsServer.builder().withCache(cache).withConfig({ drainTimeoutMs: 200 }).serve("127.0.0.1:0");
    try {
      const transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
      await assert.rejects(ask(transport, { case: "listServices", value: "" }), /unimplemented/i);
    } finally {
      await server.shutdown();
      cache.close();
    }
  });
});
