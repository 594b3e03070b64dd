import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import type { TlsOptions } from "@nebucloud/xds-server";
import { SettingsError } from "./security-settings.js";

/** Where the xDS port's TLS material lives; `clientCa` turns on client certificates (mTLS). */
export interface TlsPaths {
  readonly cert: string;
  readonly key: string;
  readonly clientCa?: string | undefined;
  readonly requireClientCert?: boolean | undefined;
}

function read(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new SettingsError(
      `${flag} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
}

/**
 * Reads and checks the TLS files: each parses, the key matches the
 * certificate, the certificate has not expired. Throws a SettingsError naming
 * the file and what is wrong.
 */
export function loadTls(paths: TlsPaths): TlsOptions & { readonly notAfter: Date } {
  const cert = read("--tls-cert", paths.cert);
  const key = read("--tls-key", paths.key);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new SettingsError(`--tls-cert ${paths.cert}: not a PEM certificate (${(error as Error).message})`);
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(key))) {
      throw new SettingsError(`--tls-key ${paths.key} does not match the certificate in --tls-cert ${paths.cert}`);
    }
  } catch (error) {
    if (error instanceof SettingsError) throw error;
    throw new SettingsError(`--tls-key ${paths.key}: not a PEM private key (${(error as Error).message})`);
  }
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() < Date.now()) {
    throw new SettingsError(`--tls-cert ${paths.cert} expired at ${notAfter.toISOString()}`);
  }
  let ca: string | undefined;
  if (paths.clientCa) {
    ca = read("--client-ca", paths.clientCa);
    try {
      new X509Certificate(ca);
    } catch (error) {
      throw new SettingsError(`--client-ca ${paths.clientCa}: not a PEM certificate (${(error as Error).message})`);
    }
  }
  return {
    cert,
    key,
    ...(ca ? { ca } : {}),
    ...(paths.requireClientCert !== undefined ? { requireClientCert: paths.requireClientCert } : {}),
    notAfter,
  };
}

/**
 * Re-reads the TLS files whenever one changes (polled, so a Kubernetes
 * Secret's symlink swap is seen as well as an in-place write) and hands good
 * material to `apply`; bad material is reported and the old kept. Returns a
 * function that stops watching.
 */
export function watchTls(
  paths: TlsPaths,
  apply: (tls: TlsOptions & { readonly notAfter: Date }) => void,
  report: (error: Error) => void,
  intervalMs = 2000,
): () => void {
  const files = [paths.cert, paths.key, ...(paths.clientCa ? [paths.clientCa] : [])];
  let pending: NodeJS.Timeout | undefined;
  const reload = () => {
    // A rotation writes the certificate and key one after the other: wait for both.
    clearTimeout(pending);
    pending = setTimeout(() => {
      try {
        apply(loadTls(paths));
      } catch (error) {
        report(error as Error);
      }
    }, 200);
    pending.unref();
  };
  for (const file of files) watchFile(file, { interval: intervalMs, persistent: false }, reload);
  return () => {
    clearTimeout(pending);
    for (const file of files) unwatchFile(file, reload);
  };
}
