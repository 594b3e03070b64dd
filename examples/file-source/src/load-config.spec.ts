import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TypeUrl } from "@nebucloud/xds-core";
import { type ConfigProblem, formatProblem } from "./config-error.js";
import { readConfigDocuments } from "./config-files.js";
import { loadConfig } from "./load-config.js";

const good = `
clusters:
  - name: web
    type: EDS
    connectTimeout: 1s
    edsClusterConfig: { edsConfig: { ads: {} } }
endpoints:
  - clusterName: web
    endpoints:
      - loadBalancingWeight: 1
        lbEndpoints:
          - endpoint: { address: { socketAddress: { address: 127.0.0.1, portValue: 8080 } } }
routes:
  - name: web-route
    virtualHosts:
      - name: web
        domains: ["*"]
        routes:
          - match: { prefix: "" }
            route: { cluster: web }
listeners:
  - name: web
    apiListener:
      apiListener:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        statPrefix: web
        rds: { routeConfigName: web-route, configSource: { ads: {} } }
        httpFilters:
          - name: router
            typedConfig: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`;

async function load(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "file-source-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const { documents, problems } = await readConfigDocuments(
    Object.keys(files).length === 1 ? join(dir, Object.keys(files)[0] as string) : dir,
  );
  if (problems.length > 0) return { problems, config: undefined };
  return loadConfig(documents);
}

function only(problems: readonly ConfigProblem[]): ConfigProblem {
  assert.equal(problems.length, 1, problems.map(formatProblem).join("\n"));
  return problems[0] as ConfigProblem;
}

describe("loading a config", () => {
  it("serves every resource of a good YAML file", async () => {
    const { config, problems } = await load({ "xds.yaml": good });
    assert.deepEqual(problems, []);
    assert.deepEqual(config?.counts, { clusters: 1, endpoints: 1, listeners: 1, routes: 1 });
  });

  it("reads the same config from JSON", async () => {
    const { parse } = await import("yaml");
    const { config } = await load({ "xds.json": JSON.stringify(parse(good)) });
    assert.equal(config?.shared.resources(TypeUrl.Listener).size, 1);
  });

  it("merges every file of a directory", async () => {
    const [clusters, rest] = good.split("endpoints:");
    const { config, problems } = await load({ "a.yaml": clusters as string, "b.yaml": `endpoints:${rest}` });
    assert.deepEqual(problems, []);
    assert.equal(config?.shared.resources(TypeUrl.Cluster).size, 1);
  });

  it("reports a syntax error with the file and line", async () => {
    const p = only((await load({ "xds.yaml": "clusters:\n  - name: [unclosed\n" })).problems);
    assert.match(p.file, /xds\.yaml$/);
    assert.match(p.message, /syntax error at line \d+/);
  });

  it("names the file, the resource and the field of an unknown field", async () => {
    const p = only((await load({ "xds.yaml": good.replace("connectTimeout: 1s", "conectTimeout: 1s") })).problems);
    assert.match(p.file, /xds\.yaml$/);
    assert.equal(p.resource, 'clusters[0] "web"');
    assert.equal(p.field, "conectTimeout");
    assert.match(p.message, /unknown field/);
  });

  it("finds an unknown field deep inside a typed Any", async () => {
    const p = only(
      (await load({ "xds.yaml": good.replace("statPrefix: web", "statPrefix: web\n        stat_prefx: x") })).problems,
    );
    assert.equal(p.resource, 'listeners[0] "web"');
    assert.equal(p.field, "api_listener.api_listener.stat_prefx");
  });

  it("names the field of a value that is not one of its enum's values", async () => {
    const p = only((await load({ "xds.yaml": good.replace("type: EDS", "type: EDSS") })).problems);
    assert.equal(p.resource, 'clusters[0] "web"');
    assert.equal(p.field, "type");
    assert.match(p.message, /"EDSS" is not a value of envoy\.config\.cluster\.v3\.Cluster\.DiscoveryType/);
  });

  it("names the field of a malformed duration", async () => {
    const p = only((await load({ "xds.yaml": good.replace("connectTimeout: 1s", "connectTimeout: 1x") })).problems);
    assert.equal(p.field, "connect_timeout");
    assert.match(p.message, /google\.protobuf\.Duration/);
  });

  it("rejects an unknown @type", async () => {
    const p = only(
      (
        await load({
          "xds.yaml": good.replace("envoy.extensions.filters.http.router.v3.Router", "envoy.no.such.Filter"),
        })
      ).problems,
    );
    assert.equal(p.resource, 'listeners[0] "web"');
    assert.match(p.field, /typed_config\.@type$/);
    assert.match(p.message, /unknown @type/);
  });

  it("rejects a value Envoy's validation rules reject, naming the rule's field", async () => {
    const p = only(
      (await load({ "xds.yaml": good.replace("loadBalancingWeight: 1", "loadBalancingWeight: 0") })).problems,
    );
    assert.equal(p.resource, 'endpoints[0] "web"');
    assert.match(p.field, /endpoints\[0\]\.load_balancing_weight/);
  });

  it("rejects a cluster whose endpoints are missing", async () => {
    const p = only(
      (await load({ "xds.yaml": good.replace("clusterName: web", "clusterName: other\n    # moved") })).problems.filter(
        (x) => /web/.test(x.resource),
      ),
    );
    assert.equal(p.resource, 'clusters[0] "web"');
    assert.match(p.message, /endpoints.*"web".*does not define/);
  });

  it("rejects a route naming a cluster that does not exist", async () => {
    const p = only(
      (await load({ "xds.yaml": good.replace("route: { cluster: web }", "route: { cluster: nope }") })).problems,
    );
    assert.equal(p.resource, 'routes[0] "web-route"');
    assert.equal(p.field, "virtual_hosts[0].routes[0].route.cluster");
    assert.match(p.message, /"nope"/);
  });

  it("rejects a listener naming a route that does not exist", async () => {
    const p = only(
      (
        await load({ "xds.yaml": good.replace("routeConfigName: web-route", "routeConfigName: missing") })
      ).problems.filter((x) => /listeners/.test(x.resource)),
    );
    assert.match(p.message, /"missing"/);
  });

  it("rejects two resources of a type with the same name", async () => {
    const doubled = good.replace(
      "endpoints:\n",
      "  - name: web\n    type: STATIC\n    connectTimeout: 1s\nendpoints:\n",
    );
    const p = only((await load({ "xds.yaml": doubled })).problems);
    assert.equal(p.resource, 'clusters[1] "web"');
    assert.match(p.message, /also used by clusters\[0\]/);
  });

  it("rejects an unknown top-level key, listing the known ones", async () => {
    const p = only((await load({ "xds.yaml": `${good}\nclustres: []\n` })).problems);
    assert.equal(p.field, "clustres");
    assert.match(p.message, /clusters, endpoints, listeners/);
  });

  it("gives a node group its own resources on top of the shared ones", async () => {
    const group = `
nodes:
  - name: canary
    match: { idPrefix: canary- }
    endpoints:
      - clusterName: web
        endpoints:
          - loadBalancingWeight: 1
            lbEndpoints:
              - endpoint: { address: { socketAddress: { address: 127.0.0.1, portValue: 9090 } } }
`;
    const { config, problems } = await load({ "xds.yaml": good + group });
    assert.deepEqual(problems, []);
    const canary = config?.groups[0];
    assert.equal(canary?.name, "canary");
    assert.equal(canary?.snapshot.resources(TypeUrl.Cluster).size, 1, "shared clusters stay");
    assert.notEqual(
      canary?.snapshot.resources(TypeUrl.Endpoint).get("web")?.version,
      config?.shared.resources(TypeUrl.Endpoint).get("web")?.version,
      "the group's endpoints replace the shared ones",
    );
  });
});
