/**
 * A proxyless gRPC client in its own process: @grpc/grpc-js with
 * @grpc/grpc-js-xds registered, calling `xds:///service` (or XDS_TARGET).
 *
 * grpc-js-xds reads its bootstrap (GRPC_XDS_BOOTSTRAP_CONFIG) once per process
 * and keeps one xDS client per process, so each test scenario starts its own
 * client processes, pointed at that scenario's xDS server. The parent drives
 * this process over the IPC channel (see `ClientCommand` in harness.ts) and
 * may SIGKILL it. Not a test file: the test glob is `src/*.spec.ts`.
 */
import * as grpc from "@grpc/grpc-js";
import xds from "@grpc/grpc-js-xds";
import { loadEcho } from "./echo.js";
import type { CallResult, ClientCommand, ClientReply } from "./protocol.js";

xds.register();

const { Client } = loadEcho();
const target = process.env["XDS_TARGET"] ?? "xds:///service";
let client: InstanceType<typeof Client> | undefined = new Client(target, grpc.credentials.createInsecure());
let loop: { stop: boolean; results: CallResult[]; done: Promise<void> } | undefined;

function send(reply: ClientReply): void {
  process.send?.(reply);
}

function callOnce(metadata: Record<string, string>, deadlineMs: number, waitForReady: boolean): Promise<CallResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    if (!client) {
      resolve({ ok: false, code: grpc.status.CANCELLED, details: "client closed", at: started });
      return;
    }
    // grpc-js takes wait-for-ready as a metadata option, not a call option.
    const md = new grpc.Metadata({ waitForReady });
    for (const [key, value] of Object.entries(metadata)) md.set(key, value);
    client.Echo({ message: "ping" }, md, { deadline: Date.now() + deadlineMs }, (error, reply) => {
      if (error) resolve({ ok: false, code: error.code, details: error.details, at: started });
      else resolve({ ok: true, backend: reply?.backend ?? "", at: started });
    });
  });
}

async function callMany(command: Extract<ClientCommand, { op: "call" }>): Promise<CallResult[]> {
  const count = command.count ?? 1;
  const concurrency = Math.max(1, command.concurrency ?? 1);
  const results: CallResult[] = [];
  for (let i = 0; i < count; i += concurrency) {
    const batch = Math.min(concurrency, count - i);
    const answers = await Promise.all(
      Array.from({ length: batch }, () =>
        callOnce(command.metadata ?? {}, command.deadlineMs ?? 5000, command.waitForReady ?? false),
      ),
    );
    results.push(...answers);
  }
  return results;
}

process.on("message", (raw) => {
  const command = raw as ClientCommand;
  void (async () => {
    switch (command.op) {
      case "call":
        send({ id: command.id, results: await callMany(command) });
        return;
      case "loop-start": {
        const state = { stop: false, results: [] as CallResult[], done: Promise.resolve() };
        // Bounded: at most maxCalls calls, each with its own deadline.
        state.done = (async () => {
          for (let i = 0; i < command.maxCalls && !state.stop; i++) {
            state.results.push(await callOnce({}, command.deadlineMs, false));
            await new Promise((r) => setTimeout(r, command.intervalMs));
          }
        })();
        loop = state;
        send({ id: command.id, results: [] });
        return;
      }
      case "loop-stop": {
        const current = loop;
        loop = undefined;
        if (current) {
          current.stop = true;
          await current.done;
        }
        send({ id: command.id, results: current?.results ?? [] });
        return;
      }
      case "close":
        // Closing the channel makes grpc-js-xds unsubscribe (empty name lists)
        // and half-close its ADS stream.
        client?.close();
        client = undefined;
        send({ id: command.id, results: [] });
        return;
    }
  })();
});

// The parent went away: leave with it.
process.on("disconnect", () => process.exit(0));
send({ id: 0, results: [] });
