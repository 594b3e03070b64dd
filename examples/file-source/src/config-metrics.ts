import { Gauge, type Registry } from "prom-client";
import type { ReloadStatus } from "./file-source.js";

/**
 * Registers the file-source's gauges in `registry` (the one the xDS server's
 * `/metrics` serves), read from `status` when scraped:
 * - `xds_config_stale`: 1 while the files on disk are not what is served (a
 *   rejected edit, a change not loaded yet, files that cannot be read), else 0.
 *   Alert when it stays 1 longer than the recheck interval;
 * - `xds_config_last_check_timestamp_seconds`: when the files were last read.
 */
export function registerConfigMetrics(registry: Registry, status: () => ReloadStatus): void {
  new Gauge({
    name: "xds_config_stale",
    help: "1 while the config files on disk differ from the config served (rejected, unreadable or not yet loaded), else 0.",
    registers: [registry],
    collect() {
      this.set(status().stale ? 1 : 0);
    },
  });
  new Gauge({
    name: "xds_config_last_check_timestamp_seconds",
    help: "When the config files were last read and hashed (event, recheck or poll), in Unix seconds.",
    registers: [registry],
    collect() {
      const at = Date.parse(status().checkedAt);
      this.set(Number.isNaN(at) ? 0 : at / 1000);
    },
  });
}
