import { ExponentialBackoff, noop } from "cockatiel";
import { Etcd3, type Watcher } from "etcd3";
import { sleep } from "./store-log.js";
import type { StoreLocation } from "./store-url.js";

/** TLS towards etcd, as PEM. */
export interface EtcdTls {
  /** The CA etcd's certificate chains to. */
  readonly ca: Buffer;
  /** A client certificate, for an etcd that requires one (with `key`). */
  readonly cert?: Buffer;
  /** The client certificate's private key. */
  readonly key?: Buffer;
}

/** Options of {@link connectEtcd}. */
export interface EtcdConnectOptions {
  /** Deadline of each unary etcd call. Default 5000 ms. */
  readonly callTimeoutMs?: number;
  /** TLS towards etcd (PEM). Default: plaintext. */
  readonly tls?: EtcdTls;
}

/**
 * An etcd client for a store: calls fail fast (a deadline, no hidden retries
 * or circuit breaker) because the store's own loops retry with backoff and
 * report what they see, and reconnects (channel and watch) are capped at 2 s
 * so a restarted etcd is found again quickly. The caller owns the client and closes it.
 */
export function connectEtcd(location: StoreLocation, options: EtcdConnectOptions = {}): Etcd3 {
  const timeout = options.callTimeoutMs ?? 5000;
  const { tls } = options;
  return new Etcd3({
    hosts: [...location.endpoints],
    ...(tls
      ? {
          credentials: {
            rootCertificate: tls.ca,
            ...(tls.key ? { privateKey: tls.key } : {}),
            ...(tls.cert ? { certChain: tls.cert } : {}),
          },
        }
      : {}),
    grpcOptions: {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2000,
      // Whole snapshots are listed in one range on resync.
      "grpc.max_receive_message_length": 256 * 1024 * 1024,
    },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling: {
      host: () => noop,
      global: noop,
      // etcd3's default lets a broken watch wait up to 30 s before retrying.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next(),
    },
  });
}

/**
 * Cancels a watcher without waiting on etcd for long: etcd3 waits for a
 * cancel acknowledgement that never comes for a watch etcd already cancelled,
 * or over a connection that is gone.
 */
export async function cancelWatcher(watcher: Watcher | undefined): Promise<void> {
  if (!watcher) return;
  await Promise.race([watcher.cancel().catch(() => {}), sleep(1000)]);
}
