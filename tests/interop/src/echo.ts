/**
 * The echo service of `fixtures/echo.proto`, loaded with @grpc/proto-loader:
 * shared by the backends (in the test process) and the xDS clients (in child
 * processes).
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

export const echoProtoPath = fileURLToPath(new URL("../fixtures/echo.proto", import.meta.url));

export interface EchoReply {
  backend: string;
  message: string;
}

/** A generated client class of the Echo service. */
export type EchoClient = grpc.Client & {
  Echo(
    request: { message: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, reply?: EchoReply) => void,
  ): grpc.ClientUnaryCall;
};

interface EchoPackage {
  interop: { echo: { v1: { Echo: grpc.ServiceClientConstructor } } };
}

/** The Echo service's client constructor and service definition. */
export function loadEcho(): {
  Client: new (target: string, creds: grpc.ChannelCredentials) => EchoClient;
  service: grpc.ServiceDefinition;
} {
  const definition = protoLoader.loadSync(echoProtoPath, { keepCase: true, defaults: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as EchoPackage;
  const Echo = pkg.interop.echo.v1.Echo;
  return {
    Client: Echo as unknown as new (target: string, creds: grpc.ChannelCredentials) => EchoClient,
    service: Echo.service,
  };
}
