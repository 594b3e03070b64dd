/**
 * Runs fuzz sequences against one real server on 127.0.0.1, shared by every
 * sequence of a run (each sequence uses node keys of its own, and ends with no
 * client, so none sees another's). After each step it waits until every
 * request sent has reached the server and every response the server wrote has
 * reached its client (counted through the server's callbacks), so a step never
 * races the one before it and a shrunk sequence replays the same way.
 */
import { SnapshotCache } from "@nebucloud/xds-cache";
import { XdsServer, type XdsServerHandle } from "@nebucloud/xds-server";
import { eventually } from "../support/fixtures.js";
import { Connection } from "../support/grpc-call.js";
import { type ClientContext, DeltaModelClient, type ModelClient, SotwModelClient, stepType } from "./model-clients.js";
import type { Sequence, Step } from "./steps.js";
import { fuzzNames, fuzzTypes, nodeLabels, VersionLedger, World } from "./world.js";

/** Timers alive now (node's own count, which includes unref'd ones). */
function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
}

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One server (and its cache) that sequences run against, restarted by `restart` steps. */
export class FuzzHarness {
  /** Equal content, same version: held for the whole process, across restarts. */
  readonly ledger = new VersionLedger();
  #server!: XdsServerHandle;
  #cache!: SnapshotCache;
  #requests = 0;
  #responses = 0;
  /** Client counts at the last restart: the new server has seen none of them. */
  #sentOffset = 0;
  #receivedOffset = 0;
  #sequences = 0;

  private constructor(readonly ads: boolean) {}

  static async start(ads: boolean): Promise<FuzzHarness> {
    const harness = new FuzzHarness(ads);
    await harness.#startServer();
    return harness;
  }

  async #startServer(): Promise<void> {
    this.#cache = new SnapshotCache({ ads: this.ads });
    this.#requests = 0;
    this.#responses = 0;
    const count = {
      request: () => {
        this.#requests++;
      },
      response: () => {
        this.#responses++;
      },
    };
    this.#server = await XdsServer.builder()
      .withCache(this.#cache)
      .withConfig({ drainTimeoutMs: 50 })
      .withCallbacks({
        onStreamRequest: count.request,
        onDeltaStreamRequest: count.request,
        onStreamResponse: count.response,
        onDeltaStreamResponse: count.response,
      })
      .serve("127.0.0.1:0");
  }

  async stop(): Promise<void> {
    await this.#server.shutdown();
    this.#cache.close();
  }

  /** Runs one sequence; returns the steps taken. Throws at the first broken invariant. */
  async run(sequence: Sequence): Promise<number> {
    const number = ++this.#sequences;
    const timersBefore = activeTimers();
    const world = new World();
    const nodeKeys = nodeLabels.map((label) => `fuzz-${process.pid}-${number}-${label}`);
    let connection = await Connection.open(this.#server.address);
    const contexts: ClientContext[] = nodeLabels.map((node, i) => ({
      world,
      ledger: this.ledger,
      node,
      nodeKey: nodeKeys[i] as string,
      adsHold: this.ads,
    }));
    const clients: ModelClient[] = sequence.clients.map((spec) => {
      const ctx = contexts[spec.node % contexts.length] as ClientContext;
      return spec.protocol === "sotw"
        ? new SotwModelClient(connection, spec, ctx)
        : new DeltaModelClient(connection, spec, ctx);
    });
    // The last sequence's streams are gone: count this one's traffic from zero.
    this.#requests = 0;
    this.#responses = 0;
    this.#sentOffset = 0;
    this.#receivedOffset = 0;
    const connections = [connection];
    try {
      for (const step of sequence.steps) {
        if (step.k === "restart") {
          connection = await this.#restart(world, nodeKeys, clients);
          connections.push(connection);
        } else {
          this.#apply(step, world, nodeKeys, clients, connection);
        }
        await this.#quiet(clients);
        for (const client of clients) client.take();
        this.#checkWatchBound(nodeKeys, clients);
        if (step.k === "settle") await this.#settle(clients);
      }
      await this.#settle(clients);
    } finally {
      for (const client of clients) client.cancel();
      for (const c of connections) c.destroy();
      for (const key of nodeKeys) this.#cache.clearSnapshot(key);
    }
    const watchesOf = () => nodeKeys.reduce((sum, key) => sum + this.#cache.numWatches(key), 0);
    await eventually(
      // This sequence's node keys only, so that a shrunk case does not count a leak the failing one left.
      () => this.#server.streams().length === 0 && watchesOf() === 0 && activeTimers() <= timersBefore,
      `no stream, watch or timer left after the clients closed (streams ${this.#server.streams().length}, watches ${watchesOf()}, timers ${activeTimers()} of ${timersBefore})`,
      3000,
    );
    return sequence.steps.length;
  }

  #apply(step: Step, world: World, nodeKeys: string[], clients: ModelClient[], connection: Connection): void {
    const typeOf = (i: number) => (fuzzTypes[i] ?? fuzzTypes[0]).url;
    const nameOf = (i: number) => fuzzNames[i] ?? "a";
    const nodeOf = (i: number) => nodeLabels[i % nodeLabels.length] ?? "n0";
    switch (step.k) {
      case "set":
      case "remove": {
        const resource = step.k === "set" ? { generation: step.generation, ttl: step.ttl } : undefined;
        const snapshot = world.change(nodeOf(step.node), typeOf(step.type), nameOf(step.name), resource);
        this.#cache.setSnapshot(nodeKeys[step.node % nodeKeys.length] as string, snapshot);
        return;
      }
      case "settle":
      case "restart":
        return;
    }
    const client = clients[step.c % clients.length] as ModelClient;
    const typeUrl = "type" in step ? stepType(client.spec, step.type) : "";
    switch (step.k) {
      case "subscribe":
        client.subscribe(typeUrl, step.names.map(nameOf), step.form);
        return;
      case "ack":
        client.ack(typeUrl);
        return;
      case "nack":
        client.nack(typeUrl);
        return;
      case "stale":
        client.stale(typeUrl, step.names.map(nameOf));
        return;
      case "reconnect":
        client.reconnect(connection, step.old);
        return;
    }
  }

  /** A new server and cache with the same snapshots; every client resumes on a new connection. */
  async #restart(world: World, nodeKeys: string[], clients: ModelClient[]): Promise<Connection> {
    this.#server.forceShutdown();
    this.#cache.close();
    await this.#startServer();
    nodeLabels.forEach((label, i) => {
      const snapshot = world.snapshot(label);
      if (snapshot) this.#cache.setSnapshot(nodeKeys[i] as string, snapshot);
    });
    this.#sentOffset = clients.reduce((sum, c) => sum + c.sent, 0);
    this.#receivedOffset = clients.reduce((sum, c) => sum + c.received, 0);
    const connection = await Connection.open(this.#server.address);
    for (const client of clients) client.reconnect(connection, false);
    return connection;
  }

  /** Waits until every request sent was handled and every response written was received. */
  async #quiet(clients: readonly ModelClient[]): Promise<void> {
    const deadline = Date.now() + 3000;
    let stable = 0;
    while (stable < 3) {
      await immediate();
      const sent = clients.reduce((sum, c) => sum + c.sent, 0) - this.#sentOffset;
      const received = clients.reduce((sum, c) => sum + c.received, 0) - this.#receivedOffset;
      stable = sent === this.#requests && received === this.#responses ? stable + 1 : 0;
      if (Date.now() > deadline) {
        throw new Error(
          `traffic did not settle: ${sent} requests sent, ${this.#requests} handled; ${this.#responses} responses written, ${received} received`,
        );
      }
    }
  }

  /** Every client ACKs what it was sent until nothing more comes, then holds what the model says. */
  async #settle(clients: readonly ModelClient[]): Promise<void> {
    for (let round = 0; ; round++) {
      if (round > 50) throw new Error("responses kept coming after 50 rounds of ACKs");
      let acked = false;
      for (const client of clients) acked = client.ackAll() || acked;
      if (!acked) break;
      await this.#quiet(clients);
      for (const client of clients) client.take();
    }
    for (const client of clients) client.checkQuiescent();
  }

  /** At most one watch per subscribed type of each stream: more is a leak. */
  #checkWatchBound(nodeKeys: string[], clients: readonly ModelClient[]): void {
    nodeKeys.forEach((key, i) => {
      const bound = clients
        .filter((c) => c.spec.node % nodeKeys.length === i)
        .reduce((sum, c) => sum + c.subscribedTypes(), 0);
      const watches = this.#cache.numWatches(key);
      if (watches > bound)
        throw new Error(`node key ${key} has ${watches} watches, its streams subscribe ${bound} types`);
    });
  }
}
