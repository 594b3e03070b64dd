/**
 * Watches Services and EndpointSlices with `@kubernetes/client-node` informers
 * and keeps a SnapshotCache in step: every informer event schedules a rebuild
 * of the whole snapshot from the informers' caches (coalesced over
 * `debounceMs`), and so does every resync period. Snapshot versions are
 * content hashes, so a rebuild that changes nothing pushes nothing.
 *
 * A watch that ends with 410 Gone makes the informer relist. Its cache keeps
 * the objects it had until the new list arrives, and this source does not
 * rebuild while a list is in flight: clients keep the last snapshot until the
 * relist completes, then get whatever changed meanwhile. An informer that
 * fails (API server unreachable, watch refused) is restarted with capped
 * exponential backoff, again without touching the snapshot.
 */
import {
  CoreV1Api,
  DiscoveryV1Api,
  type Informer,
  KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
  type V1EndpointSlice,
  type V1Service,
} from "@kubernetes/client-node";
import { type Snapshot, SnapshotCache } from "@nebucloud/xds-cache";
import { nodeHash, TypeUrl } from "@nebucloud/xds-core";
import { toSnapshot } from "./kube-to-xds.js";

/** Where log lines go. */
export type Log = (level: "info" | "warn" | "error", message: string) => void;

/** Options of {@link KubernetesSource}. */
export interface KubernetesSourceOptions {
  /** How to reach the API server: see {@link kubeConfigFor}. */
  readonly kubeConfig: KubeConfig;
  /** The namespace to watch; undefined watches every namespace. */
  readonly namespace?: string | undefined;
  /**
   * Only Services matching this label selector get xDS resources. EndpointSlices
   * are watched unfiltered (in the same namespace) and joined to the selected
   * Services by their `kubernetes.io/service-name` label.
   */
  readonly labelSelector?: string | undefined;
  /** The snapshot key every node reads. Default "all". */
  readonly nodeKey?: string;
  /** Events within this many milliseconds of the first make one rebuild. Default 50. */
  readonly debounceMs?: number;
  /** Rebuild the snapshot from the informer caches this often even without events. Default 60 s. */
  readonly resyncMs?: number;
  /** First delay before restarting a failed informer; doubles up to `maxBackoffMs`. Default 500 ms. */
  readonly backoffMs?: number;
  /** Longest delay before restarting a failed informer. Default 30 s. */
  readonly maxBackoffMs?: number;
  /** Default: nowhere. */
  readonly log?: Log;
  /** Called with each new snapshot after it is set, e.g. to publish it to a store replicas serve from. */
  readonly onSnapshot?: (snapshot: Snapshot) => void;
}

/**
 * A KubeConfig for `server` (e.g. `http://127.0.0.1:8001` from `kubectl proxy`),
 * with no credentials and `namespace` as the context's namespace; without a
 * server, the usual one (`$KUBECONFIG`, `~/.kube/config`, or in-cluster).
 */
export function kubeConfigFor(server: string | undefined, namespace?: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (server === undefined) {
    kubeConfig.loadFromDefault();
    return kubeConfig;
  }
  kubeConfig.loadFromOptions({
    // client-node refuses http:// servers unless skipTLSVerify is set; there is no TLS to verify there.
    clusters: [{ name: "cluster", server, skipTLSVerify: server.startsWith("http:") }],
    users: [{ name: "user" }],
    contexts: [{ name: "context", cluster: "cluster", user: "user", ...(namespace ? { namespace } : {}) }],
    currentContext: "context",
  });
  return kubeConfig;
}

/** What one informer is doing, for `/debug/kubernetes`. */
export interface InformerStatus {
  /** A list request is in flight (first list, or a relist after 410 Gone). */
  readonly listing: boolean;
  /** The first list has completed. */
  readonly synced: boolean;
  readonly lists: number;
  readonly restarts: number;
  readonly resourceVersion: string;
  readonly lastError: string | undefined;
}

class Watched<T extends KubernetesObject> {
  listing = false;
  synced = false;
  lists = 0;
  restarts = 0;
  backoffMs: number;
  lastError: string | undefined;
  /** The resourceVersion of the last list or event seen. */
  resourceVersion = "";
  restartTimer: NodeJS.Timeout | undefined;
  readonly informer: Informer<T> & ObjectCache<T>;

  constructor(
    readonly name: string,
    make: (list: () => Promise<KubernetesListObject<T>>) => Informer<T> & ObjectCache<T>,
    list: () => Promise<KubernetesListObject<T>>,
    private readonly source: { closed: boolean; listed(): void },
    backoffMs: number,
  ) {
    this.backoffMs = backoffMs;
    this.informer = make(async () => {
      this.listing = true;
      this.lists++;
      try {
        const result = await list();
        // client-node starts a watch after a list even when stopped meanwhile; failing the list prevents that.
        if (this.source.closed) throw new Error("source closed");
        this.synced = true;
        this.resourceVersion = result.metadata?.resourceVersion ?? "";
        return result;
      } finally {
        this.listing = false;
        this.source.listed();
      }
    });
  }

  status(): InformerStatus {
    return {
      listing: this.listing,
      synced: this.synced,
      lists: this.lists,
      restarts: this.restarts,
      resourceVersion: this.resourceVersion,
      lastError: this.lastError,
    };
  }
}

/**
 * Services and EndpointSlices of a namespace, served as xDS resources (see
 * `kube-to-xds.ts`) from {@link KubernetesSource.cache} to every node.
 */
export class KubernetesSource {
  /** The cache to serve: every node reads the snapshot under `nodeKey`. */
  readonly cache: SnapshotCache;
  readonly nodeKey: string;
  readonly #debounceMs: number;
  readonly #resyncMs: number;
  readonly #maxBackoffMs: number;
  readonly #initialBackoffMs: number;
  readonly #log: Log;
  readonly #onSnapshot: ((snapshot: Snapshot) => void) | undefined;
  readonly #services: Watched<V1Service>;
  readonly #slices: Watched<V1EndpointSlice>;
  readonly #state = { closed: false, listed: () => this.#schedule() };
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #rebuilds = 0;
  #updates = 0;
  #lastUpdate: Date | undefined;
  #lastError: string | undefined;

  constructor(options: KubernetesSourceOptions) {
    const key = options.nodeKey ?? "all";
    this.nodeKey = key;
    this.cache = new SnapshotCache({ nodeHash: nodeHash(() => key) });
    this.#debounceMs = options.debounceMs ?? 50;
    this.#resyncMs = options.resyncMs ?? 60_000;
    this.#initialBackoffMs = options.backoffMs ?? 500;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#log = options.log ?? (() => {});
    this.#onSnapshot = options.onSnapshot;
    const kc = options.kubeConfig;
    const { namespace, labelSelector } = options;
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const selector = labelSelector ? { labelSelector } : {};
    this.#services = new Watched<V1Service>(
      "services",
      (list) =>
        makeInformer(
          kc,
          namespace ? `/api/v1/namespaces/${namespace}/services` : "/api/v1/services",
          list,
          labelSelector,
        ),
      () =>
        namespace
          ? core.listNamespacedService({ namespace, ...selector })
          : core.listServiceForAllNamespaces({ ...selector }),
      this.#state,
      this.#initialBackoffMs,
    );
    this.#slices = new Watched<V1EndpointSlice>(
      "endpointslices",
      (list) =>
        makeInformer(
          kc,
          namespace
            ? `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`
            : "/apis/discovery.k8s.io/v1/endpointslices",
          list,
        ),
      () =>
        namespace
          ? discovery.listNamespacedEndpointSlice({ namespace })
          : discovery.listEndpointSliceForAllNamespaces(),
      this.#state,
      this.#initialBackoffMs,
    );
    for (const watched of [this.#services, this.#slices] as Watched<KubernetesObject>[]) {
      const changed = (object: KubernetesObject) => {
        watched.backoffMs = this.#initialBackoffMs;
        watched.resourceVersion = object.metadata?.resourceVersion ?? watched.resourceVersion;
        this.#schedule();
      };
      watched.informer.on("add", changed);
      watched.informer.on("update", changed);
      watched.informer.on("delete", changed);
      watched.informer.on("error", (error: unknown) => this.#failed(watched, error));
    }
  }

  /**
   * Starts both informers (a list, then a watch each) and the resync timer.
   * Resolves once both have started, whether or not their first list
   * succeeded: a failure is retried with backoff, and {@link ready} tells when
   * the first snapshot is served.
   */
  async start(): Promise<void> {
    this.#resync = setInterval(() => this.#schedule(), this.#resyncMs);
    this.#resync.unref();
    await Promise.all([this.#services.informer.start(), this.#slices.informer.start()]);
  }

  /** A snapshot has been set: both informers listed once. */
  get ready(): boolean {
    return this.#updates > 0;
  }

  /** The state of both informers and of the snapshot, for an operator. */
  status() {
    const snapshot = this.cache.getSnapshot(this.nodeKey);
    return {
      ready: this.ready,
      rebuilds: this.#rebuilds,
      updates: this.#updates,
      lastUpdate: this.#lastUpdate?.toISOString() ?? null,
      lastError: this.#lastError ?? null,
      clusters: snapshot ? [...snapshot.resources(TypeUrl.Cluster).keys()] : [],
      services: this.#services.status(),
      endpointSlices: this.#slices.status(),
    };
  }

  /** Stops both informers and every timer, and closes the cache. */
  async close(): Promise<void> {
    if (this.#state.closed) return;
    this.#state.closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#resync);
    for (const watched of [this.#services, this.#slices] as Watched<KubernetesObject>[]) {
      clearTimeout(watched.restartTimer);
      await watched.informer.stop();
    }
    this.cache.close();
  }

  /** Schedules a rebuild within `debounceMs`, unless one is already scheduled. */
  #schedule(): void {
    if (this.#state.closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#rebuild();
    }, this.#debounceMs);
  }

  #rebuild(): void {
    // Not before both first lists, and not while a relist is in flight: the
    // last snapshot stays until the informer caches are whole again (the end
    // of a list schedules the next rebuild).
    if (!this.#services.synced || !this.#slices.synced) return;
    if (this.#services.listing || this.#slices.listing) return;
    try {
      const snapshot = toSnapshot(this.#services.informer.list(), this.#slices.informer.list());
      const previous = this.cache.getSnapshot(this.nodeKey);
      const changed =
        !previous ||
        [TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Route, TypeUrl.Listener].some(
          (t) => previous.version(t) !== snapshot.version(t),
        );
      this.#rebuilds++;
      this.#lastError = undefined;
      if (!changed) return;
      this.cache.setSnapshot(this.nodeKey, snapshot);
      this.#updates++;
      this.#lastUpdate = new Date();
      this.#log("info", `snapshot ${this.#updates}: ${snapshot.resources(TypeUrl.Cluster).size} clusters`);
      this.#onSnapshot?.(snapshot);
    } catch (error) {
      // Keep serving the last good snapshot.
      this.#lastError = String(error);
      this.#log("error", `snapshot not updated: ${String(error)}`);
    }
  }

  #failed(watched: Watched<KubernetesObject>, error: unknown): void {
    // Stopping an informer aborts its watch, which reports an error too.
    if (this.#state.closed) return;
    watched.lastError = error instanceof Error ? error.message : String(error);
    const delay = watched.backoffMs;
    watched.backoffMs = Math.min(watched.backoffMs * 2, this.#maxBackoffMs);
    this.#log("warn", `${watched.name} informer failed (${watched.lastError}); restarting in ${delay} ms`);
    clearTimeout(watched.restartTimer);
    watched.restartTimer = setTimeout(() => {
      watched.restartTimer = undefined;
      if (this.#state.closed) return;
      watched.restarts++;
      void watched.informer.start();
    }, delay);
  }
}
