import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import type { DataSource } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type { Secret } from "@nebucloud/xds-proto/envoy/extensions/transport_sockets/tls/v3/secret_pb";

/** Key or certificate material in a Secret that Envoy would refuse. */
export interface SecretMaterialProblem {
  /** The field, in proto names: `tls_certificate.private_key.inline_bytes`. */
  readonly path: string;
  /** What is wrong, with node:crypto's reason; never the material itself. */
  readonly message: string;
}

const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The inline content of a DataSource and its field path; undefined for a filename or env var (read on Envoy's host). */
function inline(source: DataSource | undefined, path: string): { text: Buffer; path: string } | undefined {
  const specifier = source?.specifier;
  if (specifier?.case === "inlineBytes") return { text: Buffer.from(specifier.value), path: `${path}.inline_bytes` };
  if (specifier?.case === "inlineString") return { text: Buffer.from(specifier.value), path: `${path}.inline_string` };
  return undefined;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Parses every PEM certificate of a chain or bundle; the first is the leaf. */
function certificates(
  source: { text: Buffer; path: string },
  what: string,
  problems: SecretMaterialProblem[],
): X509Certificate[] {
  const blocks = source.text.toString("latin1").match(certificateBlock) ?? [];
  if (blocks.length === 0) {
    problems.push({ path: source.path, message: `${what} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` });
    return [];
  }
  const parsed: X509Certificate[] = [];
  blocks.forEach((block, i) => {
    try {
      parsed.push(new X509Certificate(block));
    } catch (error) {
      const which = blocks.length > 1 ? ` (certificate ${i + 1} of ${blocks.length})` : "";
      problems.push({ path: source.path, message: `${what}${which} does not parse: ${reasonOf(error)}` });
    }
  });
  return parsed.length === blocks.length ? parsed : [];
}

function privateKey(
  source: { text: Buffer; path: string },
  password: { text: Buffer } | undefined,
  problems: SecretMaterialProblem[],
): KeyObject | undefined {
  // An encrypted key needs its password; one that is a file Envoy reads cannot be checked here.
  if (
    /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(source.text.toString("latin1")) &&
    !password
  ) {
    return undefined;
  }
  try {
    return createPrivateKey(password ? { key: source.text, passphrase: password.text } : source.text);
  } catch (error) {
    problems.push({ path: source.path, message: `the private key does not parse: ${reasonOf(error)}` });
    return undefined;
  }
}

/**
 * Parses the key and certificate material a Secret carries inline, the way
 * Envoy will when it receives it: `tls_certificate.certificate_chain` (every
 * PEM certificate), `tls_certificate.private_key` (PEM, decrypted with an
 * inline `password`), that the key is the leaf certificate's, and
 * `validation_context.trusted_ca`. Returns every problem (empty when the
 * material parses); material given as a filename or environment variable is
 * read on Envoy's host and not checked. Synchronous, and safe to call
 * concurrently; it keeps nothing.
 */
export function checkSecretMaterial(secret: Secret): SecretMaterialProblem[] {
  const problems: SecretMaterialProblem[] = [];
  const type = secret.type;
  if (type.case === "tlsCertificate") {
    const tls = type.value;
    const chainSource = inline(tls.certificateChain, "tls_certificate.certificate_chain");
    const keySource = inline(tls.privateKey, "tls_certificate.private_key");
    const chain = chainSource ? certificates(chainSource, "the certificate chain", problems) : [];
    const key = keySource
      ? privateKey(keySource, inline(tls.password, "tls_certificate.password"), problems)
      : undefined;
    const leaf = chain[0];
    if (leaf && key && keySource && !leaf.checkPrivateKey(key)) {
      problems.push({
        path: keySource.path,
        message: `the private key is not the key of the certificate chain's first certificate (subject ${leaf.subject.replace(/\n/g, ", ")})`,
      });
    }
  } else if (type.case === "validationContext") {
    const caSource = inline(type.value.trustedCa, "validation_context.trusted_ca");
    if (caSource) certificates(caSource, "the trusted CA bundle", problems);
  }
  return problems;
}
