import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * The server's Prometheus metrics, in a registry you pass or one of their own
 * (merge it with `Registry.merge`). Names follow `grpc_server_*` style under
 * the `xds_server_` prefix; `type_url` labels where a metric is per type.
 */
export class ServerMetrics {
  /** The registry the metrics are registered in: the one passed to the constructor, or this object's own. */
  readonly registry: Registry;
  /** `xds_server_streams_total{kind}`: streams opened. */
  readonly streamsTotal: Counter<"kind">;
  /** `xds_server_streams_active{kind}`: streams open now. */
  readonly streamsActive: Gauge<"kind">;
  /** `xds_server_requests_total{type_url}`: discovery requests received. */
  readonly requestsTotal: Counter<"type_url">;
  /** `xds_server_responses_total{type_url}`: discovery responses sent. */
  readonly responsesTotal: Counter<"type_url">;
  /** `xds_server_nacks_total{type_url}`: responses clients rejected. */
  readonly nacksTotal: Counter<"type_url">;
  /** `xds_server_errors_total{code}`: streams and calls ended with an error status. */
  readonly errorsTotal: Counter<"code">;
  /** `xds_server_request_duration_seconds{type_url}`: request to the response it caused. */
  readonly requestDuration: Histogram<"type_url">;
  /** `xds_server_watches_active`: cache watches open now, read when scraped. */
  readonly watchesActive: Gauge;
  /** `xds_server_snapshots_total`: snapshots set through the server. */
  readonly snapshotsTotal: Counter;
  /** `xds_server_load_reports_total`: LRS load reports received. */
  readonly loadReportsTotal: Counter;
  /** `xds_server_event_loop_delay_seconds{quantile}`: event-loop delay since the last scrape. */
  readonly eventLoopDelay: Gauge<"quantile">;
  readonly #delay: IntervalHistogram;

  /**
   * @param registry where to register; default a new registry owned by this object.
   * @param watches reads the number of open cache watches when scraped.
   */
  constructor(registry: Registry = new Registry(), watches: () => number = () => 0, snapshots: () => number = () => 0) {
    this.registry = registry;
    const registers = [registry];
    this.streamsTotal = new Counter({
      name: "xds_server_streams_total",
      help: "xDS streams opened, by kind (sotw, delta, lrs, csds).",
      labelNames: ["kind"],
      registers,
    });
    this.streamsActive = new Gauge({
      name: "xds_server_streams_active",
      help: "xDS streams open now, by kind.",
      labelNames: ["kind"],
      registers,
    });
    this.requestsTotal = new Counter({
      name: "xds_server_requests_total",
      help: "Discovery requests received, by type URL.",
      labelNames: ["type_url"],
      registers,
    });
    this.responsesTotal = new Counter({
      name: "xds_server_responses_total",
      help: "Discovery responses sent, by type URL.",
      labelNames: ["type_url"],
      registers,
    });
    this.nacksTotal = new Counter({
      name: "xds_server_nacks_total",
      help: "Responses clients rejected (NACK), by type URL.",
      labelNames: ["type_url"],
      registers,
    });
    this.errorsTotal = new Counter({
      name: "xds_server_errors_total",
      help: "Streams and calls ended with an error status, by gRPC code name.",
      labelNames: ["code"],
      registers,
    });
    this.requestDuration = new Histogram({
      name: "xds_server_request_duration_seconds",
      help: "Time from a request to the response it caused (or to its ACK handling), by type URL.",
      labelNames: ["type_url"],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.watchesActive = new Gauge({
      name: "xds_server_watches_active",
      help: "Cache watches open now.",
      registers,
      collect() {
        this.set(watches());
      },
    });
    this.snapshotsTotal = new Counter({
      name: "xds_server_snapshots_total",
      help: "Snapshots (or resource batches) the cache has taken, read from the cache when scraped.",
      registers,
      collect() {
        // The cache counts; mirror its count (monotonic) into the counter.
        this.reset();
        this.inc(snapshots());
      },
    });
    this.loadReportsTotal = new Counter({
      name: "xds_server_load_reports_total",
      help: "LRS load reports received.",
      registers,
    });
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    this.#delay = delay;
    this.eventLoopDelay = new Gauge({
      name: "xds_server_event_loop_delay_seconds",
      help: "Node.js event-loop delay since the last scrape, by quantile (0.5, 0.99, 1 = max).",
      labelNames: ["quantile"],
      registers,
      collect() {
        this.set({ quantile: "0.5" }, delay.percentile(50) / 1e9);
        this.set({ quantile: "0.99" }, delay.percentile(99) / 1e9);
        this.set({ quantile: "1" }, delay.max / 1e9);
        delay.reset();
      },
    });
  }

  /** Stops the event-loop monitor. */
  close(): void {
    this.#delay.disable();
  }
}
