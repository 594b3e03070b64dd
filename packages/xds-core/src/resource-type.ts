import type { DescMessage, Message } from "@bufbuild/protobuf";
import { type Any, anyUnpack } from "@bufbuild/protobuf/wkt";
import { registry as protoRegistry } from "@nebucloud/xds-proto";
import {
  type Cluster,
  Cluster_DiscoveryType,
  ClusterSchema,
} from "@nebucloud/xds-proto/envoy/config/cluster/v3/cluster_pb";
import { TypedExtensionConfigSchema } from "@nebucloud/xds-proto/envoy/config/core/v3/extension_pb";
import {
  type LbEndpoint,
  LbEndpointSchema,
} from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_components_pb";
import {
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
} from "@nebucloud/xds-proto/envoy/config/endpoint/v3/endpoint_pb";
import type { FilterChain } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_components_pb";
import { type Listener, ListenerSchema } from "@nebucloud/xds-proto/envoy/config/listener/v3/listener_pb";
import { VirtualHostSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_components_pb";
import { RouteConfigurationSchema } from "@nebucloud/xds-proto/envoy/config/route/v3/route_pb";
import {
  type ScopedRouteConfiguration,
  ScopedRouteConfigurationSchema,
} from "@nebucloud/xds-proto/envoy/config/route/v3/scoped_route_pb";
import {
  type HttpConnectionManager,
  HttpConnectionManagerSchema,
} from "@nebucloud/xds-proto/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb";
import { SecretSchema } from "@nebucloud/xds-proto/envoy/extensions/transport_sockets/tls/v3/secret_pb";
import { RuntimeSchema } from "@nebucloud/xds-proto/envoy/service/runtime/v3/rtds_pb";
import { TypeUrl } from "./type-url.js";
import { XdsError } from "./xds-error.js";

/** Names one resource refers to, by the type URL of the referenced resources. */
export type References = ReadonlyMap<string, readonly string[]>;

/**
 * What the caches and the server need to know about a resource type: its
 * message schema, how to read a resource's name, and which other resources it
 * names (so that a snapshot can be checked for dangling references).
 */
export interface ResourceType<T extends Message = Message> {
  /** The type URL clients ask for: `type.googleapis.com/` and the message's full name. */
  readonly typeUrl: string;
  /** The protobuf-es schema of the message (generated `…Schema`), used to encode, decode and print it. */
  readonly schema: DescMessage;
  /** The resource's name, the key clients subscribe by. */
  name(resource: T): string;
  /** Names this resource refers to, by type URL. Default: none. */
  references?(resource: T): References;
}

/**
 * Type URL -> {@link ResourceType}. Holds Envoy's types from the start; a type a
 * user registers (any protobuf-es message plus a name function) is served like
 * Envoy's. Register types before serving; lookups are safe at any time.
 */
export class ResourceTypeRegistry {
  readonly #types = new Map<string, ResourceType>();

  /** Adds or replaces the type for `type.typeUrl`. Returns this registry. */
  register<T extends Message>(type: ResourceType<T>): this {
    this.#types.set(type.typeUrl, type as unknown as ResourceType);
    return this;
  }

  /** The type for a type URL, or `undefined`. */
  get(typeUrl: string): ResourceType | undefined {
    return this.#types.get(typeUrl);
  }

  /** The type for a type URL; throws an {@link XdsError} `unknown_type` when none is registered. */
  require(typeUrl: string): ResourceType {
    const type = this.#types.get(typeUrl);
    if (!type) {
      throw new XdsError("unknown_type", `no resource type is registered for ${JSON.stringify(typeUrl)}`, {
        typeUrl,
        known: [...this.#types.keys()],
      });
    }
    return type;
  }

  /** Whether a type is registered for `typeUrl`. */
  has(typeUrl: string): boolean {
    return this.#types.has(typeUrl);
  }

  /** Every registered type URL, in registration order. */
  typeUrls(): string[] {
    return [...this.#types.keys()];
  }
}

const byName = (resource: Message) => (resource as unknown as { name: string }).name;

/** The EDS name a cluster asks for: its eds_cluster_config.service_name, else its own name. */
export function edsServiceName(cluster: Cluster): string | undefined {
  if (
    cluster.clusterDiscoveryType.case !== "type" ||
    cluster.clusterDiscoveryType.value !== Cluster_DiscoveryType.EDS
  ) {
    return undefined;
  }
  return cluster.edsClusterConfig?.serviceName || cluster.name;
}

/** The HttpConnectionManagers a listener holds: in its filter chains, its default chain and its API listener. */
export function httpConnectionManagers(listener: Listener): HttpConnectionManager[] {
  const out: HttpConnectionManager[] = [];
  const unpack = (any: Any | undefined) => {
    if (any?.typeUrl.endsWith("/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager")) {
      const hcm = anyUnpack(any, HttpConnectionManagerSchema);
      if (hcm) out.push(hcm);
    }
  };
  const chains: FilterChain[] = [...listener.filterChains];
  if (listener.defaultFilterChain) chains.push(listener.defaultFilterChain);
  for (const chain of chains) {
    for (const filter of chain.filters) {
      if (filter.configType.case === "typedConfig") unpack(filter.configType.value);
    }
  }
  unpack(listener.apiListener?.apiListener);
  return out;
}

function listenerReferences(listener: Listener): References {
  const routes = new Set<string>();
  for (const hcm of httpConnectionManagers(listener)) {
    const specifier = hcm.routeSpecifier;
    if (specifier.case === "rds" && specifier.value.routeConfigName) routes.add(specifier.value.routeConfigName);
    if (specifier.case === "scopedRoutes" && specifier.value.configSpecifier.case === "scopedRouteConfigurationsList") {
      for (const scope of specifier.value.configSpecifier.value.scopedRouteConfigurations) {
        if (scope.routeConfigurationName) routes.add(scope.routeConfigurationName);
      }
    }
  }
  return new Map(routes.size > 0 ? [[TypeUrl.Route, [...routes]]] : []);
}

function clusterReferences(cluster: Cluster): References {
  const eds = edsServiceName(cluster);
  return new Map(eds ? [[TypeUrl.Endpoint, [eds]]] : []);
}

function scopedRouteReferences(scope: ScopedRouteConfiguration): References {
  return new Map(scope.routeConfigurationName ? [[TypeUrl.Route, [scope.routeConfigurationName]]] : []);
}

/** A registry holding Envoy's discovery resource types and nothing else. */
export function createResourceTypeRegistry(): ResourceTypeRegistry {
  return new ResourceTypeRegistry()
    .register({ typeUrl: TypeUrl.Cluster, schema: ClusterSchema, name: byName, references: clusterReferences })
    .register({
      typeUrl: TypeUrl.Endpoint,
      schema: ClusterLoadAssignmentSchema,
      name: (r: ClusterLoadAssignment) => r.clusterName,
    })
    .register({
      typeUrl: TypeUrl.LbEndpoint,
      schema: LbEndpointSchema,
      // LEDS resources are named by the client's collection entry; the metadata
      // filter key is the usual carrier, else the endpoint's address.
      name: (r: LbEndpoint) => {
        const address = r.hostIdentifier.case === "endpoint" ? r.hostIdentifier.value.address?.address : undefined;
        return address?.case === "socketAddress"
          ? `${address.value.address}:${address.value.portSpecifier.value ?? 0}`
          : "";
      },
    })
    .register({ typeUrl: TypeUrl.Listener, schema: ListenerSchema, name: byName, references: listenerReferences })
    .register({ typeUrl: TypeUrl.Route, schema: RouteConfigurationSchema, name: byName })
    .register({
      typeUrl: TypeUrl.ScopedRoute,
      schema: ScopedRouteConfigurationSchema,
      name: byName,
      references: scopedRouteReferences,
    })
    .register({ typeUrl: TypeUrl.VirtualHost, schema: VirtualHostSchema, name: byName })
    .register({ typeUrl: TypeUrl.Secret, schema: SecretSchema, name: byName })
    .register({ typeUrl: TypeUrl.Runtime, schema: RuntimeSchema, name: byName })
    .register({ typeUrl: TypeUrl.ExtensionConfig, schema: TypedExtensionConfigSchema, name: byName });
}

/**
 * The registry the caches and server use unless given another. Register your
 * own resource types here to serve them everywhere.
 */
export const defaultResourceTypes: ResourceTypeRegistry = createResourceTypeRegistry();

/** The protobuf registry used to resolve `Any` contents (every generated Envoy message). */
export const messageRegistry = protoRegistry;
