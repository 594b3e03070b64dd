import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/** One ```ts block of a Markdown file. */
export interface Snippet {
  /** The Markdown file, relative to the workspace root. */
  readonly doc: string;
  /** The line of the opening fence (1-based). */
  readonly line: number;
  /** The code between the fences. */
  readonly code: string;
  /** Marked with `<!-- run -->` on the line before its fence: run it, not only type-check it. */
  readonly run: boolean;
}

/** The Markdown files whose snippets are checked: README.md, docs/*.md and each package's README.md. */
export function documents(root: string): string[] {
  const files = [join(root, "README.md")];
  for (const f of readdirSync(join(root, "docs")).sort()) if (f.endsWith(".md")) files.push(join(root, "docs", f));
  for (const dir of readdirSync(join(root, "packages")).sort()) {
    const readme = join(root, "packages", dir, "README.md");
    try {
      readFileSync(readme);
      files.push(readme);
    } catch {
      // a package without a README has no snippets
    }
  }
  return files;
}

/**
 * The ```ts and ```typescript blocks of a Markdown file. A block is runnable
 * when the closest non-blank line before its fence is `<!-- run -->`.
 */
export function extractSnippets(root: string, file: string): Snippet[] {
  const lines = readFileSync(file, "utf8").split("\n");
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(ts|typescript)\s*$/.exec(lines[i] ?? "");
    if (!open) continue;
    const indent = open[1] ?? "";
    let end = i + 1;
    while (end < lines.length && (lines[end] ?? "").trim() !== "```") end++;
    let before = i - 1;
    while (before >= 0 && (lines[before] ?? "").trim() === "") before--;
    snippets.push({
      doc: relative(root, file),
      line: i + 1,
      code: lines
        .slice(i + 1, end)
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
        .join("\n"),
      run: (lines[before] ?? "").trim() === "<!-- run -->",
    });
    i = end;
  }
  return snippets;
}

/** A file name for a snippet: the document's path and the fence line, e.g. `docs_server.md_L42.ts`. */
export function snippetFileName(snippet: Snippet): string {
  return `${snippet.doc.replace(/[^A-Za-z0-9.-]+/g, "_")}_L${snippet.line}.ts`;
}
