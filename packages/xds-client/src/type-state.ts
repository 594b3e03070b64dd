import { TypeSubscription } from "./type-subscription.js";

/** What the client knows about one type, for status pages and tools. */
export interface ClientTypeStatus {
  /** The type this status describes. */
  readonly typeUrl: string;
  /** Whether some watcher watches every resource of the type. */
  readonly wildcard: boolean;
  /** Names watched explicitly. */
  readonly names: readonly string[];
  /** The version_info (SotW) or system_version_info (delta) last accepted; "" before any. */
  readonly version: string;
  /** The nonce of the last response received for the type on the current stream. */
  readonly nonce: string;
  /** The last rejection, until a response is accepted again. */
  readonly nack:
    | {
        /** The version the server offered and the client refused. */
        readonly version: string;
        /** Why it was refused: the error_detail sent back to the server. */
        readonly message: string;
      }
    | undefined;
  /** How many resources of the type the client holds. */
  readonly resources: number;
  /** Watched names known not to exist. */
  readonly doesNotExist: readonly string[];
}

/** The client's bookkeeping for one type: its watchers, ACK state and what is known not to exist. */
export interface TypeState {
  readonly typeUrl: string;
  readonly subscription: TypeSubscription;
  /** version_info (SotW) or system_version_info (delta) last accepted. */
  version: string;
  /** The nonce of the last response on the current stream. */
  nonce: string;
  nack: { version: string; message: string } | undefined;
  readonly doesNotExist: Set<string>;
  /** A response to a wildcard subscription of the type was accepted (so what is held is all of it). */
  responded: boolean;
}

/** A type with no watcher and nothing received yet. */
export function newTypeState(typeUrl: string): TypeState {
  return {
    typeUrl,
    subscription: new TypeSubscription(),
    version: "",
    nonce: "",
    nack: undefined,
    doesNotExist: new Set(),
    responded: false,
  };
}

/** A type's status, given how many of its resources the client holds. */
export function typeStatus(state: TypeState, held: number): ClientTypeStatus {
  return {
    typeUrl: state.typeUrl,
    wildcard: state.subscription.interest.wildcard,
    names: [...state.subscription.interest.names].sort(),
    version: state.version,
    nonce: state.nonce,
    nack: state.nack,
    resources: held,
    doesNotExist: [...state.doesNotExist].sort(),
  };
}
