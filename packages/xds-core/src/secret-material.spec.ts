import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { SecretSchema } from "@nebucloud/xds-proto/envoy/extensions/transport_sockets/tls/v3/secret_pb";
import { checkSecretMaterial } from "./secret-material.js";

/** A self-signed certificate and its key, made now with openssl. */
function selfSigned(cn: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "secret-material-"));
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"].concat([
      "-keyout",
      "key.pem",
      "-out",
      "cert.pem",
      "-days",
      "1",
      "-subj",
      `/CN=${cn}`,
    ]),
    { cwd: dir, stdio: "pipe" },
  );
  return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
}

const a = selfSigned("server-a");
const b = selfSigned("server-b");

const tlsSecret = (chain: string | Uint8Array, key: string | Uint8Array) =>
  create(SecretSchema, {
    name: "server-cert",
    type: {
      case: "tlsCertificate",
      value: {
        certificateChain: {
          specifier:
            typeof chain === "string" ? { case: "inlineString", value: chain } : { case: "inlineBytes", value: chain },
        },
        privateKey: {
          specifier:
            typeof key === "string" ? { case: "inlineString", value: key } : { case: "inlineBytes", value: key },
        },
      },
    },
  });

describe("checkSecretMaterial", () => {
  it("accepts a certificate chain with its own key, inline as a string or as bytes", () => {
    assert.deepEqual(checkSecretMaterial(tlsSecret(a.cert, a.key)), []);
    assert.deepEqual(checkSecretMaterial(tlsSecret(Buffer.from(`${a.cert}${b.cert}`), Buffer.from(a.key))), []);
  });

  it("rejects a private key that does not parse, naming the field and node:crypto's reason", () => {
    const broken = a.key.replace(/\n[A-Za-z0-9+/]{10}/, "\n!!!!!!!!!!");
    const problems = checkSecretMaterial(tlsSecret(a.cert, broken));
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.equal(problems[0]?.path, "tls_certificate.private_key.inline_string");
    assert.match(problems[0]?.message ?? "", /^the private key does not parse: \S/);
  });

  it("rejects key bytes that are not PEM (PEM text that went through a lenient base64 decoder)", () => {
    const garbage = Buffer.from(a.key.replace(/-----[A-Z ]+-----/g, ""), "base64");
    const [problem] = checkSecretMaterial(tlsSecret(a.cert, garbage));
    assert.equal(problem?.path, "tls_certificate.private_key.inline_bytes");
  });

  it("rejects a chain with no PEM certificate, and one whose second certificate is broken", () => {
    assert.match(checkSecretMaterial(tlsSecret("not a certificate", a.key))[0]?.message ?? "", /no PEM certificate/);
    const second = b.cert.replace(/\n[A-Za-z0-9+/]{8}/, "\nAAAAAAAA");
    const [problem] = checkSecretMaterial(tlsSecret(`${a.cert}${second}`, a.key));
    assert.equal(problem?.path, "tls_certificate.certificate_chain.inline_string");
    assert.match(problem?.message ?? "", /certificate 2 of 2\) does not parse/);
  });

  it("rejects a key that is not the leaf certificate's", () => {
    const [problem] = checkSecretMaterial(tlsSecret(a.cert, b.key));
    assert.equal(problem?.path, "tls_certificate.private_key.inline_string");
    assert.match(
      problem?.message ?? "",
      /not the key of the certificate chain's first certificate \(subject CN=server-a\)/,
    );
  });

  it("checks a validation context's trusted CA bundle", () => {
    const secret = (ca: string) =>
      create(SecretSchema, {
        name: "ca",
        type: { case: "validationContext", value: { trustedCa: { specifier: { case: "inlineString", value: ca } } } },
      });
    assert.deepEqual(checkSecretMaterial(secret(`${a.cert}${b.cert}`)), []);
    assert.equal(
      checkSecretMaterial(secret("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))[0]?.path,
      "validation_context.trusted_ca.inline_string",
    );
  });

  it("leaves material given as a filename to Envoy's host", () => {
    const secret = create(SecretSchema, {
      name: "files",
      type: {
        case: "tlsCertificate",
        value: {
          certificateChain: { specifier: { case: "filename", value: "/etc/certs/cert.pem" } },
          privateKey: { specifier: { case: "filename", value: "/etc/certs/key.pem" } },
        },
      },
    });
    assert.deepEqual(checkSecretMaterial(secret), []);
  });

  it("never puts key material in a message", () => {
    const body = (a.key.split("\n")[1] ?? "").slice(0, 16);
    for (const p of [
      ...checkSecretMaterial(tlsSecret(a.cert, b.key)),
      ...checkSecretMaterial(tlsSecret(b.key, a.key)),
    ]) {
      assert.ok(!p.message.includes(body), p.message);
    }
  });
});
