import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { XdsError } from "@nebucloud/xds-core";
import {
  ClientStatusDiscoveryService,
  ClientStatusRequestSchema,
  type ClientStatusResponse,
} from "@nebucloud/xds-proto/envoy/service/status/v3/csds_pb";
import { type ClientTlsOptions, serverUrl } from "./client-options.js";
import { streamClosedError } from "./connection-error.js";
import { openConnection } from "./transport.js";

/** Options of {@link fetchClientStatus}. */
export interface FetchClientStatusOptions {
  /** The server as HOST:PORT or a URL. */
  readonly server: string;
  /** TLS towards the server, as for {@link XdsClientOptions.tls}. Default: plaintext, unless `server` is an https:// URL. */
  readonly tls?: ClientTlsOptions;
  /** Only the client with this node id. Default: every client. */
  readonly nodeId?: string;
  /** Give up after this long. Default 10000 ms. */
  readonly timeoutMs?: number;
}

/**
 * Asks a server's CSDS (`ClientStatusDiscoveryService.FetchClientStatus`)
 * what every connected client subscribed to, holds, acknowledged and
 * rejected. Rejects with an XdsError `channel_closed` whose `details.reason`
 * is `unreachable`, `tls`, `timeout` or `server` (the server's status in
 * `details.grpcCode`).
 */
export async function fetchClientStatus(options: FetchClientStatusOptions): Promise<ClientStatusResponse> {
  const { baseUrl, address } = serverUrl(options.server, options.tls !== undefined);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const connection = openConnection(baseUrl, options.tls);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      connection.close();
      reject(
        new XdsError("channel_closed", `no answer from ${address} within ${timeoutMs} ms`, {
          address,
          reason: "timeout",
        }),
      );
    }, timeoutMs);
  });
  const ask = async () => {
    try {
      await connection.connect();
    } catch (error) {
      throw streamClosedError(address, error);
    }
    const csds = createClient(ClientStatusDiscoveryService, connection.transport);
    const request = create(ClientStatusRequestSchema, {
      nodeMatchers: options.nodeId ? [{ nodeId: { matchPattern: { case: "exact", value: options.nodeId } } }] : [],
    });
    try {
      return await csds.fetchClientStatus(request, { timeoutMs });
    } catch (error) {
      if (error instanceof ConnectError && error.code === Code.DeadlineExceeded) {
        throw new XdsError("channel_closed", `no answer from ${address} within ${timeoutMs} ms`, {
          address,
          reason: "timeout",
        });
      }
      throw streamClosedError(address, error);
    }
  };
  try {
    return await Promise.race([ask(), deadline]);
  } finally {
    clearTimeout(timer);
    connection.close();
  }
}
