/**
 * Why `text` is not the proto3 JSON of a `bytes` field, or undefined when it
 * is: standard or URL-safe base64 (one alphabet, not both), padded correctly
 * or not at all. Line breaks are ignored, as protojson's decoder does (YAML
 * block scalars). protobuf-es's decoder skips characters it does not know, so
 * without this a PEM text in `inlineBytes` becomes garbage bytes that Envoy
 * rejects. The reason never repeats the text (it may be a private key).
 */
export function base64Problem(text: string): string | undefined {
  if (/^\s*-----BEGIN /.test(text)) return "is not base64: PEM text must go in inlineString";
  const compact = text.replace(/[\r\n]/g, "");
  const body = compact.replace(/={1,2}$/, "");
  const bad = /[^A-Za-z0-9+/_-]/.exec(body);
  if (bad) return `is not base64: the character at offset ${bad.index} is not in the base64 alphabet`;
  if (/[+/]/.test(body) && /[_-]/.test(body))
    return "is not base64: it mixes the standard (+/) and URL-safe (-_) alphabets";
  if (body.length % 4 === 1)
    return "is not base64: its length is not that of any base64 text (one character too many or too few)";
  if (body.length !== compact.length && compact.length % 4 !== 0) return "is not base64: wrong padding";
  return undefined;
}
