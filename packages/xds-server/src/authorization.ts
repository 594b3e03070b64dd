import type { Cache } from "@nebucloud/xds-cache";
import { XdsError } from "@nebucloud/xds-core";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type { Peer } from "./peer.js";

/**
 * The service name an {@link AuthorizationRequest} carries for a request on
 * the xDS port's REST gateway (`POST /v3/discovery:<type>`). gRPC calls carry
 * their service's full name (`envoy.service.discovery.v3.AggregatedDiscoveryService`,
 * `envoy.service.status.v3.ClientStatusDiscoveryService`,
 * `envoy.service.load_stats.v3.LoadReportingService`, ...).
 */
export const restGatewayService = "xds.rest";

/** Everything one authorization decision sees. */
export interface AuthorizationRequest {
  /** Who called: address, and under mTLS the verified certificate's names. */
  readonly peer: Peer;
  /** The node the caller speaks for (the stream's first request's node: the stream keeps it). */
  readonly node: Node;
  /**
   * The key the cache reads this node's resources under (its node group):
   * what the caller gets if allowed. Nodes that share it share configuration,
   * so an identity should be bound to it, not to `node.id` alone. For CSDS,
   * the key of the node whose status would be shown.
   */
  readonly nodeKey: string;
  /** The gRPC service's full name, or {@link restGatewayService}. */
  readonly service: string;
  /** The method's name (`StreamAggregatedResources`, `FetchClusters`...), or the REST path. */
  readonly method: string;
  /** The type URL asked for; undefined for CSDS and LRS. */
  readonly typeUrl: string | undefined;
}

/**
 * Decides whether the caller may do what `request` describes. Called:
 * - on every xDS stream (SotW and delta, ADS and per-type) once per type URL
 *   it asks for, with the node of its first request, before anything of that
 *   type is served;
 * - on every unary Fetch and REST discovery request;
 * - on LRS with the node of the stream's first request, before a report is taken;
 * - on CSDS once per node a response would show (see
 *   {@link AuthorizerOptions.adminIdentities}).
 * `false` (or a rejected promise) refuses: PERMISSION_DENIED naming what was
 * refused; CSDS leaves the node out. Once an authorizer is configured nothing
 * on the xDS port is served without its consent. May be called concurrently.
 * `peer` and `node` repeat `request.peer` and `request.node`, for authorizers
 * written against the two-argument form.
 */
export type NodeAuthorizer = (peer: Peer, node: Node, request: AuthorizationRequest) => boolean | Promise<boolean>;

/**
 * Decides whether `node` may receive the Secret named `secretName`. Called
 * synchronously for every Secret name a node subscribes to, each time its
 * subscription changes, so keep it cheap. `request` says who asked (its peer
 * and node key): scope Secrets by the caller's identity, not by node fields
 * the caller chose.
 */
export type SecretAuthorizer = (node: Node, secretName: string, request: AuthorizationRequest) => boolean;

/** Options of {@link XdsServerBuilder.withAuthorizer}. */
export interface AuthorizerOptions {
  /**
   * Narrows which Secrets (SDS) a node receives, beyond the snapshot of its
   * node key. A Secret the node may not have is treated as one that does not
   * exist for it: it is left out of responses, whatever the node subscribes
   * to, so a refusal reveals nothing. A wildcard (`*`) or prefix-glob
   * (`prefix/*`) Secret subscription is refused with PERMISSION_DENIED, since
   * it cannot be checked name by name; Envoy subscribes to secrets by name.
   * Revoking a secret stops further updates of it; a client keeps what it
   * already holds. With `SnapshotCache({ ads: true })` a node that may not see
   * every Secret of its snapshot is held forever on SDS (the ADS hold waits
   * for every name): give such nodes snapshots with only their secrets.
   */
  readonly secretAuthorizer?: SecretAuthorizer;
  /**
   * Identities (SPIFFE ids or CNs of a verified client certificate) that read
   * every node's status over CSDS. Everyone else sees on CSDS only the nodes
   * the authorizer lets it speak for. Being an admin allows nothing else.
   * Default: none.
   */
  readonly adminIdentities?: readonly string[];
}

/** The authorization a server applies, assembled once from the builder's settings. */
export interface Authorization {
  readonly authorize: NodeAuthorizer;
  readonly secretAuthorizer: SecretAuthorizer | undefined;
  readonly adminIdentities: ReadonlySet<string>;
  /** What the decision calls the node's key (the cache's, or `node.id` where the cache keys nothing by node). */
  nodeKeyOf(node: Node, typeUrl: string | undefined): string;
}

/** An {@link Authorization} for `cache`, from the builder's settings. */
export function authorization(cache: Cache, authorize: NodeAuthorizer, options: AuthorizerOptions): Authorization {
  return {
    authorize,
    secretAuthorizer: options.secretAuthorizer,
    adminIdentities: new Set(options.adminIdentities ?? []),
    nodeKeyOf(node, typeUrl) {
      try {
        return cache.nodeKey ? cache.nodeKey(node, typeUrl) : node.id;
      } catch {
        // A cache that cannot key this request (an unknown type in a MuxCache)
        // serves it nothing; the decision still must not see another node's key.
        return node.id;
      }
    },
  };
}

/** Whether `peer` is one of the admin identities (reads every node's CSDS status). */
export function isAdmin(auth: Authorization, peer: Peer): boolean {
  return peer.identities.some((identity) => auth.adminIdentities.has(identity));
}

/** The request a decision sees for a call on `service`/`method` about `node`. */
export function authorizationRequest(
  auth: Authorization,
  peer: Peer,
  node: Node,
  call: { readonly service: string; readonly method: string; readonly typeUrl: string | undefined },
): AuthorizationRequest {
  return { peer, node, nodeKey: auth.nodeKeyOf(node, call.typeUrl), ...call };
}

/**
 * Runs the authorizer and throws an XdsError `permission_denied` naming what
 * was refused (node, node key, service, type) when it says no. What the
 * authorizer throws is passed on (an XdsError keeps its status; anything else
 * becomes INTERNAL), so a broken authorizer never lets a call through.
 */
export async function requireAuthorized(auth: Authorization, request: AuthorizationRequest): Promise<void> {
  if ((await auth.authorize(request.peer, request.node, request)) === true) return;
  const what = request.typeUrl ? `${request.typeUrl} on ${request.service}` : request.service;
  throw new XdsError(
    "permission_denied",
    `this client may not speak for node ${JSON.stringify(request.node.id)} (node key ${JSON.stringify(request.nodeKey)}): ${what} refused`,
    {
      nodeId: request.node.id,
      nodeKey: request.nodeKey,
      service: request.service,
      ...(request.typeUrl ? { typeUrl: request.typeUrl } : {}),
    },
  );
}
