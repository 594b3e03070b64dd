import { cleanEnv, run } from "./run.js";

/**
 * Why the npm registry cannot be used, or undefined when `npm ping` answers
 * within 10 s. The scenarios install registry dependencies and are skipped,
 * saying so, only when this returns a reason.
 */
export async function registryUnreachable(): Promise<string | undefined> {
  try {
    await run("npm", ["ping", "--loglevel=error"], { cwd: process.cwd(), timeoutMs: 10_000, env: cleanEnv() });
    return undefined;
  } catch (error) {
    return `npm ping failed: ${String(error).split("\n").slice(0, 3).join(" ").trim()}`;
  }
}
