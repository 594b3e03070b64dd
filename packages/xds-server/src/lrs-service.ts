import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { XdsError } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import {
  LoadReportingService,
  type LoadStatsRequest,
  type LoadStatsResponse,
  LoadStatsResponseSchema,
} from "@nebucloud/xds-proto/envoy/service/load_stats/v3/lrs_pb";
import { authorizationRequest, requireAuthorized } from "./authorization.js";
import { toConnectError } from "./grpc-error.js";
import { peerKey } from "./peer.js";
import type { ServerParts } from "./server-parts.js";

/** Options of `XdsServerBuilder.withLoadReporting` (LRS). */
export interface LrsOptions {
  /** How often clients should send load reports, in milliseconds. Default 10 000. */
  readonly reportingIntervalMs?: number;
  /**
   * The clusters clients should report on. Default: every cluster
   * (`send_all_clusters`).
   */
  readonly clusters?: readonly string[];
}

/**
 * Registers `envoy.service.load_stats.v3.LoadReportingService` (LRS). The
 * first request of a stream is answered once, asking for every cluster at the
 * configured interval; from then on the client only sends reports, and each
 * one carrying cluster stats goes to `callbacks.onLoadReport` with the node of
 * the stream's first request (clients send the node only once). With an
 * authorizer, that node is authorized (service LRS) before any report is
 * taken; a refusal ends the stream with PERMISSION_DENIED.
 */
export function registerLrsService(router: ConnectRouter, parts: ServerParts, options: LrsOptions = {}): void {
  const intervalMs = options.reportingIntervalMs ?? 10_000;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new XdsError("invalid_config", `reportingIntervalMs must be a positive number, not ${intervalMs}`, {
      field: "reportingIntervalMs",
    });
  }
  const first = create(LoadStatsResponseSchema, {
    ...(options.clusters ? { clusters: [...options.clusters] } : { sendAllClusters: true }),
    loadReportingInterval: create(DurationSchema, {
      seconds: BigInt(Math.floor(intervalMs / 1000)),
      nanos: Math.round((intervalMs % 1000) * 1_000_000),
    }),
  });
  router.service(LoadReportingService, {
    async *streamLoadStats(
      requests: AsyncIterable<LoadStatsRequest>,
      hctx: HandlerContext,
    ): AsyncGenerator<LoadStatsResponse> {
      parts.metrics?.streamsTotal.inc({ kind: "lrs" });
      parts.metrics?.streamsActive.inc({ kind: "lrs" });
      let node: Node | undefined;
      let answered = false;
      try {
        for await (const request of requests) {
          if (!answered) {
            node = request.node;
            if (parts.auth) {
              if (!node?.id) {
                throw new XdsError("invalid_request", "the first load report must carry node.id", {
                  field: "node.id",
                });
              }
              await requireAuthorized(
                parts.auth,
                authorizationRequest(parts.auth, hctx.values.get(peerKey), node, {
                  service: LoadReportingService.typeName,
                  method: hctx.method.name,
                  typeUrl: undefined,
                }),
              );
            }
            answered = true;
            yield first;
          }
          if (request.clusterStats.length === 0) continue;
          parts.metrics?.loadReportsTotal.inc();
          // A failing consumer must not end the client's stream: it would
          // reconnect and report again into the same failure.
          const failed = (error: unknown) =>
            parts.logger.warn({ error: String(error), node: node?.id }, "callback onLoadReport threw");
          try {
            // Typed void, but an async callback's rejection must not go unhandled.
            const done: unknown = parts.callbacks.onLoadReport?.(node, request);
            if (done instanceof Promise) done.catch(failed);
          } catch (error) {
            failed(error);
          }
        }
      } catch (reason) {
        throw toConnectError(reason);
      } finally {
        parts.metrics?.streamsActive.dec({ kind: "lrs" });
      }
    },
  });
}
