/**
 * Clients of the model fuzzer. Each one sends real requests on a raw gRPC
 * stream and keeps, beside what it holds, a mirror of what the server must
 * believe about its subscription (the xDS rules: stale nonces ignored, legacy
 * wildcard, NACK state). Every response is checked against that mirror as it
 * is taken; `checkQuiescent` checks the end state once nothing is in flight.
 * Steps run only once the previous step's traffic has settled (see harness),
 * so the mirror is exact, not a guess about races.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { covers, Wildcard } from "@nebucloud/xds-cache";
import {
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  DeltaDiscoveryRequestSchema as DeltaRequest,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
  DiscoveryRequestSchema as SotwRequest,
} from "@nebucloud/xds-proto/envoy/service/discovery/v3/discovery_pb";
import type { Connection } from "../support/grpc-call.js";
import { GrpcCall } from "../support/grpc-call.js";
import { contentVersion, sotwItems, streamPath } from "../support/xds-clients.js";
import type { ClientSpec, WildcardForm } from "./steps.js";
import { fuzzNames, fuzzTypes, setVersion, type VersionLedger, type World } from "./world.js";

/** What a client is checked against. */
export interface ClientContext {
  readonly world: World;
  readonly ledger: VersionLedger;
  /** The node label of the client and its node key on the server. */
  readonly node: string;
  readonly nodeKey: string;
  /** The cache holds named SotW requests until they name everything (ads mode). */
  readonly adsHold: boolean;
}

/** What both clients offer the harness. */
export interface ModelClient {
  readonly spec: ClientSpec;
  /** Requests sent and responses received, over every stream of this client. */
  readonly sent: number;
  readonly received: number;
  /** Type URLs that have a subscription on the current stream. */
  subscribedTypes(): number;
  /** Takes and checks every response received and not yet taken. */
  take(): void;
  subscribe(typeUrl: string, names: readonly string[], form: WildcardForm): void;
  ack(typeUrl: string): void;
  nack(typeUrl: string): void;
  stale(typeUrl: string, names: readonly string[]): void;
  /** Ends the stream and opens another on `connection`, resuming from what it holds. */
  reconnect(connection: Connection, old: boolean): void;
  /** ACKs everything queued; true if anything was. */
  ackAll(): boolean;
  checkQuiescent(): void;
  cancel(): void;
}

const fail = (what: string): never => {
  throw new Error(what);
};

/** The per-type map of `outer`, made empty on first use. */
function inner(outer: Map<string, Map<string, string>>, typeUrl: string): Map<string, string> {
  let map = outer.get(typeUrl);
  if (!map) {
    map = new Map();
    outer.set(typeUrl, map);
  }
  return map;
}

/** The type a step names, or the client's own type on a per-type stream. */
export function stepType(spec: ClientSpec, type: number): string {
  return (fuzzTypes[spec.ads ? type : spec.type] ?? fuzzTypes[0]).url;
}

const isFull = (typeUrl: string) => fuzzTypes.find((t) => t.url === typeUrl)?.full === true;
const isLegacy = (typeUrl: string) => fuzzTypes.find((t) => t.url === typeUrl)?.legacyWildcard === true;

/** Checks a received body: covered by the subscription, and content of the client's own node. */
function checkBody(
  ctx: ClientContext,
  typeUrl: string,
  name: string,
  version: string,
  sub: { wildcard: boolean; subscribed: ReadonlySet<string> },
) {
  if (!covers(sub, name)) {
    fail(`received ${typeUrl} ${name}, not subscribed (wildcard ${sub.wildcard}, names ${[...sub.subscribed]})`);
  }
  const owner = ctx.world.ownerOf(typeUrl, name, version);
  if (owner !== ctx.node) fail(`received ${typeUrl} ${name} of node ${owner ?? "none"}, the client is ${ctx.node}`);
}

/** One client's stream and its counts, kept across the streams a reconnect opens. */
abstract class StreamClient<S extends DescMessage> {
  protected call: GrpcCall<S>;
  /** Responses of the current stream already checked. */
  protected taken = 0;
  #sentBefore = 0;
  #receivedBefore = 0;
  #streamSent = 0;
  #nodeSent = false;

  constructor(
    connection: Connection,
    readonly spec: ClientSpec,
    readonly ctx: ClientContext,
    private readonly protocol: "sotw" | "delta",
    private readonly schema: S,
    private readonly requestSchema: DescMessage,
  ) {
    this.call = this.#open(connection);
  }

  #open(connection: Connection): GrpcCall<S> {
    return new GrpcCall(
      connection,
      streamPath(this.protocol, this.spec.ads ? undefined : stepType(this.spec, 0)),
      this.schema,
    );
  }

  get sent(): number {
    return this.#sentBefore + this.#streamSent;
  }

  get received(): number {
    return this.#receivedBefore + this.call.received.length;
  }

  /** Sends a request; the node goes on the stream's first. */
  protected send(init: object): void {
    const withNode = this.#nodeSent ? init : { ...init, node: { id: this.ctx.nodeKey } };
    this.#nodeSent = true;
    this.#streamSent++;
    this.call.send(this.requestSchema, withNode as never);
  }

  /**
   * Applies what each type's queue holds (not ACKed: the stream ends now, an
   * ACK on it would never be handled), then ends the stream and opens a new
   * one. Returns `mirrors`, for the caller to resubscribe from.
   */
  protected restream<M extends { queue: unknown[] }>(
    connection: Connection,
    mirrors: Map<string, M>,
    apply: (response: M["queue"][number]) => void,
  ): Map<string, M> {
    for (const m of mirrors.values()) for (const r of m.queue.splice(0)) apply(r);
    this.#reopen(connection);
    return mirrors;
  }

  /** Ends the stream (RST_STREAM CANCEL) and opens a new one on `connection`. */
  #reopen(connection: Connection): void {
    this.cancel();
    this.#sentBefore += this.#streamSent;
    this.#receivedBefore += this.call.received.length;
    this.#streamSent = 0;
    this.taken = 0;
    this.#nodeSent = false;
    this.call = this.#open(connection);
  }

  cancel(): void {
    this.call.cancel();
  }
}

interface SotwTypeMirror {
  wildcard: boolean;
  named: boolean;
  subscribed: Set<string>;
  /** The names list last sent (repeated in ACKs, as Envoy does). */
  list: string[];
  lastNonce: string;
  lastVersion: string;
  nacked: string | undefined;
  readonly queue: DiscoveryResponse[];
}

/** A SotW client (ADS or one type). */
export class SotwModelClient extends StreamClient<typeof DiscoveryResponseSchema> implements ModelClient {
  /** Per type: the mirror of the server's view of this stream. */
  #types = new Map<string, SotwTypeMirror>();
  /** Per type: name -> content version held, and the version applied; kept across streams. */
  readonly held = new Map<string, Map<string, string>>();
  readonly applied = new Map<string, string>();

  constructor(connection: Connection, spec: ClientSpec, ctx: ClientContext) {
    super(connection, spec, ctx, "sotw", DiscoveryResponseSchema, SotwRequest);
  }

  subscribedTypes() {
    return this.#types.size;
  }

  take(): void {
    while (this.taken < this.call.received.length) {
      const response = this.call.received[this.taken++] as DiscoveryResponse;
      this.#check(response);
    }
  }

  #check(r: DiscoveryResponse): void {
    const m = this.#types.get(r.typeUrl) ?? fail(`response for ${r.typeUrl}, never requested`);
    const items = sotwItems(r);
    const heartbeat = items.length > 0 && items.every((i) => i.heartbeat);
    const held = this.held.get(r.typeUrl) ?? new Map<string, string>();
    if (heartbeat) {
      for (const i of items) {
        if (!covers(m, i.name) || !held.has(i.name)) fail(`heartbeat for ${i.name}, not subscribed or not held`);
      }
    } else {
      // The version first: a version shared by other content also shares its encoded response.
      const selection = this.ctx.world.selection(this.ctx.node, r.typeUrl, (n) => covers(m, n));
      this.ctx.ledger.record(r.typeUrl, selection, r.versionInfo);
      for (const i of items) checkBody(this.ctx, r.typeUrl, i.name, i.version, m);
      if (r.versionInfo === m.nacked) fail(`${r.typeUrl} version ${r.versionInfo} re-sent after its NACK`);
      if (isFull(r.typeUrl)) {
        const got = new Map(items.map((i) => [i.name, i.version]));
        if (setVersion(got) !== setVersion(selection)) {
          fail(
            `${r.typeUrl} full-state response ${[...got.keys()]} is not the subscribed set ${[...selection.keys()]}`,
          );
        }
      }
    }
    m.lastNonce = r.nonce;
    m.lastVersion = r.versionInfo;
    m.queue.push(r);
  }

  #apply(r: DiscoveryResponse): void {
    const items = sotwItems(r);
    if (items.length > 0 && items.every((i) => i.heartbeat)) return;
    const held = isFull(r.typeUrl) ? new Map<string, string>() : (this.held.get(r.typeUrl) ?? new Map());
    for (const i of items) held.set(i.name, i.version);
    this.held.set(r.typeUrl, held);
    this.applied.set(r.typeUrl, r.versionInfo);
  }

  #mirror(typeUrl: string): SotwTypeMirror {
    let m = this.#types.get(typeUrl);
    if (!m) {
      m = {
        wildcard: false,
        named: false,
        subscribed: new Set(),
        list: [],
        lastNonce: "",
        lastVersion: "",
        nacked: undefined,
        queue: [],
      };
      this.#types.set(typeUrl, m);
    }
    return m;
  }

  /** The server's rule for a names list (xDS wildcard rules), and the client dropping what it left. */
  #applyNames(typeUrl: string, m: SotwTypeMirror, names: readonly string[], first: boolean): void {
    if (names.includes(Wildcard)) m.wildcard = true;
    else if (first && names.length === 0 && isLegacy(typeUrl)) m.wildcard = true;
    else if (names.length > 0 || m.named) m.wildcard = false;
    if (names.length > 0) m.named = true;
    m.subscribed = new Set(names.filter((n) => n !== Wildcard));
    m.list = [...names];
    // The held copies of names left stay, as Envoy keeps them until a response replaces them: a SotW
    // version_info still names them, and a resumed stream takes the client at its word (see README).
  }

  /** A request the server takes (its nonce is the last one sent): ACK or NACK semantics, then names. */
  #request(typeUrl: string, names: readonly string[], nonce: string, error: boolean): void {
    const m = this.#mirror(typeUrl);
    const first = m.lastNonce === "" && m.list.length === 0 && !m.named && !m.wildcard;
    this.send({
      typeUrl,
      versionInfo: this.applied.get(typeUrl) ?? "",
      responseNonce: nonce,
      resourceNames: [...names],
      ...(error ? { errorDetail: { code: 3, message: "rejected by the model client" } } : {}),
    });
    if (m.lastNonce !== "" && nonce !== m.lastNonce) return;
    if (m.lastNonce !== "") m.nacked = error ? m.lastVersion : undefined;
    this.#applyNames(typeUrl, m, names, first);
  }

  subscribe(typeUrl: string, names: readonly string[], form: WildcardForm): void {
    const m = this.#mirror(typeUrl);
    // As Envoy does: take the responses first, then send one request for the latest with the new names.
    for (const r of m.queue.splice(0)) this.#apply(r);
    const list = form === "legacy" ? [] : form === "star" ? [Wildcard, ...names] : [...names];
    this.#request(typeUrl, list, m.lastNonce, false);
  }

  ack(typeUrl: string): void {
    const m = this.#types.get(typeUrl);
    const r = m?.queue.shift();
    if (!m || !r) return;
    this.#apply(r);
    this.#request(typeUrl, m.list, r.nonce, false);
  }

  nack(typeUrl: string): void {
    const m = this.#types.get(typeUrl);
    const r = m?.queue.shift();
    if (!m || !r) return;
    this.#request(typeUrl, m.list, r.nonce, true);
  }

  stale(typeUrl: string, names: readonly string[]): void {
    const m = this.#types.get(typeUrl);
    if (!m || m.lastNonce === "") return;
    this.send({
      typeUrl,
      versionInfo: "stale",
      responseNonce: `stale-${m.lastNonce}`,
      resourceNames: [...names],
      errorDetail: { code: 3, message: "stale" },
    });
  }

  reconnect(connection: Connection, old: boolean): void {
    const before = this.restream(connection, this.#types, (r) => this.#apply(r));
    this.#types = new Map();
    for (const [typeUrl, m] of before) {
      if (old) this.applied.set(typeUrl, "old-version");
      this.#request(typeUrl, m.list, "", false);
    }
  }

  ackAll(): boolean {
    let any = false;
    for (const [typeUrl, m] of this.#types) {
      if (m.queue.length === 0) continue;
      any = true;
      while (m.queue.length > 0) this.ack(typeUrl);
    }
    return any;
  }

  checkQuiescent(): void {
    for (const [typeUrl, m] of this.#types) {
      const size = this.ctx.world.size(this.ctx.node, typeUrl);
      const held = this.held.get(typeUrl) ?? new Map<string, string>();
      if (size === undefined) continue;
      const selection = this.ctx.world.selection(this.ctx.node, typeUrl, (n) => covers(m, n));
      if (m.nacked !== undefined && setVersion(selection) === m.nacked) continue;
      if (this.ctx.adsHold && !m.wildcard && selection.size < size) continue;
      for (const [name, version] of selection) {
        if (held.get(name) !== version)
          fail(`at quiescence ${typeUrl} ${name} held at ${held.get(name)}, not ${version}`);
      }
      const extra = [...held.keys()].filter((n) => covers(m, n) && !selection.has(n));
      if (isFull(typeUrl) && extra.length > 0) fail(`at quiescence ${typeUrl} still holds ${extra}, which is gone`);
    }
  }
}

interface DeltaTypeMirror {
  wildcard: boolean;
  subscribed: Set<string>;
  lastNonce: string;
  readonly queue: DeltaDiscoveryResponse[];
}

/** A delta client (ADS or one type). */
export class DeltaModelClient extends StreamClient<typeof DeltaDiscoveryResponseSchema> implements ModelClient {
  #types = new Map<string, DeltaTypeMirror>();
  /** Per type: name -> version held; kept across streams. */
  readonly held = new Map<string, Map<string, string>>();
  /** Per type: name -> the version (or "removed") the client NACKed; the server believes it applied it. */
  readonly tainted = new Map<string, Map<string, string>>();

  constructor(connection: Connection, spec: ClientSpec, ctx: ClientContext) {
    super(connection, spec, ctx, "delta", DeltaDiscoveryResponseSchema, DeltaRequest);
  }

  subscribedTypes() {
    return this.#types.size;
  }

  #heldOf(typeUrl: string): Map<string, string> {
    return inner(this.held, typeUrl);
  }

  #taintOf(typeUrl: string): Map<string, string> {
    return inner(this.tainted, typeUrl);
  }

  take(): void {
    while (this.taken < this.call.received.length) {
      const r = this.call.received[this.taken++] as DeltaDiscoveryResponse;
      const m = this.#types.get(r.typeUrl) ?? fail(`delta response for ${r.typeUrl}, never requested`);
      const held = this.#heldOf(r.typeUrl);
      const taint = this.#taintOf(r.typeUrl);
      for (const resource of r.resources) {
        if (!resource.resource) {
          if (held.get(resource.name) !== resource.version && taint.get(resource.name) !== resource.version) {
            fail(`heartbeat for ${resource.name} at ${resource.version}, which the client does not hold`);
          }
          continue;
        }
        const version = contentVersion(resource.resource.value);
        checkBody(this.ctx, r.typeUrl, resource.name, version, m);
        if (resource.version !== version) fail(`${resource.name} version ${resource.version} is not its content's`);
        if (taint.get(resource.name) === version)
          fail(`${r.typeUrl} ${resource.name} ${version} re-sent after its NACK`);
        // Another version came: the NACK no longer stands for this name.
        taint.delete(resource.name);
      }
      for (const name of r.removedResources) {
        if (this.ctx.world.selection(this.ctx.node, r.typeUrl, (n) => n === name).size > 0) {
          fail(`removed ${r.typeUrl} ${name}, which exists`);
        }
        taint.delete(name);
      }
      m.lastNonce = r.nonce;
      m.queue.push(r);
    }
  }

  #apply(r: DeltaDiscoveryResponse): void {
    const held = this.#heldOf(r.typeUrl);
    const taint = this.#taintOf(r.typeUrl);
    for (const resource of r.resources) {
      if (!resource.resource) continue;
      held.set(resource.name, resource.version);
      taint.delete(resource.name);
    }
    for (const name of r.removedResources) {
      held.delete(name);
      taint.delete(name);
    }
  }

  #mirror(typeUrl: string, subscribe: readonly string[]): { m: DeltaTypeMirror; initial: boolean } {
    const existing = this.#types.get(typeUrl);
    if (existing) return { m: existing, initial: false };
    const m: DeltaTypeMirror = {
      wildcard: subscribe.length === 0 && isLegacy(typeUrl),
      subscribed: new Set(),
      lastNonce: "",
      queue: [],
    };
    this.#types.set(typeUrl, m);
    return { m, initial: true };
  }

  /** Sends a subscription change; the server applies it even with a stale nonce. */
  #change(typeUrl: string, subscribe: string[], unsubscribe: string[], nonce: string, extra: object = {}) {
    const { m, initial } = this.#mirror(typeUrl, subscribe);
    const held = this.#heldOf(typeUrl);
    const taint = this.#taintOf(typeUrl);
    const initialVersions = initial ? Object.fromEntries(held) : undefined;
    this.send({
      typeUrl,
      resourceNamesSubscribe: subscribe,
      resourceNamesUnsubscribe: unsubscribe,
      responseNonce: nonce,
      ...(initialVersions ? { initialResourceVersions: initialVersions } : {}),
      ...extra,
    });
    if (!initial && nonce !== "" && nonce !== m.lastNonce && subscribe.length + unsubscribe.length === 0) return;
    for (const name of subscribe) {
      if (name === Wildcard) m.wildcard = true;
      else {
        m.subscribed.add(name);
        // The server resends a name subscribed again: the client's NACK of it no longer stands.
        if (!initial) taint.delete(name);
      }
    }
    for (const name of unsubscribe) {
      if (name === Wildcard) m.wildcard = false;
      else {
        // Dropped even when `*` still covers it: the server resends it then.
        m.subscribed.delete(name);
        held.delete(name);
        taint.delete(name);
      }
    }
    // The server forgets what the client no longer subscribes to, NACKed or not: a later subscribe resends it.
    for (const name of [...held.keys()]) if (!covers(m, name)) held.delete(name);
    for (const name of [...taint.keys()]) if (!covers(m, name)) taint.delete(name);
  }

  subscribe(typeUrl: string, names: readonly string[], form: WildcardForm): void {
    this.#ackQueued(typeUrl);
    const m = this.#types.get(typeUrl);
    if (!m && form === "legacy") {
      this.#change(typeUrl, [], [], "");
      return;
    }
    const target = new Set(names);
    const subscribe = names.filter((n) => !m?.subscribed.has(n));
    const unsubscribe = [...(m?.subscribed ?? [])].filter((n) => !target.has(n));
    if (form === "star" && !m?.wildcard) subscribe.push(Wildcard);
    if (form === "names" && m?.wildcard) unsubscribe.push(Wildcard);
    this.#change(typeUrl, subscribe, unsubscribe, "");
  }

  #ackQueued(typeUrl: string): void {
    const m = this.#types.get(typeUrl);
    while (m && m.queue.length > 0) this.ack(typeUrl);
  }

  ack(typeUrl: string): void {
    const r = this.#types.get(typeUrl)?.queue.shift();
    if (!r) return;
    this.#apply(r);
    this.send({ typeUrl, responseNonce: r.nonce });
  }

  nack(typeUrl: string): void {
    const r = this.#types.get(typeUrl)?.queue.shift();
    if (!r) return;
    const taint = this.#taintOf(typeUrl);
    for (const resource of r.resources) if (resource.resource) taint.set(resource.name, resource.version);
    for (const name of r.removedResources) taint.set(name, "removed");
    this.send({ typeUrl, responseNonce: r.nonce, errorDetail: { code: 3, message: "rejected by the model client" } });
  }

  stale(typeUrl: string, names: readonly string[]): void {
    const m = this.#types.get(typeUrl);
    if (!m || m.lastNonce === "") return;
    this.#ackQueued(typeUrl);
    const subscribe = names.filter((n) => !m.subscribed.has(n));
    this.#change(typeUrl, subscribe, [], `stale-${m.lastNonce}`, { errorDetail: { code: 3, message: "stale" } });
  }

  reconnect(connection: Connection, old: boolean): void {
    const before = this.restream(connection, this.#types, (r) => this.#apply(r));
    this.#types = new Map();
    for (const [typeUrl, m] of before) {
      this.tainted.delete(typeUrl);
      const held = this.#heldOf(typeUrl);
      // An old version for everything held: the server must send it all again.
      if (old) for (const name of held.keys()) held.set(name, "old-version");
      this.#change(typeUrl, [...(m.wildcard ? [Wildcard] : []), ...m.subscribed], [], "");
    }
  }

  ackAll(): boolean {
    let any = false;
    for (const [typeUrl, m] of this.#types) {
      if (m.queue.length > 0) any = true;
      this.#ackQueued(typeUrl);
    }
    return any;
  }

  checkQuiescent(): void {
    for (const [typeUrl, m] of this.#types) {
      if (this.ctx.world.size(this.ctx.node, typeUrl) === undefined) continue;
      const expected = this.ctx.world.selection(this.ctx.node, typeUrl, (n) => covers(m, n));
      const held = this.#heldOf(typeUrl);
      const taint = this.#taintOf(typeUrl);
      for (const name of fuzzNames) {
        const want = expected.get(name);
        const has = held.get(name);
        if (want === has) continue;
        // The client rejected exactly this state: the server rightly does not send it again.
        if (taint.get(name) === (want ?? "removed")) continue;
        fail(`at quiescence delta ${typeUrl} ${name} held at ${has ?? "nothing"}, expected ${want ?? "nothing"}`);
      }
    }
  }
}
