/**
 * A fake Kubernetes API server for tests: an HTTP/1.1 server on 127.0.0.1
 * that speaks the list-and-watch protocol for Services and EndpointSlices,
 * enough for `@kubernetes/client-node` informers. It is not a real cluster:
 * objects are what the test puts in (fixtures shaped like `kubectl get -o json`
 * output), and only these requests are served:
 *
 * - `GET /api/v1[/namespaces/{ns}]/services` and
 *   `GET /apis/discovery.k8s.io/v1[/namespaces/{ns}]/endpointslices`: a list
 *   `{kind, apiVersion, metadata: {resourceVersion}, items}`, filtered by
 *   `labelSelector` (`k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`).
 * - The same with `?watch=true` (or `watch=1`): newline-delimited JSON events
 *   `{type: ADDED|MODIFIED|DELETED|ERROR, object}` after `resourceVersion`
 *   (every current object as ADDED when it is unset or "0"), then live ones.
 *   A watch from a compacted resourceVersion gets an ERROR event holding a
 *   Status with code 410 (Gone) and ends, as the real API server does.
 *
 * Resource versions are one counter across kinds, as with etcd. Test hooks:
 * {@link FakeApiServer.expireWatches} ends every watch with 410 Gone and
 * compacts history, forcing clients to relist; {@link FakeApiServer.holdLists}
 * holds list answers so a test can look at a client in the middle of a relist;
 * {@link FakeApiServer.failWatches} answers the next watches with a 500.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

/** The resources served. */
export type Resource = "services" | "endpointslices";

/** The metadata fields the fake server reads and writes. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  generation?: number;
  [field: string]: unknown;
}

/** A Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

interface Kind {
  readonly apiVersion: string;
  readonly kind: string;
  readonly listKind: string;
  readonly prefix: string;
}

const kinds: Record<Resource, Kind> = {
  services: { apiVersion: "v1", kind: "Service", listKind: "ServiceList", prefix: "/api/v1" },
  endpointslices: {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    listKind: "EndpointSliceList",
    prefix: "/apis/discovery.k8s.io/v1",
  },
};

const pathPattern = /^(\/api\/v1|\/apis\/discovery\.k8s\.io\/v1)(?:\/namespaces\/([^/]+))?\/(services|endpointslices)$/;

type EventType = "ADDED" | "MODIFIED" | "DELETED";

interface HistoryEvent {
  readonly rv: number;
  readonly resource: Resource;
  readonly type: EventType;
  readonly object: KubeObject;
  /** The object before a MODIFIED event: label selectors turn such events into ADDED or DELETED. */
  readonly previous: KubeObject | undefined;
}

interface Watcher {
  readonly resource: Resource;
  readonly namespace: string | undefined;
  readonly selector: LabelSelector;
  readonly res: http.ServerResponse;
}

/** A request the fake server answered. */
export interface RecordedRequest {
  readonly resource: Resource;
  readonly namespace: string | undefined;
  readonly watch: boolean;
  readonly query: Readonly<Record<string, string>>;
}

/** A parsed label selector: every requirement must hold. */
type LabelSelector = ((labels: Readonly<Record<string, string>>) => boolean)[];

/** Parses the equality- and set-based label selector syntax. Throws on what it does not know. */
export function parseLabelSelector(text: string): LabelSelector {
  const requirements: LabelSelector = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "(") depth++;
    if (char === ")") depth--;
    if (char === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += char;
  }
  parts.push(current);
  for (const raw of parts) {
    const part = raw.trim();
    if (part === "") continue;
    const set = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
    const equality = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(part);
    const absent = /^!([\w./-]+)$/.exec(part);
    const present = /^([\w./-]+)$/.exec(part);
    if (set) {
      const [, key = "", op, list = ""] = set;
      const values = new Set(list.split(",").map((v) => v.trim()));
      requirements.push(
        op === "in"
          ? (labels) => labels[key] !== undefined && values.has(labels[key])
          : (labels) => labels[key] === undefined || !values.has(labels[key]),
      );
    } else if (equality) {
      const [, key = "", op, value = ""] = equality;
      requirements.push(op === "!=" ? (labels) => labels[key] !== value : (labels) => labels[key] === value);
    } else if (absent) {
      const key = absent[1] ?? "";
      requirements.push((labels) => labels[key] === undefined);
    } else if (present) {
      const key = present[1] ?? "";
      requirements.push((labels) => labels[key] !== undefined);
    } else {
      throw new Error(`unable to parse requirement: ${JSON.stringify(part)}`);
    }
  }
  return requirements;
}

function matches(selector: LabelSelector, object: KubeObject | undefined): boolean {
  if (!object) return false;
  const labels = object.metadata?.labels ?? {};
  return selector.every((requirement) => requirement(labels));
}

function resourceOf(object: KubeObject): Resource {
  for (const [resource, kind] of Object.entries(kinds) as [Resource, Kind][]) {
    if (object.kind === kind.kind) return resource;
  }
  throw new Error(`the fake API server serves Services and EndpointSlices, not ${String(object.kind)}`);
}

function keyOf(object: KubeObject): string {
  return `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
}

/** A Status object as the API server sends it in error answers and ERROR events. */
function status(code: number, reason: string, message: string): KubeObject {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
}

/** The fake API server: see the file comment. */
export class FakeApiServer {
  readonly #server: http.Server;
  readonly #objects: Record<Resource, Map<string, KubeObject>> = { services: new Map(), endpointslices: new Map() };
  readonly #history: HistoryEvent[] = [];
  readonly #watchers = new Set<Watcher>();
  #rv = 60_000;
  /** Watches from a resourceVersion below this get 410 Gone. */
  #compactedAt = 0;
  #held: Promise<void> | undefined;
  #pendingLists = 0;
  #failWatches = 0;
  #uid = 0;
  /** Every list and watch request, in order. */
  readonly requests: RecordedRequest[] = [];
  url = "";

  private constructor() {
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) this.#json(res, 500, status(500, "InternalError", String(error)));
        else res.destroy();
      });
    });
  }

  /** Starts a fake API server on 127.0.0.1 (a free port) holding `objects`. */
  static async start(objects: readonly KubeObject[] = []): Promise<FakeApiServer> {
    const fake = new FakeApiServer();
    for (const object of objects) fake.apply(object);
    await new Promise<void>((resolve, reject) => {
      fake.#server.once("error", reject);
      fake.#server.listen(0, "127.0.0.1", () => resolve());
    });
    fake.url = `http://127.0.0.1:${(fake.#server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The current resourceVersion (of the last change). */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** Open watch streams. */
  get openWatches(): number {
    return this.#watchers.size;
  }

  /** List requests waiting on {@link holdLists}. */
  get pendingLists(): number {
    return this.#pendingLists;
  }

  /** The stored object, as the server holds it. */
  get(resource: Resource, namespace: string, name: string): KubeObject | undefined {
    const object = this.#objects[resource].get(`${namespace}/${name}`);
    return object && structuredClone(object);
  }

  /**
   * Creates or replaces an object (its `kind` says which resource), as
   * `kubectl apply` would: a new resourceVersion, and an ADDED or MODIFIED
   * event to the watches it matches. Returns the stored copy.
   */
  apply(input: KubeObject): KubeObject {
    const resource = resourceOf(input);
    const object = structuredClone(input);
    object.metadata ??= {};
    const metadata = object.metadata;
    const previous = this.#objects[resource].get(keyOf(object));
    const rv = ++this.#rv;
    metadata.resourceVersion = String(rv);
    if (previous) {
      if (previous.metadata?.uid) metadata.uid = previous.metadata.uid;
      if (previous.metadata?.creationTimestamp) metadata.creationTimestamp = previous.metadata.creationTimestamp;
      metadata.generation = (previous.metadata?.generation ?? 1) + 1;
    } else {
      metadata.uid ??= `00000000-0000-4000-8000-${String(++this.#uid).padStart(12, "0")}`;
      metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, "Z");
    }
    this.#objects[resource].set(keyOf(object), object);
    this.#record({ rv, resource, type: previous ? "MODIFIED" : "ADDED", object, previous });
    return structuredClone(object);
  }

  /** Changes a stored object with `change` and applies it. Throws when there is no such object. */
  update(resource: Resource, namespace: string, name: string, change: (object: KubeObject) => void): KubeObject {
    const object = this.get(resource, namespace, name);
    if (!object) throw new Error(`no ${resource} ${namespace}/${name}`);
    change(object);
    return this.apply(object);
  }

  /** Deletes an object: a DELETED event holding its last state with a new resourceVersion. */
  remove(resource: Resource, namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const previous = this.#objects[resource].get(key);
    if (!previous) throw new Error(`no ${resource} ${key}`);
    this.#objects[resource].delete(key);
    const rv = ++this.#rv;
    const object = structuredClone(previous);
    object.metadata = { ...object.metadata, resourceVersion: String(rv) };
    this.#record({ rv, resource, type: "DELETED", object, previous: undefined });
  }

  /**
   * Ends every open watch with an ERROR event holding a 410 Gone Status, and
   * compacts history so that no watch can resume from an older
   * resourceVersion: clients must relist. Returns how many watches it ended.
   */
  expireWatches(): number {
    this.#compactedAt = this.#rv + 1;
    const ended = this.#watchers.size;
    for (const watcher of [...this.#watchers]) this.#gone(watcher, "0");
    return ended;
  }

  /** Holds every list answer until the returned function is called. */
  holdLists(): () => void {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#held = held;
    return () => {
      if (this.#held === held) this.#held = undefined;
      release();
    };
  }

  /** Answers the next `count` watch requests with a 500 error. */
  failWatches(count: number): void {
    this.#failWatches = count;
  }

  /** Ends every watch and connection and stops listening. */
  async close(): Promise<void> {
    for (const watcher of this.#watchers) watcher.res.end();
    this.#watchers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #record(event: HistoryEvent): void {
    this.#history.push(event);
    for (const watcher of this.#watchers) this.#send(watcher, event);
  }

  /** Sends `event` to `watcher` if it concerns it, as the event the watcher should see under its selector. */
  #send(watcher: Watcher, event: HistoryEvent): void {
    if (event.resource !== watcher.resource) return;
    if (watcher.namespace !== undefined && event.object.metadata?.namespace !== watcher.namespace) return;
    const now = matches(watcher.selector, event.object);
    const before = matches(watcher.selector, event.previous);
    let type: EventType | undefined = event.type;
    if (event.type === "MODIFIED") type = now && before ? "MODIFIED" : now ? "ADDED" : before ? "DELETED" : undefined;
    else if (!now) type = undefined;
    if (type) this.#write(watcher, { type, object: event.object });
  }

  #write(watcher: Watcher, event: { type: string; object: KubeObject }): void {
    if (!watcher.res.writableEnded) watcher.res.write(`${JSON.stringify(event)}\n`);
  }

  #gone(watcher: Watcher, from: string): void {
    this.#write(watcher, {
      type: "ERROR",
      object: status(410, "Expired", `too old resource version: ${from} (${this.#compactedAt - 1})`),
    });
    this.#watchers.delete(watcher);
    watcher.res.end();
  }

  #json(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const match = pathPattern.exec(url.pathname);
    const resource = match?.[3] as Resource | undefined;
    if (req.method !== "GET" || !match || !resource || kinds[resource].prefix !== match[1]) {
      this.#json(res, 404, status(404, "NotFound", `the server could not find the requested resource`));
      return;
    }
    const namespace = match[2];
    const query = Object.fromEntries(url.searchParams);
    const watch = query["watch"] === "true" || query["watch"] === "1";
    this.requests.push({ resource, namespace, watch, query });
    let selector: LabelSelector;
    try {
      selector = parseLabelSelector(query["labelSelector"] ?? "");
    } catch (error) {
      this.#json(res, 400, status(400, "BadRequest", String(error)));
      return;
    }
    if (watch) this.#watch(res, { resource, namespace, selector, res }, query);
    else await this.#list(res, resource, namespace, selector);
  }

  async #list(
    res: http.ServerResponse,
    resource: Resource,
    namespace: string | undefined,
    selector: LabelSelector,
  ): Promise<void> {
    if (this.#held) {
      this.#pendingLists++;
      try {
        await this.#held;
      } finally {
        this.#pendingLists--;
      }
    }
    const kind = kinds[resource];
    // As the real server does, list items carry no kind or apiVersion.
    const items = [...this.#objects[resource].values()]
      .filter((o) => namespace === undefined || o.metadata?.namespace === namespace)
      .filter((o) => matches(selector, o))
      .map(({ kind: _kind, apiVersion: _apiVersion, ...rest }) => rest);
    this.#json(res, 200, {
      kind: kind.listKind,
      apiVersion: kind.apiVersion,
      metadata: { resourceVersion: this.resourceVersion },
      items,
    });
  }

  #watch(res: http.ServerResponse, watcher: Watcher, query: Record<string, string>): void {
    if (this.#failWatches > 0) {
      this.#failWatches--;
      this.#json(res, 500, status(500, "InternalError", "etcdserver: request timed out"));
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders();
    this.#watchers.add(watcher);
    res.once("close", () => this.#watchers.delete(watcher));
    const timeout = Number(query["timeoutSeconds"] ?? 0);
    if (timeout > 0) {
      const timer = setTimeout(() => {
        this.#watchers.delete(watcher);
        res.end();
      }, timeout * 1000);
      timer.unref();
      res.once("close", () => clearTimeout(timer));
    }
    const from = query["resourceVersion"] ?? "";
    if (from === "" || from === "0") {
      // "Start at most recent": the current state as ADDED events, then live events.
      for (const object of this.#objects[watcher.resource].values()) {
        this.#send(watcher, { rv: this.#rv, resource: watcher.resource, type: "ADDED", object, previous: undefined });
      }
      return;
    }
    const rv = Number(from);
    if (!Number.isInteger(rv) || rv < this.#compactedAt - 1) {
      this.#gone(watcher, from);
      return;
    }
    for (const event of this.#history) if (event.rv > rv) this.#send(watcher, event);
  }
}
