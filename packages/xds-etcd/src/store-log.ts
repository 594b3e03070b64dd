/** Where a store reports what it does: a level and one line. The default discards. */
export type StoreLog = (level: "info" | "warn" | "error", message: string) => void;

/** The log that discards. */
export const silentLog: StoreLog = () => {};

/** Resolves after `ms`; the timer does not keep the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
