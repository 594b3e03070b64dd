/** Messages between a test and a client process (client-process.ts), over Node's IPC channel. */

/** One unary Echo call as the client saw it. */
export type CallResult =
  | { readonly ok: true; readonly backend: string; readonly at: number }
  | { readonly ok: false; readonly code: number; readonly details: string; readonly at: number };

export type ClientCommand =
  | {
      readonly id: number;
      readonly op: "call";
      /** Calls to make. Default 1. */
      readonly count?: number;
      /** Calls in flight at once. Default 1. */
      readonly concurrency?: number;
      readonly metadata?: Record<string, string>;
      /** Per-call deadline. Default 5000. */
      readonly deadlineMs?: number;
      readonly waitForReady?: boolean;
    }
  | {
      readonly id: number;
      readonly op: "loop-start";
      readonly intervalMs: number;
      readonly deadlineMs: number;
      readonly maxCalls: number;
    }
  | { readonly id: number; readonly op: "loop-stop" }
  | { readonly id: number; readonly op: "close" };

/** The answer to a command with the same id; id 0 is "started". */
export interface ClientReply {
  readonly id: number;
  readonly results: CallResult[];
}
