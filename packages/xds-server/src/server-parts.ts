import type { ConnectRouter } from "@connectrpc/connect";
import type { Cache } from "@nebucloud/xds-cache";
import type { ResourceTypeRegistry, ServerConfig } from "@nebucloud/xds-core";
import type { Authorization } from "./authorization.js";
import type { ServerCallbacks } from "./callbacks.js";
import type { HealthStatus } from "./health-service.js";
import type { Logger } from "./logger.js";
import type { ServerMetrics } from "./metrics.js";
import type { StreamRegistry } from "./stream-registry.js";

/**
 * What a {@link ServiceRegistration} may use: the parts of a running server.
 * @internal for this package's own modules.
 */
export interface ServerParts {
  readonly cache: Cache;
  readonly types: ResourceTypeRegistry;
  readonly config: ServerConfig;
  readonly callbacks: ServerCallbacks;
  readonly logger: Logger;
  readonly metrics: ServerMetrics | undefined;
  readonly streams: StreamRegistry;
  readonly health: HealthStatus;
  /** The authorization every service on the port applies; undefined when none is configured. */
  readonly auth: Authorization | undefined;
}

/**
 * Extra services a part of the server registers (CSDS, LRS, reflection...).
 * @internal for this package's own modules.
 */
export type ServiceRegistration = (router: ConnectRouter, server: ServerParts) => void;
