import { readFileSync } from "node:fs";
import type { ServerConfigInput } from "@nebucloud/xds-core";
import type { AuthorizerOptions, NodeAuthorizer, SecretAuthorizer } from "@nebucloud/xds-server";
import { parse as parseYaml } from "yaml";

/** What one identity may do: act for nodes of these groups (and ids), receive these Secrets. */
export interface IdentityGrant {
  /** Node groups (the config's `nodes[].name`, or `(shared)` for nodes outside every group). */
  readonly groups: readonly string[];
  /** Node ids it may claim (`*` suffix: prefix); default any id within its groups. */
  readonly nodeIds?: readonly string[];
  /** Secret names it may receive (`*` suffix: prefix); default every Secret of its groups. */
  readonly secrets?: readonly string[];
}

/**
 * The main job's security settings, from `--security FILE` and flags (flags
 * win). Paths are read at start; TLS files are re-read when they change.
 */
export interface SecuritySettings {
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  /** CA bundle client certificates must chain to: turns on mTLS identities. */
  readonly clientCa?: string | undefined;
  /** Refuse TLS clients without a certificate (default false: they connect, and are anonymous). */
  readonly requireClientCert?: boolean | undefined;
  /** SPIFFE id (URI SAN) or certificate CN -> what it may do. */
  readonly identities?: Readonly<Record<string, IdentityGrant>> | undefined;
  /** What callers without a verified certificate may do; default nothing once identities are set. */
  readonly unauthenticated?: IdentityGrant | undefined;
  /** Identities that read every node's status over CSDS. */
  readonly admins?: readonly string[] | undefined;
  /** Server limits (the library's ServerConfig names). */
  readonly limits?: LimitSettings | undefined;
}

/** The limits the main job exposes. */
export interface LimitSettings {
  readonly maxWatchesPerNode?: number | undefined;
  readonly maxStreamsPerPeer?: number | undefined;
  readonly requestsPerSecondPerPeer?: number | undefined;
  readonly newStreamsPerSecond?: number | undefined;
  readonly writeTimeoutMs?: number | undefined;
}

/** A settings problem: one line naming the file or flag and the fix. */
export class SettingsError extends Error {}

const topKeys = [
  "tlsCert",
  "tlsKey",
  "clientCa",
  "requireClientCert",
  "identities",
  "unauthenticated",
  "admins",
  "limits",
];
const grantKeys = ["groups", "nodeIds", "secrets"];
const limitKeys = [
  "maxWatchesPerNode",
  "maxStreamsPerPeer",
  "requestsPerSecondPerPeer",
  "newStreamsPerSecond",
  "writeTimeoutMs",
];

/** Reads and checks a `--security` file (YAML or JSON). */
export function readSecurityFile(path: string): SecuritySettings {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new SettingsError(
      `--security ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new SettingsError(`--security ${path}: ${(error as Error).message.split("\n")[0]}`);
  }
  return checkSettings(value ?? {}, `--security ${path}`);
}

function checkSettings(value: unknown, where: string): SecuritySettings {
  const top = object(value, where);
  unknownKeys(top, topKeys, where);
  for (const key of ["tlsCert", "tlsKey", "clientCa"]) optionalString(top[key], `${where}: ${key}`);
  if (top["requireClientCert"] !== undefined && typeof top["requireClientCert"] !== "boolean") {
    throw new SettingsError(`${where}: requireClientCert must be true or false`);
  }
  const identities: Record<string, IdentityGrant> = {};
  if (top["identities"] !== undefined) {
    for (const [id, grant] of Object.entries(object(top["identities"], `${where}: identities`))) {
      identities[id] = checkGrant(grant, `${where}: identities["${id}"]`);
    }
  }
  const limits = top["limits"] === undefined ? undefined : object(top["limits"], `${where}: limits`);
  if (limits) {
    unknownKeys(limits, limitKeys, `${where}: limits`);
    for (const [key, n] of Object.entries(limits)) {
      if (typeof n !== "number" || n < 0) throw new SettingsError(`${where}: limits.${key} must be a number >= 0`);
    }
  }
  return {
    tlsCert: top["tlsCert"] as string | undefined,
    tlsKey: top["tlsKey"] as string | undefined,
    clientCa: top["clientCa"] as string | undefined,
    requireClientCert: top["requireClientCert"] as boolean | undefined,
    ...(top["identities"] !== undefined ? { identities } : {}),
    ...(top["unauthenticated"] !== undefined
      ? { unauthenticated: checkGrant(top["unauthenticated"], `${where}: unauthenticated`) }
      : {}),
    ...(top["admins"] !== undefined ? { admins: stringList(top["admins"], `${where}: admins`) } : {}),
    ...(limits ? { limits: limits as LimitSettings } : {}),
  };
}

function checkGrant(value: unknown, where: string): IdentityGrant {
  const grant = object(value, where);
  unknownKeys(grant, grantKeys, where);
  if (grant["groups"] === undefined)
    throw new SettingsError(`${where}: groups is required (the node groups it may act for)`);
  return {
    groups: stringList(grant["groups"], `${where}.groups`),
    ...(grant["nodeIds"] !== undefined ? { nodeIds: stringList(grant["nodeIds"], `${where}.nodeIds`) } : {}),
    ...(grant["secrets"] !== undefined ? { secrets: stringList(grant["secrets"], `${where}.secrets`) } : {}),
  };
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new SettingsError(`${where} must be a mapping`);
  }
  return value as Record<string, unknown>;
}

function unknownKeys(value: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      throw new SettingsError(`${where}: unknown key ${key}; expected one of ${known.join(", ")}`);
  }
}

function optionalString(value: unknown, where: string): void {
  if (value !== undefined && typeof value !== "string") throw new SettingsError(`${where} must be a path`);
}

function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new SettingsError(`${where} must be a list of strings`);
  }
  return value as string[];
}

/** `*` suffix: prefix; otherwise exact. */
function matches(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => (p.endsWith("*") ? value.startsWith(p.slice(0, -1)) : value === p));
}

/**
 * The authorizer for `settings`: a caller acts for a node when one of its
 * verified identities (or, without a certificate, `unauthenticated`) grants
 * the node's group (its node key) and, where listed, its node id. Undefined
 * when no identities are configured (every caller may act for every node).
 */
export function authorizerOf(
  settings: SecuritySettings,
): { authorize: NodeAuthorizer; options: AuthorizerOptions } | undefined {
  if (!settings.identities && !settings.unauthenticated) return undefined;
  const identities = settings.identities ?? {};
  const grantsOf = (peer: { identities: readonly string[] }): IdentityGrant[] => {
    const grants = peer.identities.flatMap((id) =>
      Object.hasOwn(identities, id) ? [identities[id] as IdentityGrant] : [],
    );
    if (peer.identities.length === 0 && settings.unauthenticated) grants.push(settings.unauthenticated);
    return grants;
  };
  const allows = (grant: IdentityGrant, nodeKey: string, nodeId: string) =>
    matches(grant.groups, nodeKey) && (!grant.nodeIds || matches(grant.nodeIds, nodeId));
  const authorize: NodeAuthorizer = (peer, node, request) =>
    grantsOf(peer).some((grant) => allows(grant, request.nodeKey, node.id));
  const secretAuthorizer: SecretAuthorizer = (node, name, request) =>
    grantsOf(request.peer).some(
      (grant) => allows(grant, request.nodeKey, node.id) && (!grant.secrets || matches(grant.secrets, name)),
    );
  return { authorize, options: { secretAuthorizer, adminIdentities: settings.admins ?? [] } };
}

/** The ServerConfig limits the settings ask for. */
export function limitsOf(settings: SecuritySettings): ServerConfigInput {
  const { maxWatchesPerNode: _cacheLimit, ...server } = settings.limits ?? {};
  return Object.fromEntries(Object.entries(server).filter(([, v]) => v !== undefined)) as ServerConfigInput;
}
