/**
 * Request/response over a child process's IPC channel: the parent calls
 * `child.call(op, args)`, the child answers with the handler registered for
 * `op`. Messages use the "advanced" serialization (structured clone).
 */
import { type ChildProcess, fork } from "node:child_process";

interface Request {
  readonly id: number;
  readonly op: string;
  readonly args: unknown;
}

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

/** A forked child that answers calls; see {@link serveCalls} for the child side. */
export class Child {
  readonly process: ChildProcess;
  readonly name: string;
  #next = 0;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.process = child;
    child.on("message", (message: Reply) => {
      const waiter = this.#waiting.get(message.id);
      if (!waiter) return;
      this.#waiting.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`${name}: ${message.error}`));
    });
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.#exit = { code, signal };
        for (const waiter of this.#waiting.values()) {
          waiter.reject(new Error(`${name} exited (code ${code}, signal ${signal})`));
        }
        this.#waiting.clear();
        resolve();
      });
    });
  }

  /** Forks `module` (a .ts file run through tsx) with `args` and extra node flags. */
  static fork(name: string, module: string, args: string[], nodeFlags: string[] = []): Child {
    const child = fork(module, args, {
      execArgv: ["--expose-gc", "--import", "tsx", ...nodeFlags],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Child(name, child);
  }

  get pid(): number {
    return this.process.pid ?? -1;
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** Calls `op` in the child; rejects when it throws or exits first. */
  call<T>(op: string, args: unknown = {}): Promise<T> {
    if (!this.alive) return Promise.reject(new Error(`${this.name} has exited`));
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const request: Request = { id, op, args };
      this.process.send(request);
    });
  }

  /** Asks the child to exit; kills it if it has not within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.call("exit").catch(() => {});
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills the child now (SIGKILL). */
  kill(): void {
    if (this.alive) this.process.kill("SIGKILL");
  }
}

/** Child side: answers calls with `handlers[op](args)`. `exit` is always handled (after the handler, if any). */
export function serveCalls(handlers: Record<string, (args: never) => unknown>): void {
  process.on("message", async (message: Request) => {
    const reply = (r: Reply) => {
      if (process.connected) process.send?.(r);
    };
    try {
      const handler = handlers[message.op];
      if (!handler && message.op !== "exit") throw new Error(`unknown op ${message.op}`);
      const result = handler ? await handler(message.args as never) : undefined;
      reply({ id: message.id, ok: true, result });
      if (message.op === "exit") {
        // Let the reply flush, then exit so that --cpu-prof writes its profile.
        setTimeout(() => process.exit(0), 50);
      }
    } catch (error) {
      reply({
        id: message.id,
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    }
  });
  process.on("disconnect", () => process.exit(0));
}

/** Monotonic milliseconds, comparable across processes on one machine (CLOCK_MONOTONIC). */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
