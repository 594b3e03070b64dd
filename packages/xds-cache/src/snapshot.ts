import type { Message } from "@bufbuild/protobuf";
import { Resource, type ResourceTypeRegistry, TypeUrl, versionOf, XdsError } from "@nebucloud/xds-core";
import { markImmutable } from "./subscription.js";

/** A resource given to a snapshot: a wrapped {@link Resource} or a bare message of a registered type. */
export type ResourceInput = Resource | Message;

/** Options of {@link Snapshot.fromResources}. */
export interface SnapshotOptions {
  /** Where types come from; default: the core's default registry. */
  readonly types?: ResourceTypeRegistry;
}

/** A reference problem {@link Snapshot.consistent} found. */
export interface ConsistencyProblem {
  /** `dangling`: a resource names one that is missing; `unreferenced`: nothing names this one. */
  readonly kind: "dangling" | "unreferenced";
  /** The type URL of the resource the problem is about. */
  readonly typeUrl: string;
  /** The name of the resource the problem is about. */
  readonly name: string;
  /** For dangling names: the resource that names it. */
  readonly referencedBy?: {
    /** The type URL of the resource that holds the dangling name. */
    readonly typeUrl: string;
    /** The name of the resource that holds the dangling name. */
    readonly name: string;
  };
}

const empty: ReadonlyMap<string, Resource> = new Map();

/**
 * An immutable set of resources grouped by type URL, with a version per type:
 * the content hash of that type's resources, so the same resources have the
 * same version on every replica. Share one snapshot among any number of node
 * keys: nothing is copied.
 */
export class Snapshot {
  readonly #resources: ReadonlyMap<string, ReadonlyMap<string, Resource>>;
  readonly #versions = new Map<string, string>();

  private constructor(resources: ReadonlyMap<string, ReadonlyMap<string, Resource>>) {
    this.#resources = resources;
  }

  /**
   * Builds a snapshot from resources by type URL. Duplicate names within a type
   * are an XdsError `invalid_config`.
   */
  static fromResources(
    byType: Readonly<Record<string, readonly ResourceInput[]>>,
    options: SnapshotOptions = {},
  ): Snapshot {
    const resources = new Map<string, Map<string, Resource>>();
    for (const [typeUrl, list] of Object.entries(byType)) {
      const named = new Map<string, Resource>();
      for (const input of list) {
        const resource =
          input instanceof Resource
            ? input
            : Resource.from(typeUrl, input, options.types ? { types: options.types } : {});
        if (resource.typeUrl !== typeUrl) {
          throw new XdsError(
            "invalid_config",
            `resource ${resource.name} of ${resource.typeUrl} listed under ${typeUrl}`,
            {
              typeUrl,
              names: [resource.name],
            },
          );
        }
        if (named.has(resource.name)) {
          throw new XdsError("invalid_config", `two ${typeUrl} resources are named ${JSON.stringify(resource.name)}`, {
            typeUrl,
            names: [resource.name],
          });
        }
        named.set(resource.name, resource);
      }
      markImmutable(named);
      resources.set(typeUrl, named);
    }
    return new Snapshot(resources);
  }

  /** The resources of a type, by name (empty when the snapshot has none). */
  resources(typeUrl: string): ReadonlyMap<string, Resource> {
    return this.#resources.get(typeUrl) ?? empty;
  }

  /** The type URLs this snapshot holds resources for. */
  typeUrls(): string[] {
    return [...this.#resources.keys()];
  }

  /** The content-hash version of a type's resources (computed once). */
  version(typeUrl: string): string {
    let version = this.#versions.get(typeUrl);
    if (version === undefined) {
      version = versionOf(this.resources(typeUrl).values());
      this.#versions.set(typeUrl, version);
    }
    return version;
  }

  /**
   * Every reference problem: names that clusters, listeners and scoped routes
   * refer to but the snapshot lacks (dangling), and endpoints and routes that
   * nothing refers to (unreferenced), as go-control-plane's `Consistent`.
   */
  problems(): ConsistencyProblem[] {
    const problems: ConsistencyProblem[] = [];
    const referenced = new Map<string, Set<string>>();
    for (const [typeUrl, named] of this.#resources) {
      for (const resource of named.values()) {
        for (const [target, names] of resource.references) {
          let seen = referenced.get(target);
          if (!seen) {
            seen = new Set();
            referenced.set(target, seen);
          }
          for (const name of names) {
            seen.add(name);
            if (!this.resources(target).has(name)) {
              problems.push({
                kind: "dangling",
                typeUrl: target,
                name,
                referencedBy: { typeUrl, name: resource.name },
              });
            }
          }
        }
      }
    }
    for (const typeUrl of [TypeUrl.Endpoint, TypeUrl.Route]) {
      const seen = referenced.get(typeUrl) ?? new Set();
      for (const name of this.resources(typeUrl).keys()) {
        if (!seen.has(name)) problems.push({ kind: "unreferenced", typeUrl, name });
      }
    }
    return problems;
  }

  /**
   * Throws an XdsError `invalid_config` listing every reference problem; does
   * nothing when the snapshot is consistent.
   */
  consistent(): void {
    const problems = this.problems();
    if (problems.length === 0) return;
    const lines = problems.map((p) =>
      p.kind === "dangling"
        ? `${p.referencedBy?.typeUrl} ${JSON.stringify(p.referencedBy?.name)} refers to ${p.typeUrl} ${JSON.stringify(p.name)}, which the snapshot lacks`
        : `${p.typeUrl} ${JSON.stringify(p.name)} is not referred to by any resource`,
    );
    throw new XdsError("invalid_config", `inconsistent snapshot: ${lines.join("; ")}`, { problems });
  }
}
