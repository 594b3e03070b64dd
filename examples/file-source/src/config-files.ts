import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import type { ConfigProblem } from "./config-error.js";

/** One parsed config file. */
export interface ConfigDocument {
  readonly file: string;
  readonly content: unknown;
}

const extensions = new Set([".yaml", ".yml", ".json"]);

/**
 * Reads the config: a YAML or JSON file, or every such file of a directory
 * (not recursive, in name order). Syntax errors are reported with the file
 * and line; nothing is returned unless every file parsed.
 */
export async function readConfigDocuments(
  path: string,
): Promise<{ documents: ConfigDocument[]; problems: ConfigProblem[] }> {
  const problems: ConfigProblem[] = [];
  let files: string[];
  try {
    const info = await stat(path);
    files = info.isDirectory()
      ? (await readdir(path))
          .filter((f) => extensions.has(extname(f)))
          .sort()
          .map((f) => join(path, f))
      : [path];
  } catch (error) {
    return {
      documents: [],
      problems: [{ file: path, resource: "", field: "", message: `cannot read: ${(error as Error).message}` }],
    };
  }
  if (files.length === 0)
    problems.push({ file: path, resource: "", field: "", message: "no .yaml, .yml or .json file here" });
  const documents: ConfigDocument[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      problems.push({ file, resource: "", field: "", message: `cannot read: ${(error as Error).message}` });
      continue;
    }
    try {
      const content = extname(file) === ".json" ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
      documents.push({ file, content: content ?? {} });
    } catch (error) {
      const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : "";
      // prettyErrors appends the position and a source excerpt; the line number is kept above.
      const reason = (error as Error).message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "");
      problems.push({ file, resource: "", field: "", message: `syntax error${where}: ${reason}` });
    }
  }
  return { documents, problems };
}
