import { Counter, Gauge, type Registry } from "prom-client";

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

function gauge(registry: Registry, name: string, help: string): Gauge {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge;
  return new Gauge({ name, help, registers: [registry] });
}

/**
 * The client's Prometheus metrics in a registry you pass. Several clients may
 * share one registry: they then add to the same series, and the `connected`
 * gauge counts the clients whose stream is open.
 * - `xds_client_responses_total{type_url}`: responses received;
 * - `xds_client_nacks_total{type_url}`: responses rejected;
 * - `xds_client_reconnects_total`: streams opened after a previous one ended;
 * - `xds_client_connected`: clients with an open stream now.
 */
export class ClientMetrics {
  /** `xds_client_responses_total`: every response counts, rejected ones included, so NACK rate is `nacks / responses`. */
  readonly responses: Counter<"type_url">;
  /** `xds_client_nacks_total`: responses the client refused; a rising count means the server sends bad config. */
  readonly nacks: Counter<"type_url">;
  /** `xds_client_reconnects_total`: the first stream is not counted, so any increase means a stream was lost. */
  readonly reconnects: Counter<never>;
  /** `xds_client_connected`: raised when a stream opens and lowered when it ends, so shared registries sum clients. */
  readonly connected: Gauge;

  constructor(registry: Registry) {
    this.responses = counter(registry, "xds_client_responses_total", "xDS responses received, by type URL.", [
      "type_url",
    ]);
    this.nacks = counter(registry, "xds_client_nacks_total", "xDS responses rejected (NACK), by type URL.", [
      "type_url",
    ]);
    this.reconnects = counter(
      registry,
      "xds_client_reconnects_total",
      "Streams opened after an earlier one ended.",
      [],
    );
    this.connected = gauge(registry, "xds_client_connected", "Clients whose ADS stream is open now.");
  }
}
