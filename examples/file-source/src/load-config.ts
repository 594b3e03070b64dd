import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { Snapshot } from "@nebucloud/xds-cache";
import { checkSecretMaterial, defaultResourceTypes, Resource, TypeUrl, validateResource } from "@nebucloud/xds-core";
import { registry } from "@nebucloud/xds-proto";
import type { RouteConfiguration } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";
import type { Secret } from "@nebucloud/xds-proto/envoy/extensions/transport_sockets/tls/v3/secret_pb";
import type { ConfigProblem } from "./config-error.js";
import type { ConfigDocument } from "./config-files.js";
import { locateJsonProblem } from "./json-locate.js";

/** Config keys and the resource type each lists. */
export const sections = {
  clusters: TypeUrl.Cluster,
  endpoints: TypeUrl.Endpoint,
  listeners: TypeUrl.Listener,
  routes: TypeUrl.Route,
  scopedRoutes: TypeUrl.ScopedRoute,
  virtualHosts: TypeUrl.VirtualHost,
  secrets: TypeUrl.Secret,
  runtimes: TypeUrl.Runtime,
  extensionConfigs: TypeUrl.ExtensionConfig,
} as const;

type Section = keyof typeof sections;
const sectionNames = Object.keys(sections) as Section[];

/** Which nodes a node group applies to; every given condition must hold. */
export interface NodeMatch {
  readonly id?: string;
  readonly idPrefix?: string;
  readonly cluster?: string;
  readonly clusterPrefix?: string;
}

/** A node group: its own resources on top of the shared ones. */
export interface NodeGroup {
  readonly name: string;
  readonly match: NodeMatch;
  readonly snapshot: Snapshot;
}

/** A config that passed every check, ready to serve. */
export interface LoadedConfig {
  /** What nodes outside every group receive. */
  readonly shared: Snapshot;
  /** Node groups in config order; a node takes the first that matches. */
  readonly groups: readonly NodeGroup[];
  /** Resource count by section, for the status page. */
  readonly counts: Readonly<Record<string, number>>;
  readonly files: readonly string[];
}

interface Located {
  readonly resource: Resource;
  readonly file: string;
  readonly label: string;
}

/**
 * Turns parsed config documents into snapshots, or the full list of problems:
 * unknown keys and fields, unknown `@type`s, `bytes` that are not base64,
 * values Envoy's validation rules reject, Secrets whose inline keys or
 * certificates do not parse (or do not match), duplicate names, and references to resources that do not exist (a
 * cluster whose endpoints are missing, a listener naming a missing route, a
 * route naming a missing cluster). Nothing is returned unless everything passed.
 */
export function loadConfig(documents: readonly ConfigDocument[]): { config?: LoadedConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const shared = new Map<Section, Located[]>();
  const groupInputs: { name: string; match: NodeMatch; resources: Map<Section, Located[]>; file: string }[] = [];
  for (const { file, content } of documents) {
    if (typeof content !== "object" || content === null || Array.isArray(content)) {
      problems.push({
        file,
        resource: "",
        field: "",
        message: "the top level must be a map of lists (clusters, listeners, ...)",
      });
      continue;
    }
    for (const [key, value] of Object.entries(content as Record<string, unknown>)) {
      if (key === "nodes") {
        readGroups(file, value, groupInputs, problems);
      } else if ((sectionNames as string[]).includes(key)) {
        readSection(file, key as Section, value, "", shared, problems);
      } else {
        problems.push({
          file,
          resource: "",
          field: key,
          message: `unknown top-level key; expected one of ${[...sectionNames, "nodes"].join(", ")}`,
        });
      }
    }
  }
  if (problems.length > 0) return { problems };
  const sharedSnapshot = buildSnapshot(shared, new Map(), "", problems);
  const groups: NodeGroup[] = [];
  for (const group of groupInputs) {
    const snapshot = buildSnapshot(shared, group.resources, `nodes "${group.name}": `, problems);
    if (snapshot) groups.push({ name: group.name, match: group.match, snapshot });
  }
  if (problems.length > 0 || !sharedSnapshot) return { problems };
  const counts: Record<string, number> = {};
  for (const section of sectionNames) {
    const n = sharedSnapshot.resources(sections[section]).size;
    if (n > 0) counts[section] = n;
  }
  return { config: { shared: sharedSnapshot, groups, counts, files: documents.map((d) => d.file) }, problems };
}

function readGroups(
  file: string,
  value: unknown,
  out: { name: string; match: NodeMatch; resources: Map<Section, Located[]>; file: string }[],
  problems: ConfigProblem[],
): void {
  if (!Array.isArray(value)) {
    problems.push({ file, resource: "nodes", field: "", message: "must be a list of node groups" });
    return;
  }
  value.forEach((raw, i) => {
    const label = `nodes[${i}]`;
    if (typeof raw !== "object" || raw === null) {
      problems.push({ file, resource: label, field: "", message: "a node group must be a map" });
      return;
    }
    const { name, match, ...lists } = raw as Record<string, unknown>;
    const matchKeys = ["id", "idPrefix", "cluster", "clusterPrefix"];
    if (typeof match !== "object" || match === null || Object.keys(match).length === 0) {
      problems.push({
        file,
        resource: label,
        field: "match",
        message: `needs at least one of ${matchKeys.join(", ")}`,
      });
      return;
    }
    for (const [k, v] of Object.entries(match)) {
      if (!matchKeys.includes(k) || typeof v !== "string") {
        problems.push({
          file,
          resource: label,
          field: `match.${k}`,
          message: `expected one of ${matchKeys.join(", ")} with a string`,
        });
        return;
      }
    }
    const resources = new Map<Section, Located[]>();
    const groupName = typeof name === "string" && name ? name : label;
    for (const [key, list] of Object.entries(lists)) {
      if (!(sectionNames as string[]).includes(key)) {
        problems.push({
          file,
          resource: label,
          field: key,
          message: `unknown key; expected name, match or ${sectionNames.join(", ")}`,
        });
        continue;
      }
      readSection(file, key as Section, list, `${label}.`, resources, problems);
    }
    out.push({ name: groupName, match: match as NodeMatch, resources, file });
  });
}

function readSection(
  file: string,
  section: Section,
  value: unknown,
  prefix: string,
  into: Map<Section, Located[]>,
  problems: ConfigProblem[],
): void {
  if (!Array.isArray(value)) {
    problems.push({ file, resource: `${prefix}${section}`, field: "", message: "must be a list" });
    return;
  }
  const typeUrl = sections[section];
  const type = defaultResourceTypes.require(typeUrl);
  value.forEach((item, i) => {
    const rawName =
      typeof item === "object" && item !== null
        ? ((item as Record<string, unknown>)["name"] ??
          (item as Record<string, unknown>)["clusterName"] ??
          (item as Record<string, unknown>)["cluster_name"])
        : undefined;
    const label = `${prefix}${section}[${i}]${typeof rawName === "string" ? ` ${JSON.stringify(rawName)}` : ""}`;
    // Located first: protobuf-es accepts bad base64 in bytes fields that this walk rejects.
    const located = locateJsonProblem(type.schema, item, registry);
    if (located) {
      problems.push({ file, resource: label, field: located.path, message: located.message });
      return;
    }
    let message: ReturnType<typeof fromJson>;
    try {
      message = fromJson(type.schema, item as JsonValue, { registry });
    } catch (error) {
      const reason = (error as Error).message.replace(/^cannot decode [^:]*: /, "");
      problems.push({ file, resource: label, field: "", message: reason });
      return;
    }
    const violations: { path: string; message: string }[] = validateResource(type.schema, message, { registry });
    if (typeUrl === TypeUrl.Secret && violations.length === 0)
      violations.push(...checkSecretMaterial(message as Secret));
    for (const v of violations) problems.push({ file, resource: label, field: v.path, message: v.message });
    if (violations.length > 0) return;
    const resource = Resource.from(typeUrl, message);
    if (!resource.name) {
      problems.push({ file, resource: label, field: "name", message: "a resource needs a name" });
      return;
    }
    let list = into.get(section);
    if (!list) {
      list = [];
      into.set(section, list);
    }
    const duplicate = list.find((l) => l.resource.name === resource.name);
    if (duplicate) {
      problems.push({
        file,
        resource: label,
        field: "name",
        message: `the name is also used by ${duplicate.label} in ${duplicate.file}`,
      });
      return;
    }
    list.push({ resource, file, label });
  });
}

/** Shared resources overlaid with a group's (same name: the group's wins), checked for references. */
function buildSnapshot(
  shared: Map<Section, Located[]>,
  group: Map<Section, Located[]>,
  scope: string,
  problems: ConfigProblem[],
): Snapshot | undefined {
  const merged = new Map<string, Map<string, Located>>();
  for (const source of [shared, group]) {
    for (const [section, list] of source) {
      const typeUrl = sections[section];
      let byName = merged.get(typeUrl);
      if (!byName) {
        byName = new Map();
        merged.set(typeUrl, byName);
      }
      for (const located of list) byName.set(located.resource.name, located);
    }
  }
  const byType: Record<string, Resource[]> = {};
  const where = new Map<string, Located>();
  for (const [typeUrl, byName] of merged) {
    byType[typeUrl] = [...byName.values()].map((l) => l.resource);
    for (const [name, l] of byName) where.set(`${typeUrl}\0${name}`, l);
  }
  const snapshot = Snapshot.fromResources(byType);
  const before = problems.length;
  for (const p of snapshot.problems()) {
    if (p.kind !== "dangling" || !p.referencedBy) continue;
    const from = where.get(`${p.referencedBy.typeUrl}\0${p.referencedBy.name}`);
    const what =
      p.typeUrl === TypeUrl.Endpoint
        ? "endpoints (an endpoints entry with that clusterName)"
        : `a ${typeName(p.typeUrl)}`;
    problems.push({
      file: from?.file ?? "",
      resource: `${scope}${from?.label ?? p.referencedBy.name}`,
      field: p.typeUrl === TypeUrl.Endpoint ? "eds_cluster_config.service_name" : "route_config_name",
      message: `refers to ${what} named ${JSON.stringify(p.name)}, which the config does not define`,
    });
  }
  // Routes naming clusters: Envoy would answer 503 for them; catch it here.
  const clusters = snapshot.resources(TypeUrl.Cluster);
  for (const route of snapshot.resources(TypeUrl.Route).values()) {
    const from = where.get(`${TypeUrl.Route}\0${route.name}`);
    for (const { path, cluster } of routeClusters(route.message as RouteConfiguration)) {
      if (!clusters.has(cluster)) {
        problems.push({
          file: from?.file ?? "",
          resource: `${scope}${from?.label ?? route.name}`,
          field: path,
          message: `names cluster ${JSON.stringify(cluster)}, which the config does not define`,
        });
      }
    }
  }
  return problems.length === before ? snapshot : undefined;
}

function routeClusters(config: RouteConfiguration): { path: string; cluster: string }[] {
  const out: { path: string; cluster: string }[] = [];
  config.virtualHosts.forEach((vh, v) => {
    vh.routes.forEach((route, r) => {
      if (route.action.case !== "route") return;
      const path = `virtual_hosts[${v}].routes[${r}].route`;
      const spec = route.action.value.clusterSpecifier;
      if (spec.case === "cluster") out.push({ path: `${path}.cluster`, cluster: spec.value });
      if (spec.case === "weightedClusters") {
        spec.value.clusters.forEach((wc, w) => {
          out.push({ path: `${path}.weighted_clusters.clusters[${w}].name`, cluster: wc.name });
        });
      }
    });
  });
  return out;
}

function typeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf(".") + 1);
}
