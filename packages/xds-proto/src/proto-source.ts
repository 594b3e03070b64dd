import { createRequire } from "node:module";

/** The upstream commits that the generated types correspond to. */
export interface ProtoSource {
  /** envoyproxy/data-plane-api commit. */
  readonly "api-commit": string;
  /** Date of that commit (YYYY-MM-DD). */
  readonly "api-date": string;
  /** cncf/xds commit. */
  readonly "xds-commit": string;
  /** Date of the cncf/xds commit. */
  readonly "xds-date": string;
  /** Every declared source with its repository and commit. */
  readonly sources: Readonly<
    Record<
      string,
      {
        /** The GitHub repository, as `owner/name`. */
        readonly repository: string;
        /** The commit (or tag) the protos were taken at; `unknown` when the npm source does not say. */
        readonly commit: string;
        /** The date of that commit (YYYY-MM-DD), or `unknown`. */
        readonly date: string;
      }
    >
  >;
  /** SHA-256 of the staged proto tree the package was generated from. */
  readonly protoHash: string;
}

const require = createRequire(import.meta.url);

/**
 * The `envoy` field of this package's `package.json`: which upstream commits
 * the generated types correspond to. Read once at import.
 */
export const protoSource: ProtoSource = (require("../package.json") as { envoy: ProtoSource }).envoy;
