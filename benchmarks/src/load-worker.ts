/**
 * A load-generator process: many simulated Envoys ({@link AdsClient}), each on
 * its own ADS stream with its own node id, many streams per HTTP/2 session.
 * Driven by the benchmark's main process over IPC (see `run.ts`).
 */
import http2 from "node:http2";
import { AdsClient, type ClientHost, type Mode, type Target } from "./ads-client.js";
import { nowMs, serveCalls } from "./ipc.js";

/** Arguments of the `open` call. */
export interface OpenArgs {
  readonly address: string;
  readonly mode: Mode;
  /** Clients `first` .. `first + count - 1`, node ids `node-<index>`. */
  readonly first: number;
  readonly count: number;
  readonly streamsPerSession: number;
  /** HTTP/2 flow-control windows the clients advertise (Envoy's default is 256 MiB for both). */
  readonly streamWindow: number;
  readonly connectionWindow: number;
}

/** What a worker reports for the current target. */
export interface WorkerResults {
  /** Per client: when it met the target (monotonic ms), NaN if it has not. */
  readonly completeAt: number[];
  /** Per client: gRPC payload bytes received from the target being set until it met it. */
  readonly bytesToTarget: number[];
  /** gRPC payload bytes received by all clients since the target was set. */
  readonly payloadBytes: number;
  /** Bytes read from the sockets (HTTP/2 framing included) since the target was set. */
  readonly wireBytes: number;
  readonly responses: number;
  readonly unexpectedEnds: number;
  readonly reconnects: number;
  readonly problems: string[];
  readonly problemCount: number;
  /** This worker's CPU seconds since the target was set. */
  readonly cpuSeconds: number;
}

const clients: AdsClient[] = [];
const sessions: (http2.ClientHttp2Session | undefined)[] = [];
let open: OpenArgs | undefined;
let closedWireBytes = 0;
let wireAtTarget = 0;
let payloadAtTarget = 0;
let responsesAtTarget = 0;
let cpuAtTarget = process.cpuUsage();
const problems: string[] = [];
/** Connection-level problems, kept apart so that the stream ends they cause do not crowd them out. */
const sessionProblems: string[] = [];
let problemCount = 0;

function liveWireBytes(): number {
  let total = closedWireBytes;
  for (const session of sessions) total += session?.socket?.bytesRead ?? 0;
  return total;
}

function newSession(index: number): http2.ClientHttp2Session {
  const args = open as OpenArgs;
  const session = http2.connect(`http://${args.address}`, {
    settings: { initialWindowSize: args.streamWindow, enablePush: false },
    maxSessionMemory: 4096,
  });
  session.on("connect", () => session.setLocalWindowSize(args.connectionWindow));
  const problem = (text: string) => {
    problemCount++;
    if (sessionProblems.length < 10) sessionProblems.push(`session ${index}: ${text}`);
  };
  session.on("error", (error) => problem(String(error)));
  session.on("goaway", (code) => problem(`GOAWAY error code ${code}`));
  session.on("frameError", (type, code) => problem(`frame error type ${type} code ${code}`));
  session.once("close", () => {
    if (!host.closing) problem("closed");
  });
  session.once("close", () => {
    closedWireBytes += session.socket?.bytesRead ?? 0;
    if (sessions[index] === session) sessions[index] = undefined;
  });
  sessions[index] = session;
  return session;
}

const host: ClientHost & { target: Target | undefined; closing: boolean } = {
  target: undefined,
  closing: false,
  session(client) {
    const args = open as OpenArgs;
    const index = Math.floor((client.index - args.first) / args.streamsPerSession);
    const session = sessions[index];
    if (session && !session.closed && !session.destroyed) return session;
    return newSession(index);
  },
  problem(text) {
    problemCount++;
    if (problems.length < 20) problems.push(text);
  },
};

serveCalls({
  async open(args: OpenArgs) {
    // A worker serves one run at a time; `close` ends the previous one.
    open = args;
    clients.length = 0;
    sessions.length = 0;
    closedWireBytes = 0;
    host.closing = false;
    host.target = undefined;
    for (let i = 0; i < args.count; i++) {
      const index = args.first + i;
      clients.push(new AdsClient(index, `node-${index}`, args.mode, host));
    }
    for (const client of clients) client.open();
    await Promise.all(
      sessions.map(
        (session) =>
          new Promise<void>((resolve) => {
            if (!session || session.connecting === false) resolve();
            else session.once("connect", () => resolve());
            session?.once("close", () => resolve());
          }),
      ),
    );
    return { sessions: sessions.length };
  },

  target(args: { target: Target }) {
    host.target = args.target;
    wireAtTarget = liveWireBytes();
    payloadAtTarget = clients.reduce((n, c) => n + c.payloadBytes, 0);
    responsesAtTarget = clients.reduce((n, c) => n + c.responses, 0);
    cpuAtTarget = process.cpuUsage();
    problems.length = 0;
    sessionProblems.length = 0;
    problemCount = 0;
    for (const client of clients) {
      client.unexpectedEnds = 0;
      client.reconnects = 0;
      client.resetTarget();
    }
    return {};
  },

  results(): WorkerResults {
    const cpu = process.cpuUsage(cpuAtTarget);
    return {
      completeAt: clients.map((c) => c.completeAt),
      bytesToTarget: clients.map((c) =>
        Number.isNaN(c.completeAt) ? Number.NaN : c.bytesAtComplete - c.bytesAtTarget,
      ),
      payloadBytes: clients.reduce((n, c) => n + c.payloadBytes, 0) - payloadAtTarget,
      wireBytes: liveWireBytes() - wireAtTarget,
      responses: clients.reduce((n, c) => n + c.responses, 0) - responsesAtTarget,
      unexpectedEnds: clients.reduce((n, c) => n + c.unexpectedEnds, 0),
      reconnects: clients.reduce((n, c) => n + c.reconnects, 0),
      problems: [...sessionProblems, ...problems].slice(0, 20),
      problemCount,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  },

  /** Counts of clients done, for polling. */
  progress() {
    let done = 0;
    for (const client of clients) if (!Number.isNaN(client.completeAt)) done++;
    return { done, total: clients.length, now: nowMs() };
  },

  /**
   * Reconnects `fractionPerSecond` of the clients every second, spread over
   * ten ticks a second, for `durationMs`; resolves when the time is up.
   */
  async churn(args: { durationMs: number; fractionPerSecond: number }) {
    const start = Date.now();
    const end = start + args.durationMs;
    let done = 0;
    while (Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Paced by the clock, not by ticks, so a late timer does not lower the rate.
      const due = Math.floor(((Math.min(Date.now(), end) - start) / 1000) * clients.length * args.fractionPerSecond);
      for (; done < due; done++) clients[Math.floor(Math.random() * clients.length)]?.reconnect();
    }
    return { reconnects: clients.reduce((n, c) => n + c.reconnects, 0) };
  },

  /** Ends this run's streams and sessions; the process stays for the next run. */
  async close() {
    host.closing = true;
    for (const client of clients) client.close();
    const closing = sessions.map(
      (session) =>
        new Promise<void>((resolve) => {
          if (!session || session.closed || session.destroyed) return resolve();
          session.once("close", () => resolve());
          session.close();
          setTimeout(() => {
            session.destroy();
            resolve();
          }, 3000).unref();
        }),
    );
    await Promise.all(closing);
    clients.length = 0;
    sessions.length = 0;
    return {};
  },
});
