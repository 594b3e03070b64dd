import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import type { ConfigProblem } from "./config-error.js";

/** One parsed config file. */
export interface ConfigDocument {
  readonly file: string;
  readonly content: unknown;
}

/** One config file as it was read: its path and every byte. */
export interface ConfigFile {
  readonly file: string;
  readonly bytes: Buffer;
}

/** What one read of the config found: the files, their content hash, or why they cannot be used. */
export interface ConfigRead {
  readonly files: readonly ConfigFile[];
  /**
   * sha256 (hex) over every file's name and bytes, in name order; undefined
   * when nothing could be read. Two reads with the same hash hold the same config.
   */
  readonly hash: string | undefined;
  readonly problems: readonly ConfigProblem[];
  /** A file changed while it was read (a writer is still at it): read again before using any of it. */
  readonly changing: boolean;
}

/** The default of {@link ReadOptions.maxBytes}: 32 MiB, above the largest configs seen in use (25 MB). */
export const defaultMaxConfigBytes = 32 * 1024 * 1024;

/** Options of {@link readConfigFiles}. */
export interface ReadOptions {
  /** The most bytes the config may hold, every file together. Default {@link defaultMaxConfigBytes}. */
  readonly maxBytes?: number;
  /** The flag that sets `maxBytes`, named in the error (the main job's `--max-config-bytes`). */
  readonly maxBytesFlag?: string;
}

const extensions = new Set([".yaml", ".yml", ".json"]);
const problem = (file: string, message: string): ConfigProblem => ({ file, resource: "", field: "", message });

/**
 * Reads the config's bytes: a YAML or JSON file, or every such file of a
 * directory (not recursive, in name order), following symlinks (a Kubernetes
 * volume's files are links through `..data`). Refuses a config larger than
 * `maxBytes` before reading it, and an empty file: a file truncated by a
 * writer that has not written yet must not become an empty config that
 * withdraws every resource (write `{}` to serve nothing).
 */
export async function readConfigFiles(path: string, options: ReadOptions = {}): Promise<ConfigRead> {
  const maxBytes = options.maxBytes ?? defaultMaxConfigBytes;
  let names: string[];
  try {
    const info = await stat(path);
    names = info.isDirectory()
      ? (await readdir(path))
          .filter((f) => extensions.has(extname(f)))
          .sort()
          .map((f) => join(path, f))
      : [path];
  } catch (error) {
    return {
      files: [],
      hash: undefined,
      problems: [problem(path, `cannot read: ${(error as Error).message}`)],
      changing: false,
    };
  }
  if (names.length === 0)
    return {
      files: [],
      hash: undefined,
      problems: [problem(path, "no .yaml, .yml or .json file here")],
      changing: false,
    };
  const problems: ConfigProblem[] = [];
  const files: ConfigFile[] = [];
  let total = 0;
  let changing = false;
  for (const file of names) {
    try {
      // stat first, so that an oversized file is refused without being held in memory.
      const before = await stat(file);
      total += before.size;
      if (total > maxBytes) continue;
      const bytes = await readFile(file);
      const after = await stat(file);
      // A writer that truncates and writes in pieces may be caught between two pieces.
      if (bytes.length !== after.size || after.mtimeMs !== before.mtimeMs || after.ino !== before.ino) changing = true;
      files.push({ file, bytes });
      if (bytes.length === 0)
        problems.push(problem(file, "the file is empty (a write in progress?); write {} to serve no resources"));
    } catch (error) {
      problems.push(problem(file, `cannot read: ${(error as Error).message}`));
    }
  }
  if (total > maxBytes) {
    problems.push(
      problem(
        path,
        `the config is ${total} bytes, more than the ${maxBytes} allowed; raise the limit with ${options.maxBytesFlag ?? "maxBytes"} if this size is intended`,
      ),
    );
  }
  // Only a config read whole has a hash: a partial one must never compare equal to what is served.
  if (files.length < names.length || total > maxBytes) return { files, hash: undefined, problems, changing };
  const hash = createHash("sha256");
  for (const { file, bytes } of files) hash.update(basename(file)).update("\0").update(bytes).update("\0");
  return { files, hash: hash.digest("hex"), problems, changing };
}

/** Parses files read by {@link readConfigFiles}; syntax errors are reported with the file and line. */
export function parseConfigFiles(files: readonly ConfigFile[]): {
  documents: ConfigDocument[];
  problems: ConfigProblem[];
} {
  const problems: ConfigProblem[] = [];
  const documents: ConfigDocument[] = [];
  for (const { file, bytes } of files) {
    const text = bytes.toString("utf8");
    try {
      const content = extname(file) === ".json" ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
      documents.push({ file, content: content ?? {} });
    } catch (error) {
      const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : "";
      // prettyErrors appends the position and a source excerpt; the line number is kept above.
      const reason = (error as Error).message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "");
      problems.push(problem(file, `syntax error${where}: ${reason}`));
    }
  }
  return { documents, problems };
}

/**
 * Reads and parses the config; nothing is returned unless every file was
 * read and parsed.
 */
export async function readConfigDocuments(
  path: string,
  options: ReadOptions = {},
): Promise<{ documents: ConfigDocument[]; problems: ConfigProblem[] }> {
  const read = await readConfigFiles(path, options);
  if (read.problems.length > 0) return { documents: [], problems: [...read.problems] };
  return parseConfigFiles(read.files);
}
