import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import {
  Health,
  type HealthCheckRequest,
  type HealthCheckResponse,
  HealthCheckResponseSchema,
  HealthListResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "@nebucloud/xds-proto/grpc/health/v1/health_pb";

export { ServingStatus };

/**
 * Serving status per service name ("" is the whole server), answered by
 * `grpc.health.v1.Health` Check, Watch and List. Shutdown flips every entry to
 * NOT_SERVING first, so load balancers stop sending new clients.
 */
export class HealthStatus {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #watchers = new Set<() => void>();

  /** Sets a service's status and tells every watcher. */
  set(service: string, status: ServingStatus): void {
    if (this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    for (const notify of this.#watchers) notify();
  }

  /** A service's status; undefined for a service never set. */
  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** Every service's status. */
  entries(): [string, ServingStatus][] {
    return [...this.#statuses];
  }

  /** Turns every service NOT_SERVING. */
  notServing(): void {
    for (const service of this.#statuses.keys()) this.set(service, ServingStatus.NOT_SERVING);
  }

  /** @internal Subscribes to changes; returns the unsubscribe function. */
  onChange(notify: () => void): () => void {
    this.#watchers.add(notify);
    return () => this.#watchers.delete(notify);
  }
}

/** Registers `grpc.health.v1.Health` answering from `health`. */
export function registerHealthService(router: ConnectRouter, health: HealthStatus): void {
  router.service(Health, {
    check(request: HealthCheckRequest): HealthCheckResponse {
      const status = health.get(request.service);
      if (status === undefined)
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      return create(HealthCheckResponseSchema, { status });
    },
    async *watch(request: HealthCheckRequest, ctx: HandlerContext) {
      let changed: (() => void) | undefined;
      const off = health.onChange(() => changed?.());
      try {
        let last: ServingStatus | undefined;
        while (!ctx.signal.aborted) {
          const status = health.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
          if (status !== last) {
            last = status;
            yield create(HealthCheckResponseSchema, { status });
          }
          await new Promise<void>((resolve) => {
            changed = resolve;
            ctx.signal.addEventListener("abort", () => resolve(), { once: true });
          });
        }
      } finally {
        off();
      }
    },
    list() {
      return create(HealthListResponseSchema, {
        statuses: Object.fromEntries(health.entries().map(([name, status]) => [name, { status }])),
      });
    },
  });
}
