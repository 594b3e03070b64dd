import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A self-signed certificate and its private key, PEM, made now with openssl (valid one day). */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

export function makeKeyPair(cn: string): KeyPair {
  const dir = mkdtempSync(join(tmpdir(), "file-source-keys-"));
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1"].concat([
      "-subj",
      `/CN=${cn}`,
    ]),
    { cwd: dir, stdio: "pipe" },
  );
  return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
}

/** A `secrets:` section (JSON, which is YAML too) holding `pair` inline as base64 bytes. */
export function secretsYaml(pair: KeyPair, name = "server-cert"): string {
  const b64 = (pem: string) => Buffer.from(pem).toString("base64");
  return `secrets:\n  - ${JSON.stringify({
    name,
    tlsCertificate: { certificateChain: { inlineBytes: b64(pair.cert) }, privateKey: { inlineBytes: b64(pair.key) } },
  })}\n`;
}
