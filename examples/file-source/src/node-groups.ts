import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type { NodeMatch } from "./load-config.js";

/** The node key of nodes outside every group. */
export const sharedKey = "(shared)";

/** A node group's name and which nodes it takes: what a replica needs to key nodes as the writer does. */
export interface GroupRule {
  readonly name: string;
  readonly match: NodeMatch;
}

function matches(match: NodeMatch, node: Node | undefined): boolean {
  const id = node?.id ?? "";
  const cluster = node?.cluster ?? "";
  return (
    (match.id === undefined || id === match.id) &&
    (match.idPrefix === undefined || id.startsWith(match.idPrefix)) &&
    (match.cluster === undefined || cluster === match.cluster) &&
    (match.clusterPrefix === undefined || cluster.startsWith(match.clusterPrefix))
  );
}

/** The group a node belongs to: the first whose match holds, else {@link sharedKey}. */
export function groupOf(rules: readonly GroupRule[], node: Node | undefined): string {
  for (const rule of rules) if (matches(rule.match, node)) return rule.name;
  return sharedKey;
}

const matchKeys = ["id", "idPrefix", "cluster", "clusterPrefix"] as const;

/** The metadata a writer publishes with its snapshots: the group rules, in order. */
export function rulesMeta(rules: readonly GroupRule[]) {
  return {
    groups: rules.map((rule) => ({
      name: rule.name,
      match: Object.fromEntries(matchKeys.flatMap((k) => (rule.match[k] === undefined ? [] : [[k, rule.match[k]]]))),
    })),
  };
}

/** Reads the rules back from published metadata; throws an Error saying what is malformed. */
export function rulesFromMeta(meta: unknown): GroupRule[] {
  const groups = (meta as { groups?: unknown } | null)?.groups ?? [];
  if (!Array.isArray(groups)) throw new Error("published metadata: groups is not a list");
  return groups.map((group: unknown, i) => {
    const { name, match } = (group ?? {}) as { name?: unknown; match?: unknown };
    if (typeof name !== "string" || match === null || typeof match !== "object") {
      throw new Error(`published metadata: groups[${i}] is not { name, match }`);
    }
    const rule: Record<string, string> = {};
    for (const key of matchKeys) {
      const value = (match as Record<string, unknown>)[key];
      if (value === undefined) continue;
      if (typeof value !== "string") throw new Error(`published metadata: groups[${i}].match.${key} is not a string`);
      rule[key] = value;
    }
    return { name, match: rule as NodeMatch };
  });
}
