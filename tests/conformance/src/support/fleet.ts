/**
 * A client that behaves like a long-lived proxy: it keeps what it holds
 * across streams, reconnects with its versions (SotW version_info, delta
 * initial_resource_versions), and ACKs everything. The fault tests run many.
 */
import type { Snapshot } from "@nebucloud/xds-cache";
import { TypeUrl } from "@nebucloud/xds-core";
import type { CallEnd, Connection } from "./grpc-call.js";
import { DeltaClient, type Protocol, SotwClient } from "./xds-clients.js";

/** Subscribed types: every cluster, and the endpoints named here. */
export class FleetClient {
  /** Type URL -> name -> version held, kept across streams. */
  readonly held = new Map<string, Map<string, string>>();
  /** SotW: type URL -> version last applied. */
  readonly versions = new Map<string, string>();
  /** How each stream ended. */
  readonly ends: CallEnd[] = [];
  responses = 0;
  current: SotwClient | DeltaClient | undefined;

  constructor(
    readonly nodeId: string,
    readonly protocol: Protocol,
    readonly endpoints: readonly string[],
  ) {}

  /** Runs one stream on `connection` until it ends; resolves with how it ended. */
  async stream(connection: Connection): Promise<CallEnd> {
    const options = { ads: true, typeUrl: TypeUrl.Cluster, nodeId: this.nodeId };
    let end: CallEnd;
    if (this.protocol === "sotw") {
      const client = new SotwClient(connection, options);
      this.current = client;
      for (const [typeUrl, held] of this.held) client.held.set(typeUrl, new Map(held));
      for (const [typeUrl, version] of this.versions) client.versions.set(typeUrl, version);
      client.subscribe(TypeUrl.Cluster, []);
      if (this.endpoints.length > 0) client.subscribe(TypeUrl.Endpoint, [...this.endpoints]);
      end = await client.run((response) => {
        this.responses++;
        this.held.set(response.typeUrl, new Map(client.held.get(response.typeUrl)));
        this.versions.set(response.typeUrl, response.versionInfo);
      });
    } else {
      const client = new DeltaClient(connection, options);
      this.current = client;
      for (const [typeUrl, held] of this.held) client.held.set(typeUrl, new Map(held));
      client.subscribe(TypeUrl.Cluster, ["*"], [], Object.fromEntries(this.held.get(TypeUrl.Cluster) ?? []));
      if (this.endpoints.length > 0) {
        client.subscribe(
          TypeUrl.Endpoint,
          [...this.endpoints],
          [],
          Object.fromEntries(this.held.get(TypeUrl.Endpoint) ?? []),
        );
      }
      end = await client.run((response) => {
        this.responses++;
        this.held.set(response.typeUrl, new Map(client.held.get(response.typeUrl)));
      });
    }
    this.ends.push(end);
    return end;
  }

  /** Ends the current stream from the client side (RST_STREAM CANCEL). */
  cancel(): void {
    this.current?.call.cancel();
  }

  /**
   * Resources the client should hold from `snapshot` but does not hold at
   * their version, plus resources it holds that no longer exist (clusters).
   */
  lost(snapshot: Snapshot): number {
    let lost = 0;
    const clusters = snapshot.resources(TypeUrl.Cluster);
    const heldClusters = this.held.get(TypeUrl.Cluster) ?? new Map<string, string>();
    for (const [name, resource] of clusters) if (heldClusters.get(name) !== resource.version) lost++;
    for (const name of heldClusters.keys()) if (!clusters.has(name)) lost++;
    const endpoints = snapshot.resources(TypeUrl.Endpoint);
    const heldEndpoints = this.held.get(TypeUrl.Endpoint) ?? new Map<string, string>();
    for (const name of this.endpoints) {
      const resource = endpoints.get(name);
      if (resource && heldEndpoints.get(name) !== resource.version) lost++;
    }
    return lost;
  }
}
