import { type Resource, XdsError } from "@nebucloud/xds-core";
import type { XdsClient } from "../xds-client.js";
import { displayTypeName } from "./type-names.js";

/** What {@link fetchResources} found. */
export interface FetchResult {
  /** The resources found, by name. */
  readonly resources: Resource[];
  /**
   * Set when a named resource does not exist or did not come in time: an
   * XdsError `resource_not_found` naming them (the found ones are still in
   * `resources`).
   */
  readonly missing: XdsError | undefined;
}

/**
 * Watches `names` of `typeUrl` (every resource when empty) until the first
 * complete answer: every name arrived or is known not to exist, or for a
 * wildcard the first response. Rejects with the client's first stream error,
 * or after `timeoutMs` with `channel_closed` (reason `unreachable`) when no
 * connection came up, or `resource_not_found` for a wildcard that got no
 * answer. The watch ends either way; the caller closes the client.
 */
export function fetchResources(
  client: XdsClient,
  typeUrl: string,
  names: readonly string[],
  timeoutMs: number,
): Promise<FetchResult> {
  const type = displayTypeName(typeUrl);
  const cleanup: (() => void)[] = [];
  return new Promise<FetchResult>((resolve, reject) => {
    let connected = false;
    const pending = new Set(names);
    const missing = new Set<string>();
    cleanup.push(client.on("connected", () => (connected = true)));
    cleanup.push(client.on("disconnected", ({ error }) => reject(error)));
    const timer = setTimeout(() => {
      if (!connected) {
        reject(
          new XdsError("channel_closed", `cannot reach the xDS server at ${client.address} within ${timeoutMs} ms`, {
            address: client.address,
            reason: "unreachable",
          }),
        );
        return;
      }
      if (names.length === 0) {
        reject(
          new XdsError("resource_not_found", `no ${type} from ${client.address} within ${timeoutMs} ms`, {
            typeUrl,
            names: [],
            reason: "timeout",
          }),
        );
        return;
      }
      for (const name of pending) missing.add(name);
      pending.clear();
      check();
    }, timeoutMs);
    cleanup.push(() => clearTimeout(timer));
    const check = () => {
      if (pending.size > 0) return;
      const list = [...missing].sort();
      resolve({
        resources: names.map((name) => client.get(typeUrl, name)).filter((r): r is Resource => r !== undefined),
        missing:
          list.length === 0
            ? undefined
            : new XdsError("resource_not_found", `${type} not found on ${client.address}: ${list.join(", ")}`, {
                typeUrl,
                names: list,
              }),
      });
    };
    const stop = client.watch(typeUrl, names.length === 0 ? "*" : names, {
      onChange(resources) {
        if (names.length === 0) {
          resolve({ resources: [...resources.values()], missing: undefined });
          return;
        }
        for (const name of resources.keys()) pending.delete(name);
        check();
      },
      onDoesNotExist(name) {
        if (!pending.delete(name)) return;
        missing.add(name);
        check();
      },
    });
    cleanup.push(stop);
  }).finally(() => {
    for (const fn of cleanup) fn();
  });
}
