/** One problem in a config file: where it is and what is wrong. */
export interface ConfigProblem {
  /** The file, as given or found in the config directory. */
  readonly file: string;
  /** The resource, e.g. `clusters[0] "greeter"`; empty for file-level problems. */
  readonly resource: string;
  /** The field path inside the resource (proto names), when known. */
  readonly field: string;
  readonly message: string;
}

/** Formats a problem as one log line: `file: resource: field: message`. */
export function formatProblem(p: ConfigProblem): string {
  return [p.file, p.resource, p.field ? `field ${p.field}` : "", p.message].filter(Boolean).join(": ");
}

/** A config that cannot be served, with every problem found in it. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      problems.length === 1
        ? formatProblem(problems[0] as ConfigProblem)
        : `${problems.length} problems:\n${problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`,
    );
    this.problems = problems;
  }
}
