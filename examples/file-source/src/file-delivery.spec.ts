/**
 * Every way a config file really arrives, each against a real directory:
 * Kubernetes volume updates (the `..data` symlink swap), truncate-and-write,
 * a new inode, a file deleted and restored, a directory deleted and
 * recreated, polling, and the periodic hash recheck that catches a change no
 * event announced. Each FileSource re-reads only on events here (recheck off)
 * unless the case is about rechecking or polling.
 */
import assert from "node:assert/strict";
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { TypeUrl } from "@nebucloud/xds-core";
import { Registry } from "prom-client";
import { registerConfigMetrics } from "./config-metrics.js";
import { FileSource, type FileSourceOptions, sharedKey } from "./file-source.js";
import { until } from "./test-support/until.js";

const bundled = readFileSync(fileURLToPath(new URL("../config/default.yaml", import.meta.url)), "utf8");

/** The bundled config with `extra` more STRICT_DNS clusters: a count a test can tell apart. */
function withClusters(extra: number): string {
  const clusters = Array.from(
    { length: extra },
    (_, i) => `  - name: extra-${i}
    type: STRICT_DNS
    loadAssignment:
      clusterName: extra-${i}
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: extra-${i}.local, portValue: 80 } } } }] }]
`,
  ).join("");
  return bundled.replace(/^clusters:\n/m, `clusters:\n${clusters}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const sources: FileSource[] = [];
afterEach(() => {
  for (const source of sources.splice(0)) source.close();
});

/** A FileSource on `path`, loaded and watching; recheck off unless given, so only events (or polls) count. */
async function serve(path: string, options: Partial<FileSourceOptions> = {}): Promise<FileSource> {
  const source = new FileSource({ path, debounceMs: 50, recheckMs: 0, ...options });
  sources.push(source);
  const status = await source.reload();
  assert.ok(status.ok, JSON.stringify(status.problems));
  source.watch();
  return source;
}
const clusterCount = (source: FileSource) => source.cache.getSnapshot(sharedKey)?.resources(TypeUrl.Cluster).size ?? 0;
const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `file-delivery-${name}-`));

/** `xds.yaml` with two clusters in a new directory, served by a new FileSource. */
async function serveNewFile(name: string, options: Partial<FileSourceOptions> = {}) {
  const dir = tempDir(name);
  const file = join(dir, "xds.yaml");
  writeFileSync(file, withClusters(1));
  return { dir, file, source: await serve(file, options) };
}

/**
 * A Kubernetes ConfigMap volume as the kubelet's atomic writer lays it out:
 * the files in a timestamped directory, `..data` a symlink to it, and each
 * key a symlink through `..data`. `update` writes a new timestamped
 * directory, points `..data_tmp` at it, renames that over `..data` and
 * removes the old directory, as the kubelet does.
 */
function configMapVolume(key: string, content: string) {
  const volume = tempDir("configmap");
  let generation = 0;
  const writeGeneration = (text: string) => {
    const dir = `..2026_12_07_23_50_0${generation}.00000000${generation}`;
    generation++;
    mkdirSync(join(volume, dir));
    writeFileSync(join(volume, dir, key), text);
    return dir;
  };
  let current = writeGeneration(content);
  symlinkSync(current, join(volume, "..data"));
  symlinkSync(join("..data", key), join(volume, key));
  return {
    volume,
    file: join(volume, key),
    update(text: string) {
      const next = writeGeneration(text);
      symlinkSync(next, join(volume, "..data_tmp"));
      renameSync(join(volume, "..data_tmp"), join(volume, "..data"));
      rmSync(join(volume, current), { recursive: true });
      current = next;
    },
  };
}

describe("file delivery", () => {
  it("picks up a Kubernetes ConfigMap update (the ..data swap) with --config naming the file", async () => {
    const configMap = configMapVolume("xds.yaml", withClusters(9));
    const source = await serve(configMap.file);
    assert.equal(clusterCount(source), 10);
    configMap.update(withClusters(10));
    assert.ok(await until(() => clusterCount(source) === 11), `still ${clusterCount(source)} clusters`);
    assert.equal(source.status.stale, false);
    assert.equal(source.status.servedHash, source.status.diskHash);
  });

  it("picks up a Kubernetes ConfigMap update with --config naming the volume's directory", async () => {
    const configMap = configMapVolume("xds.yaml", withClusters(9));
    const source = await serve(configMap.volume);
    configMap.update(withClusters(10));
    assert.ok(await until(() => clusterCount(source) === 11), `still ${clusterCount(source)} clusters`);
    // The swap twice: the watch follows the new ..data, not the directory removed by the first swap.
    configMap.update(withClusters(11));
    assert.ok(await until(() => clusterCount(source) === 12), `still ${clusterCount(source)} clusters`);
  });

  it("never serves the empty file of a truncate-and-write, and loads what is written after", async () => {
    const { file, source } = await serveNewFile("truncate");
    const served = source.cache.getSnapshot(sharedKey);
    writeFileSync(file, ""); // O_TRUNC, then the writer is slow to write
    assert.ok(await until(() => !source.status.ok), "the empty file was not rejected");
    assert.match(source.status.problems[0]?.message ?? "", /the file is empty/);
    assert.equal(source.cache.getSnapshot(sharedKey), served, "the truncated file was served");
    assert.ok(source.status.stale);
    writeFileSync(file, withClusters(3));
    assert.ok(await until(() => clusterCount(source) === 4));
  });

  it("picks up a file replaced by a new inode", async () => {
    const { dir, file, source } = await serveNewFile("inode");
    // A new inode under the same name (cp --remove-destination, or a tool that writes a fresh file).
    const fresh = join(dir, "fresh");
    writeFileSync(fresh, withClusters(2));
    rmSync(file);
    linkSync(fresh, file);
    rmSync(fresh);
    assert.ok(await until(() => clusterCount(source) === 3));
  });

  it("keeps serving a deleted file's config, and loads it again when it is restored", async () => {
    const { file, source } = await serveNewFile("deleted");
    const served = source.cache.getSnapshot(sharedKey);
    rmSync(file);
    assert.ok(await until(() => !source.status.ok));
    assert.match(source.status.problems[0]?.message ?? "", /ENOENT/);
    assert.equal(source.cache.getSnapshot(sharedKey), served);
    writeFileSync(file, withClusters(4));
    assert.ok(await until(() => clusterCount(source) === 5));
    assert.ok(source.status.ok);
  });

  it("keeps reloading a directory that was deleted and recreated", async () => {
    const parent = tempDir("recreated");
    const dir = join(parent, "xds.d");
    mkdirSync(dir);
    writeFileSync(join(dir, "xds.yaml"), withClusters(1));
    const source = await serve(dir);
    rmSync(dir, { recursive: true });
    assert.ok(await until(() => !source.status.ok));
    await sleep(100);
    mkdirSync(dir);
    writeFileSync(join(dir, "xds.yaml"), withClusters(2));
    assert.ok(await until(() => clusterCount(source) === 3), "the recreated directory was not loaded");
    // Later writes too: the watch is on the new directory, not the deleted one.
    writeFileSync(join(dir, "xds.yaml"), withClusters(5));
    assert.ok(await until(() => clusterCount(source) === 6), "a write after the recreation was missed");
  });

  it("keeps reloading a file whose directory was deleted and recreated", async () => {
    const parent = tempDir("recreated-file");
    const dir = join(parent, "etc");
    mkdirSync(dir);
    const file = join(dir, "xds.yaml");
    writeFileSync(file, withClusters(1));
    const source = await serve(file);
    rmSync(dir, { recursive: true });
    assert.ok(await until(() => !source.status.ok));
    mkdirSync(dir);
    writeFileSync(file, withClusters(2));
    assert.ok(await until(() => clusterCount(source) === 3), "the file in the recreated directory was not loaded");
    writeFileSync(file, withClusters(3));
    assert.ok(await until(() => clusterCount(source) === 4), "a write after the recreation was missed");
  });

  it("with pollMs, reads the file on a timer and watches no directory", async () => {
    const { file, source } = await serveNewFile("poll", { pollMs: 100 });
    assert.deepEqual(source.watchedDirectories, []);
    writeFileSync(file, withClusters(2));
    assert.ok(await until(() => clusterCount(source) === 3));
  });

  it("rechecks the content hash and loads a change no event announced", async () => {
    const dir = tempDir("recheck");
    const elsewhere = tempDir("recheck-elsewhere");
    const file = join(dir, "xds.yaml");
    writeFileSync(file, withClusters(1));
    // A hard link in another directory: writes through it change the file but raise no event where it is watched.
    const alias = join(elsewhere, "alias.yaml");
    linkSync(file, alias);
    const unchecked = await serve(file);
    const rechecked = await serve(file, { recheckMs: 300 });
    writeFileSync(alias, withClusters(2));
    assert.ok(await until(() => clusterCount(rechecked) === 3), "the recheck did not load the change");
    assert.equal(clusterCount(unchecked), 2, "an event was raised after all: this case proves nothing");
  });

  it("reports a served hash that differs from the one on disk, on the status and as xds_config_stale", async () => {
    const { file, source } = await serveNewFile("stale");
    const registry = new Registry();
    registerConfigMetrics(registry, () => source.status);
    const stale = async () => (await registry.getSingleMetric("xds_config_stale")?.get())?.values[0]?.value;
    assert.equal(await stale(), 0);
    const servedHash = source.status.servedHash;
    writeFileSync(file, withClusters(1).replace("route: { cluster: greeter }", "route: { cluster: nowhere }"));
    assert.ok(await until(() => source.status.diskHash !== servedHash));
    assert.equal(source.status.servedHash, servedHash);
    assert.ok(source.status.stale);
    assert.equal(await stale(), 1);
    writeFileSync(file, withClusters(2));
    assert.ok(await until(() => !source.status.stale));
    assert.equal(await stale(), 0);
  });

  it("refuses a config over the size limit with a message naming its size and the flag", async () => {
    const { file, source } = await serveNewFile("size", {
      maxConfigBytes: 64 * 1024,
      maxConfigBytesFlag: "--max-config-bytes",
    });
    const served = source.cache.getSnapshot(sharedKey);
    const big = `${withClusters(1)}\n# ${"x".repeat(100 * 1024)}\n`;
    writeFileSync(file, big);
    assert.ok(await until(() => !source.status.ok));
    assert.equal(
      source.status.problems[0]?.message,
      `the config is ${Buffer.byteLength(big)} bytes, more than the 65536 allowed; raise the limit with --max-config-bytes if this size is intended`,
    );
    assert.equal(source.cache.getSnapshot(sharedKey), served);
  });
});
