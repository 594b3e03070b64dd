import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { documents, extractSnippets, type Snippet, snippetFileName } from "./snippets.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const packageDir = fileURLToPath(new URL("../", import.meta.url));
// Inside this package, so that snippets import the workspace packages by name
// through this package's dependencies; gitignored.
const out = join(packageDir, ".snippets");
const require = createRequire(import.meta.url);
const tsc = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");

const snippets: Snippet[] = documents(root).flatMap((file) => extractSnippets(root, file));
const byFile = new Map(snippets.map((s) => [snippetFileName(s), s]));

/** Rewrites `file.ts(line,col)` in compiler output to the Markdown file and line the code came from. */
function toDocLines(output: string): string {
  return output.replace(/([\w.-]+\.ts)\((\d+),(\d+)\)/g, (match, file: string, line: string, col: string) => {
    const snippet = byFile.get(file);
    return snippet ? `${snippet.doc}:${snippet.line + Number(line)}:${col}` : match;
  });
}

describe("the TypeScript snippets of README.md, docs/*.md and the package READMEs", () => {
  before(() => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    for (const [file, snippet] of byFile) {
      // `export {}` makes every snippet a module: top-level await, no shared globals.
      writeFileSync(join(out, file), `${snippet.code}\nexport {};\n`);
    }
    writeFileSync(
      join(out, "tsconfig.json"),
      `${JSON.stringify({ extends: "../../../tsconfig.base.json", compilerOptions: { noEmit: true, lib: ["ES2023", "DOM"] }, include: ["*.ts"] }, null, 2)}\n`,
    );
  });

  it("finds snippets in every document, some of them marked runnable", () => {
    const docs = new Set(snippets.map((s) => s.doc));
    for (const doc of ["README.md", "docs/getting-started.md", "docs/caches.md", "docs/server.md"]) {
      assert.ok(docs.has(doc), `no TypeScript snippet in ${doc}`);
    }
    assert.ok(
      snippets.some((s) => s.run),
      "no snippet is marked <!-- run -->",
    );
  });

  it("type-checks every snippet against the workspace packages (tsc --noEmit, the workspace's strict settings)", () => {
    const result = spawnSync(process.execPath, [tsc, "-p", join(out, "tsconfig.json"), "--pretty", "false"], {
      cwd: out,
      encoding: "utf8",
      timeout: 180_000,
    });
    assert.equal(result.status, 0, `tsc found errors:\n${toDocLines(result.stdout + result.stderr)}`);
  });

  for (const snippet of snippets.filter((s) => s.run)) {
    it(`runs ${snippet.doc}:${snippet.line} to completion`, () => {
      const result = spawnSync(process.execPath, ["--import", "tsx", join(out, snippetFileName(snippet))], {
        cwd: packageDir,
        encoding: "utf8",
        timeout: 60_000,
      });
      assert.equal(
        result.status,
        0,
        `exit ${result.status}${result.signal ? ` (${result.signal}: timed out?)` : ""}\n${toDocLines(result.stdout)}\n${toDocLines(result.stderr)}`,
      );
    });
  }
});
