import { type ResourceTypeRegistry, TypeUrl, XdsError } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";

/** Types for which an empty subscription in the first request means "everything" (legacy wildcard). */
export const legacyWildcardTypes: ReadonlySet<string> = new Set([
  TypeUrl.Cluster,
  TypeUrl.Listener,
  TypeUrl.ScopedRoute,
]);

/** What every xDS request must satisfy, SotW or delta. */
export interface RequestFacts {
  /** The stream's node so far (from its first request). */
  readonly streamNode: Node | undefined;
  readonly requestNode: Node | undefined;
  readonly requestTypeUrl: string;
  /** The type a per-type service serves; undefined for ADS. */
  readonly serviceTypeUrl: string | undefined;
  readonly types: ResourceTypeRegistry;
  /** Names the request carries, and the field they are in (for the error). */
  readonly nameCount: number;
  readonly namesField: string;
  readonly maxNames: number;
}

/**
 * Checks a request against the protocol and returns the stream's node and the
 * request's type URL. Throws an XdsError for: a first request without node.id,
 * an ADS request without type_url, a type other than the service's, a type no
 * registered resource type has, too many names.
 */
export function checkRequest(facts: RequestFacts): { node: Node; typeUrl: string } {
  const node = facts.streamNode ?? facts.requestNode;
  if (!node?.id) {
    throw new XdsError("invalid_request", "the first request of a stream must carry node.id", { field: "node.id" });
  }
  const typeUrl = facts.requestTypeUrl || facts.serviceTypeUrl;
  if (!typeUrl) throw new XdsError("invalid_request", "an ADS request must carry type_url", { field: "type_url" });
  if (facts.serviceTypeUrl && typeUrl !== facts.serviceTypeUrl) {
    throw new XdsError("invalid_request", `this service serves ${facts.serviceTypeUrl}, not ${typeUrl}`, {
      field: "type_url",
      typeUrl,
    });
  }
  if (!facts.types.has(typeUrl)) {
    throw new XdsError("unknown_type", `unknown type URL ${JSON.stringify(typeUrl)}`, { typeUrl });
  }
  if (facts.nameCount > facts.maxNames) {
    throw new XdsError("invalid_request", `${facts.nameCount} resource names; at most ${facts.maxNames} allowed`, {
      field: facts.namesField,
      limit: facts.maxNames,
    });
  }
  return { node, typeUrl };
}
