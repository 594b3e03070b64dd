import { createRegistry, type DescMessage, type Registry } from "@bufbuild/protobuf";
import {
  file_google_protobuf_any,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
} from "@bufbuild/protobuf/wkt";
import { allFiles } from "../gen/all_files.js";
import { typeNameOf } from "./type-urls.js";

/**
 * Every message, enum, extension and service generated into this package, plus
 * the well-known types they use. Pass it as `registry` to `anyUnpack`, `toJson`
 * and `fromJson` so that `Any` fields resolve to their real types. Built once at
 * import (about a second: it loads every generated module); immutable and safe
 * to share.
 */
export const registry: Registry = createRegistry(
  file_google_protobuf_any,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  ...allFiles,
);

/**
 * The message schema for a type URL (`type.googleapis.com/<full name>`) or a
 * full message name; `undefined` when this package has no such message.
 */
export function messageSchema(typeUrlOrName: string): DescMessage | undefined {
  return registry.getMessage(typeNameOf(typeUrlOrName));
}
