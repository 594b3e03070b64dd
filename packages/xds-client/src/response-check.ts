import { XdsError } from "@nebucloud/xds-core";
import type { ResourceValidator } from "./client-options.js";
import type { DecodedResource } from "./decoded-resource.js";

/**
 * The resources of a response, decoded by `decode` and checked by `validate`,
 * or the text to NACK it with: the decoding error, or every rejection as
 * `name: reason` joined by `; ` (a validator rejects by returning a string or
 * throwing). Heartbeats (no body) are not validated.
 */
export function checkedResources(
  typeUrl: string,
  decode: () => DecodedResource[],
  validate: ResourceValidator | undefined,
): DecodedResource[] | string {
  let decoded: DecodedResource[];
  try {
    decoded = decode();
  } catch (error) {
    return textOf(error);
  }
  if (!validate) return decoded;
  const problems: string[] = [];
  for (const { name, message } of decoded) {
    if (!message) continue;
    try {
      const problem = validate(typeUrl, name, message);
      if (typeof problem === "string") problems.push(`${name}: ${problem}`);
    } catch (error) {
      problems.push(`${name}: ${textOf(error)}`);
    }
  }
  return problems.length > 0 ? problems.join("; ") : decoded;
}

function textOf(error: unknown): string {
  if (error instanceof XdsError) return error.rawMessage;
  return error instanceof Error ? error.message : String(error);
}
