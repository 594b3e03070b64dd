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
  /** A stream opened; throw (or reject with) an XdsError to refuse it with that error's status. */
  onStreamOpen?(stream: StreamInfo): void | Promise<void>;
  /** A stream ended, for whatever reason; `node` is its node, if it sent one. */
  onStreamClosed?(stream: StreamInfo, node: Node | undefined): void;
  /** A SotW DiscoveryRequest arrived on a stream. */
  onStreamRequest?(stream: StreamInfo, request: DiscoveryRequest): void;
  /** A SotW DiscoveryResponse is about to be written on a stream. */
  onStreamResponse?(stream: StreamInfo, response: DiscoveryResponse): void;
  /** A DeltaDiscoveryRequest arrived on a stream. */
  onDeltaStreamRequest?(stream: StreamInfo, request: DeltaDiscoveryRequest): void;
  /** A DeltaDiscoveryResponse is about to be written on a stream. */
  onDeltaStreamResponse?(stream: StreamInfo, response: DeltaDiscoveryResponse): void;
  /** A client rejected a response: the type, the version it rejected and its error text. */
  onNack?(stream: StreamInfo, node: Node, typeUrl: string, version: string, message: string): void;
  /** A unary Fetch* call arrived. */
  onFetchRequest?(request: DiscoveryRequest): void;
  /** A unary Fetch* call is answered with `response`. */
  onFetchResponse?(request: DiscoveryRequest, response: DiscoveryResponse): void;
  /** A load report arrived on LRS. */
  onLoadReport?(node: Node | undefined, report: LoadStatsRequest): void;
}
