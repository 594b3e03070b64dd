import { XdsError } from "@nebucloud/xds-core";
import { parseCommandLine, usage } from "./command-line.js";
import { type CommandOutput, runGet, runStatus, runWatch } from "./commands.js";
import { ExitCode, exitCodeOf } from "./exit-code.js";

/**
 * Runs xdsctl with `argv` (the arguments after the script) and returns its
 * exit code; errors are written to `output.note` as `xdsctl: <message>`.
 * `signal` ends a watch (SIGINT in the real program).
 */
export async function xdsctl(argv: readonly string[], output: CommandOutput, signal: AbortSignal): Promise<ExitCode> {
  try {
    const command = parseCommandLine(argv);
    switch (command.kind) {
      case "help":
        output.out(`${usage}\n`);
        break;
      case "get":
        await runGet(command, output);
        break;
      case "watch":
        await runWatch(command, output, signal);
        break;
      case "status":
        await runStatus(command, output);
        break;
    }
    return ExitCode.Ok;
  } catch (error) {
    output.note(`xdsctl: ${error instanceof XdsError ? error.rawMessage : String(error)}\n`);
    return exitCodeOf(error);
  }
}
