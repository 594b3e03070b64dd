import { readFileSync } from "node:fs";

/**
 * Reads the admin token from `path`, trimmed (files usually end in a newline).
 * Throws an Error whose message names the path and why it cannot be used:
 * unreadable, or empty (an empty token would let anyone in).
 */
export function readAdminToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(
      `--admin-token-file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const token = text.trim();
  if (token === "") throw new Error(`--admin-token-file ${path}: the file is empty; put the token in it`);
  return token;
}
