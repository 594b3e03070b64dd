import { create, type DescFile, fromBinary, type Registry, toBinary } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import {
  ErrorResponseSchema,
  ExtensionNumberResponseSchema,
  FileDescriptorResponseSchema,
  ListServiceResponseSchema,
  ServerReflection,
  type ServerReflectionRequest,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from "@nebucloud/xds-proto/grpc/reflection/v1/reflection_pb";
import {
  type ServerReflectionRequest as ServerReflectionRequestV1Alpha,
  ServerReflectionRequestSchema as ServerReflectionRequestV1AlphaSchema,
  type ServerReflectionResponse as ServerReflectionResponseV1Alpha,
  ServerReflectionResponseSchema as ServerReflectionResponseV1AlphaSchema,
  ServerReflection as ServerReflectionV1Alpha,
} from "@nebucloud/xds-proto/grpc/reflection/v1alpha/reflection_pb";

/** Options of {@link registerReflectionService}. */
export interface ReflectionOptions {
  /**
   * Where symbols and files are looked up, besides the files of the services
   * registered on the router. Default: `@nebucloud/xds-proto`'s registry of
   * every generated type, loaded on the first reflection request (it takes
   * about a second) so that servers without reflection never pay for it.
   */
  readonly registry?: Registry;
}

/**
 * Registers gRPC server reflection, `grpc.reflection.v1.ServerReflection` and
 * the older `grpc.reflection.v1alpha` one that grpcurl and some tools still
 * ask for first. `serviceNames` is read at each list_services request, so it
 * may name services registered after this call. Files are sent with all
 * their transitive dependencies on every request (no per-stream dedup).
 */
export function registerReflectionService(
  router: ConnectRouter,
  serviceNames: () => string[],
  options: ReflectionOptions = {},
): void {
  let index: Promise<SymbolIndex> | undefined;
  // Built on first use: by then every service of the router is registered.
  const load = () => {
    index ??= loadRegistry(options.registry).then((registry) => new SymbolIndex(registry, router));
    return index;
  };
  router.service(ServerReflection, {
    async *serverReflectionInfo(requests: AsyncIterable<ServerReflectionRequest>) {
      for await (const request of requests) yield answer(request, await load(), serviceNames);
    },
  });
  router.service(ServerReflectionV1Alpha, {
    async *serverReflectionInfo(requests: AsyncIterable<ServerReflectionRequestV1Alpha>) {
      for await (const request of requests) {
        // The two versions are the same messages under another package: the
        // wire form converts one into the other.
        const v1 = fromBinary(ServerReflectionRequestSchema, toBinary(ServerReflectionRequestV1AlphaSchema, request));
        const response = answer(v1, await load(), serviceNames);
        yield fromBinary(
          ServerReflectionResponseV1AlphaSchema,
          toBinary(ServerReflectionResponseSchema, response),
        ) as ServerReflectionResponseV1Alpha;
      }
    },
  });
}

async function loadRegistry(registry: Registry | undefined): Promise<Registry> {
  return registry ?? (await import("@nebucloud/xds-proto")).registry;
}

/** Every file known to the registry or the router's services, and where each symbol is declared. */
class SymbolIndex {
  /** By file name, e.g. `envoy/service/discovery/v3/ads.proto`. */
  readonly files = new Map<string, DescFile>();
  /** Fully qualified name (no leading dot) of every declaration -> its file. */
  readonly symbols = new Map<string, DescFile>();
  /** Fully qualified name of every message. */
  readonly messages = new Set<string>();
  /** Extended message name -> extension number -> file. */
  readonly extensions = new Map<string, Map<number, DescFile>>();
  readonly #bytes = new Map<DescFile, Uint8Array>();

  constructor(registry: Registry, router: ConnectRouter) {
    for (const desc of registry) this.#addFile(desc.file);
    // Services registered with their own generated code, outside the registry.
    for (const handler of router.handlers) this.#addFile(handler.service.file);
  }

  #addFile(file: DescFile): void {
    const name = file.proto.name;
    if (this.files.has(name)) return;
    this.files.set(name, file);
    const pkg = file.proto.package;
    for (const type of nestedTypes(file)) {
      this.symbols.set(type.typeName, file);
      switch (type.kind) {
        case "message":
          this.messages.add(type.typeName);
          for (const field of type.fields) this.symbols.set(`${type.typeName}.${field.name}`, file);
          for (const oneof of type.oneofs) this.symbols.set(`${type.typeName}.${oneof.name}`, file);
          break;
        case "enum": {
          // Enum values are scoped like their enum's siblings, not inside it.
          const scope = type.parent?.typeName ?? pkg;
          for (const value of type.values) this.symbols.set(scope ? `${scope}.${value.name}` : value.name, file);
          break;
        }
        case "service":
          for (const method of type.methods) this.symbols.set(`${type.typeName}.${method.name}`, file);
          break;
        case "extension": {
          const numbers = this.extensions.get(type.extendee.typeName) ?? new Map<number, DescFile>();
          this.extensions.set(type.extendee.typeName, numbers);
          numbers.set(type.number, file);
          break;
        }
      }
    }
    for (const dependency of file.dependencies) this.#addFile(dependency);
  }

  /** The serialized FileDescriptorProto of `file` and of every file it imports, transitively; `file` first. */
  withDependencies(file: DescFile): Uint8Array[] {
    const out: Uint8Array[] = [];
    const seen = new Set<DescFile>();
    const visit = (f: DescFile) => {
      if (seen.has(f)) return;
      seen.add(f);
      out.push(this.#encoded(f));
      for (const dependency of f.dependencies) visit(dependency);
    };
    visit(file);
    return out;
  }

  #encoded(file: DescFile): Uint8Array {
    let bytes = this.#bytes.get(file);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.#bytes.set(file, bytes);
    }
    return bytes;
  }
}

type MessageResponse = ServerReflectionResponse["messageResponse"];

function answer(
  request: ServerReflectionRequest,
  index: SymbolIndex,
  serviceNames: () => string[],
): ServerReflectionResponse {
  return create(ServerReflectionResponseSchema, {
    validHost: request.host,
    originalRequest: request,
    messageResponse: messageResponse(request.messageRequest, index, serviceNames),
  });
}

function messageResponse(
  message: ServerReflectionRequest["messageRequest"],
  index: SymbolIndex,
  serviceNames: () => string[],
): MessageResponse {
  switch (message.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: create(ListServiceResponseSchema, {
          service: [...new Set(serviceNames())].sort().map((name) => ({ name })),
        }),
      };
    case "fileByFilename": {
      const file = index.files.get(message.value);
      return file ? files(index, file) : notFound(`file ${JSON.stringify(message.value)} not found`);
    }
    case "fileContainingSymbol": {
      // Tools sometimes send the leading dot of a fully qualified name.
      const symbol = message.value.replace(/^\./, "");
      const file = index.symbols.get(symbol);
      return file ? files(index, file) : notFound(`symbol ${JSON.stringify(symbol)} not found`);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = message.value;
      const file = index.extensions.get(containingType)?.get(extensionNumber);
      return file ? files(index, file) : notFound(`extension ${extensionNumber} of ${containingType} not found`);
    }
    case "allExtensionNumbersOfType": {
      const type = message.value;
      if (!index.messages.has(type)) return notFound(`message type ${JSON.stringify(type)} not found`);
      return {
        case: "allExtensionNumbersResponse",
        value: create(ExtensionNumberResponseSchema, {
          baseTypeName: type,
          extensionNumber: [...(index.extensions.get(type)?.keys() ?? [])].sort((a, b) => a - b),
        }),
      };
    }
    default:
      return error(Code.InvalidArgument, "the request names no question");
  }
}

function files(index: SymbolIndex, file: DescFile): MessageResponse {
  return {
    case: "fileDescriptorResponse",
    value: create(FileDescriptorResponseSchema, { fileDescriptorProto: index.withDependencies(file) }),
  };
}

function notFound(message: string): MessageResponse {
  return error(Code.NotFound, message);
}

function error(code: Code, message: string): MessageResponse {
  // connect's Code numbers are gRPC's status codes.
  return { case: "errorResponse", value: create(ErrorResponseSchema, { errorCode: code, errorMessage: message }) };
}
