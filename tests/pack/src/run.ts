import { spawn } from "node:child_process";

/** What a finished child process left behind. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  readonly cwd: string;
  /** Kills the process (and fails) after this long. */
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Runs `command` without a shell and resolves with its output once it exits;
 * rejects when it exits non-zero or outlives `timeoutMs`, with its output in
 * the message.
 */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const what = `${command} ${args.join(" ")}`;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} timed out after ${options.timeoutMs} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ code, stdout, stderr });
      else reject(new Error(`${what} exited ${code} in ${options.cwd}\n${stdout}\n${stderr}`));
    });
  });
}

/**
 * The environment for a process that must behave as in a project of its own:
 * without the `npm_*` settings pnpm exports to scripts, and without
 * NODE_OPTIONS (which could carry this workspace's loaders).
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === "NODE_OPTIONS" || key === "INIT_CWD" || key === "PNPM_SCRIPT_SRC_DIR") continue;
    env[key] = value;
  }
  return env;
}

/** pnpm: the one running this test when there is one, else through npx. */
export function pnpmCommand(): [string, string[]] {
  const execpath = process.env["npm_execpath"];
  if (execpath && /pnpm/.test(execpath)) return [process.execPath, [execpath]];
  return ["npx", ["-y", "pnpm@10"]];
}
