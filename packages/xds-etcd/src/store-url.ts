import { XdsError } from "@nebucloud/xds-core";

/** Where a snapshot store lives: the etcd endpoints and the key prefix under which it keeps everything. */
export interface StoreLocation {
  /** etcd client URLs, e.g. `http://127.0.0.1:2379`. */
  readonly endpoints: readonly string[];
  /** The key prefix, without a trailing slash (e.g. `xds`). */
  readonly prefix: string;
}

/** The prefix a store URL without a path gets. */
export const defaultPrefix = "nebucloud-xds";

/**
 * Parses `etcd://host:port[,host:port…]/prefix` (the `--store` flag of the
 * examples). The prefix may contain slashes; it defaults to
 * {@link defaultPrefix}. Throws an XdsError `invalid_config` naming the part
 * that is wrong.
 */
export function parseStoreUrl(url: string): StoreLocation {
  const invalid = (reason: string) =>
    new XdsError("invalid_config", `store ${JSON.stringify(url)}: ${reason}`, { field: "store", reason });
  const match = /^etcd:\/\/([^/]*)(\/.*)?$/.exec(url);
  if (!match) throw invalid("expected etcd://host:port/prefix");
  const hosts = (match[1] ?? "").split(",").filter((h) => h !== "");
  if (hosts.length === 0) throw invalid("no etcd host given");
  const endpoints = hosts.map((host) => {
    const hostPort = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(host);
    const port = Number(hostPort?.[2]);
    if (!hostPort || port < 1 || port > 65_535) throw invalid(`${JSON.stringify(host)} is not host:port`);
    return `http://${host}`;
  });
  const prefix = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (/\/\//.test(prefix)) throw invalid("the prefix has an empty segment");
  return { endpoints, prefix: prefix === "" ? defaultPrefix : prefix };
}
