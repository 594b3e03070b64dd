/** The fixtures: Services and EndpointSlices shaped like `kubectl get -o json` output. */
import { readFileSync } from "node:fs";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import type { KubeObject } from "./fake-api-server.js";

export type FixtureName =
  | "greeter-service"
  | "greeter-endpointslice"
  | "checkout-service"
  | "checkout-endpointslice"
  | "legacy-billing-service";

/** A fresh copy of a fixture, as JSON. */
export function fixture(name: FixtureName): KubeObject {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), "utf8")) as KubeObject;
}

/** A fixture Service, typed as client-node's. */
export function service(name: FixtureName): V1Service {
  return fixture(name) as unknown as V1Service;
}

/** A fixture EndpointSlice, typed as client-node's. */
export function slice(name: FixtureName): V1EndpointSlice {
  return fixture(name) as unknown as V1EndpointSlice;
}
