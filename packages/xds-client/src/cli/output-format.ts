import type { JsonValue } from "@bufbuild/protobuf";
import { stringify } from "yaml";

/** How xdsctl prints documents. */
export type OutputFormat = "yaml" | "json";

/** `value` as one document: YAML, or indented JSON. Ends with a newline. */
export function formatDocument(value: JsonValue, format: OutputFormat): string {
  return format === "json" ? `${JSON.stringify(value, null, 2)}\n` : stringify(value, { lineWidth: 0 });
}

/**
 * `value` as one document of a stream: a YAML document opened by `---`, or
 * one line of JSON (newline-delimited JSON), so that each update can be
 * parsed as it arrives.
 */
export function formatStreamDocument(value: JsonValue, format: OutputFormat): string {
  return format === "json" ? `${JSON.stringify(value)}\n` : `---\n${stringify(value, { lineWidth: 0 })}`;
}
