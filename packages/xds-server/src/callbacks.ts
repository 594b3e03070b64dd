import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import type { LoadStatsRequest } from "@nebucloud/xds-proto/envoy/service/load_stats/v3/lrs_pb";

/** What a callback learns about the stream it is called for. */
export interface StreamInfo {
  /** Unique per process, increasing. */
  readonly id: number;
  /** `sotw`, `delta`, `lrs` or `csds`. */
  readonly kind: "sotw" | "delta";
  /** The gRPC method, e.g. `envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources`. */
  readonly method: string;
  /** The type URL a per-type service serves; undefined for ADS. */
  readonly typeUrl: string | undefined;
  /** The client's address, when known. */
  readonly peer: string | undefined;
}

/**
 * Hooks into the server (go-control-plane's `Callbacks`). Every member is
 * optional. `onStreamOpen` may throw (or reject with) an XdsError to refuse the
 * stream with that error's status; errors thrown by the others are logged and
 * never break a stream.
 */
export interface ServerCallbacks {
  onStreamOpen?(stream: StreamInfo): void | Promise<void>;
  onStreamClosed?(stream: StreamInfo, node: Node | undefined): void;
  onStreamRequest?(stream: StreamInfo, request: DiscoveryRequest): void;
  onStreamResponse?(stream: StreamInfo, response: DiscoveryResponse): void;
  onDeltaStreamRequest?(stream: StreamInfo, request: DeltaDiscoveryRequest): void;
  onDeltaStreamResponse?(stream: StreamInfo, response: DeltaDiscoveryResponse): void;
  /** A client rejected a response: the type, the version it rejected and its error text. */
  onNack?(stream: StreamInfo, node: Node, typeUrl: string, version: string, message: string): void;
  onFetchRequest?(request: DiscoveryRequest): void;
  onFetchResponse?(request: DiscoveryRequest, response: DiscoveryResponse): void;
  /** A load report arrived on LRS. */
  onLoadReport?(node: Node | undefined, report: LoadStatsRequest): void;
}
