import { create } from "@bufbuild/protobuf";
import { type Node, NodeSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type { NodeOptions } from "./client-options.js";

/**
 * Client features this client implements, advertised in node.client_features:
 * it accepts resources wrapped in `discovery.v3.Resource` in SotW responses
 * (the form that carries a TTL).
 */
export const clientFeatures: readonly string[] = Object.freeze(["xds.config.resource-in-sotw"]);

/** The `envoy.config.core.v3.Node` a client with these options sends. */
export function nodeMessage(options: NodeOptions): Node {
  return create(NodeSchema, {
    id: options.id,
    cluster: options.cluster ?? "",
    ...(options.metadata ? { metadata: options.metadata } : {}),
    ...(options.locality
      ? {
          locality: {
            region: options.locality.region ?? "",
            zone: options.locality.zone ?? "",
            subZone: options.locality.subZone ?? "",
          },
        }
      : {}),
    userAgentName: options.userAgentName ?? "@nebucloud/xds-client",
    clientFeatures: [...clientFeatures],
  });
}
