export type { ProtoSource } from "./proto-source.js";
export { protoSource } from "./proto-source.js";
export { messageSchema, registry } from "./registry.js";
export { ResourceTypeUrl, typeNameOf, typeUrlOf, typeUrlPrefix } from "./type-urls.js";
