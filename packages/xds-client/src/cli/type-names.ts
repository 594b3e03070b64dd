import { defaultResourceTypes, type ResourceTypeRegistry, TypeUrl } from "@nebucloud/xds-core";
import { typeUrlPrefix } from "@nebucloud/xds-proto";

/** The names xdsctl accepts for a resource type: the plural, then the xDS service's short name. */
export const typeNames: ReadonlyArray<readonly [plural: string, short: string, typeUrl: string]> = [
  ["clusters", "cds", TypeUrl.Cluster],
  ["endpoints", "eds", TypeUrl.Endpoint],
  ["listeners", "lds", TypeUrl.Listener],
  ["routes", "rds", TypeUrl.Route],
  ["scoped-routes", "srds", TypeUrl.ScopedRoute],
  ["virtual-hosts", "vhds", TypeUrl.VirtualHost],
  ["secrets", "sds", TypeUrl.Secret],
  ["runtimes", "rtds", TypeUrl.Runtime],
  ["extension-configs", "ecds", TypeUrl.ExtensionConfig],
];

/**
 * The type URL a command-line argument names: a plural (`clusters`), its
 * singular (`cluster`), a short name (`cds`), a full type URL, or a message
 * name (`envoy.config.cluster.v3.Cluster`) of a registered type. Case is
 * ignored for the names. `undefined` when it names nothing known.
 */
export function resolveTypeName(arg: string, types: ResourceTypeRegistry = defaultResourceTypes): string | undefined {
  const lower = arg.toLowerCase();
  for (const [plural, short, typeUrl] of typeNames) {
    if (lower === plural || lower === short || lower === plural.slice(0, -1)) return typeUrl;
  }
  if (types.has(arg)) return arg;
  if (types.has(typeUrlPrefix + arg)) return typeUrlPrefix + arg;
  return undefined;
}

/** The name xdsctl shows for a type: its plural when it has one, else the type URL. */
export function displayTypeName(typeUrl: string): string {
  return typeNames.find(([, , url]) => url === typeUrl)?.[0] ?? typeUrl;
}

/** Every accepted name, for messages: `clusters (cds), endpoints (eds), ...`. */
export function knownTypeNames(): string {
  return typeNames.map(([plural, short]) => `${plural} (${short})`).join(", ");
}
