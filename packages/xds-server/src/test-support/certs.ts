import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM material for TLS tests: a CA, a server certificate for 127.0.0.1, and client certificates. */
export interface TestCerts {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** Client certificates by SPIFFE id. */
  readonly clients: Record<string, { cert: string; key: string }>;
}

/**
 * Makes a throw-away CA and certificates with the openssl CLI (Debian ships
 * it). Client certificates carry their SPIFFE id as a URI SAN.
 */
export function makeTestCerts(spiffeIds: string[]): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "xds-certs-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=test-ca",
  );
  const issue = (name: string, subject: string, san: string) => {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
    run(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
    );
    return {
      cert: readFileSync(join(dir, `${name}.pem`), "utf8"),
      key: readFileSync(join(dir, `${name}.key`), "utf8"),
    };
  };
  const server = issue("server", "/CN=localhost", "IP:127.0.0.1,DNS:localhost");
  const clients: Record<string, { cert: string; key: string }> = {};
  spiffeIds.forEach((id, i) => {
    clients[id] = issue(`client${i}`, `/CN=client${i}`, `URI:${id}`);
  });
  return { ca: readFileSync(join(dir, "ca.pem"), "utf8"), serverCert: server.cert, serverKey: server.key, clients };
}
