import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { formatProblem } from "./config-error.js";
import { readConfigDocuments } from "./config-files.js";
import { FileSource, sharedKey } from "./file-source.js";
import { loadConfig } from "./load-config.js";
import { base64Problem } from "./strict-base64.js";
import { makeKeyPair, secretsYaml } from "./test-support/key-material.js";

const a = makeKeyPair("server-a");
const b = makeKeyPair("server-b");

async function problemsOf(yaml: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "secret-config-"));
  writeFileSync(join(dir, "xds.yaml"), yaml);
  const { documents, problems } = await readConfigDocuments(join(dir, "xds.yaml"));
  return (problems.length > 0 ? problems : loadConfig(documents).problems).map(formatProblem);
}

const secret = (tlsCertificate: unknown) =>
  `secrets:\n  - ${JSON.stringify({ name: "server-cert", tlsCertificate })}\n`;

describe("strict base64 in bytes fields", () => {
  it("accepts standard and URL-safe base64, padded or not, with line breaks", () => {
    for (const text of ["", "AAEC", "AAE=", "AAE", "_-8=", "_-8", "+/8=", "QUJD\nREVG"]) {
      assert.equal(base64Problem(text), undefined, text);
    }
  });

  it("rejects other characters, mixed alphabets, impossible lengths and wrong padding", () => {
    for (const text of ["AA E", "AA*=", "+_8=", "AAAAA", "AAE==", "A==="]) assert.ok(base64Problem(text), text);
  });
});

describe("a config's key and certificate material", () => {
  it("serves a Secret whose inline certificate and key parse and match", async () => {
    assert.deepEqual(await problemsOf(secretsYaml(a)), []);
  });

  it("rejects PEM text in privateKey.inlineBytes, naming file, resource and field", async () => {
    const [problem, ...rest] = await problemsOf(
      secret({ certificateChain: { inlineString: a.cert }, privateKey: { inlineBytes: a.key } }),
    );
    assert.deepEqual(rest, []);
    assert.match(
      problem ?? "",
      /xds\.yaml: secrets\[0\] "server-cert": field tls_certificate\.private_key\.inline_bytes: is not base64: PEM text must go in inlineString$/,
    );
  });

  it("rejects a bytes field that is not base64 in any resource, not only Secrets", async () => {
    const [problem] = await problemsOf(
      `clusters:\n  - name: c\n    connectTimeout: 1s\n    metadata: { typedFilterMetadata: { x: { "@type": type.googleapis.com/google.protobuf.BytesValue, value: "no*base64" } } }\n`,
    );
    assert.match(
      problem ?? "",
      /clusters\[0\] "c": field metadata\.typed_filter_metadata\["x"\]\.value: is not base64/,
    );
    const [inList] = await problemsOf(
      `secrets:\n  - name: keys\n    sessionTicketKeys: { keys: [{ inlineBytes: "%%%" }] }\n`,
    );
    assert.match(inList ?? "", /field session_ticket_keys\.keys\[0\]\.inline_bytes: is not base64/);
  });

  it("rejects a private key that does not parse, with node:crypto's reason", async () => {
    const broken = Buffer.from(a.key.replace(/\n[A-Za-z0-9+/]{12}/, "\nAAAAAAAAAAAA")).toString("base64");
    const [problem] = await problemsOf(
      secret({ certificateChain: { inlineString: a.cert }, privateKey: { inlineBytes: broken } }),
    );
    assert.match(problem ?? "", /field tls_certificate\.private_key\.inline_bytes: the private key does not parse: \S/);
  });

  it("rejects a certificate that does not parse", async () => {
    const [problem] = await problemsOf(
      secret({
        certificateChain: { inlineString: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" },
        privateKey: { inlineString: a.key },
      }),
    );
    assert.match(
      problem ?? "",
      /field tls_certificate\.certificate_chain\.inline_string: the certificate chain does not parse/,
    );
  });

  it("rejects a key that is not the certificate's", async () => {
    const [problem] = await problemsOf(
      secret({ certificateChain: { inlineString: a.cert }, privateKey: { inlineString: b.key } }),
    );
    assert.match(problem ?? "", /field tls_certificate\.private_key\.inline_string: the private key is not the key of/);
  });

  it("never puts the key material in a problem", async () => {
    const body = a.key.split("\n")[1] ?? "";
    const problems = await problemsOf(
      secret({ certificateChain: { inlineString: b.cert }, privateKey: { inlineBytes: a.key } }),
    );
    assert.ok(problems.length > 0);
    for (const p of problems) assert.ok(!p.includes(body.slice(0, 16)), p);
  });

  it("keeps serving the last good Secret when a reload brings a bad one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "secret-reload-"));
    const file = join(dir, "xds.yaml");
    writeFileSync(file, secretsYaml(a));
    const source = new FileSource({ path: file });
    try {
      assert.ok((await source.reload()).ok);
      const good = source.cache.getSnapshot(sharedKey);
      assert.ok(good?.resources(TypeUrl.Secret).get("server-cert"));
      writeFileSync(file, secret({ certificateChain: { inlineString: a.cert }, privateKey: { inlineString: b.key } }));
      const status = await source.reload();
      assert.equal(status.ok, false);
      assert.equal(status.problems[0]?.field, "tls_certificate.private_key.inline_string");
      assert.equal(source.cache.getSnapshot(sharedKey), good, "the bad Secret was applied");
    } finally {
      source.close();
    }
  });
});
