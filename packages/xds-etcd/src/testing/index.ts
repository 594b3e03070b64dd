/**
 * Helpers for tests that need a real etcd: find the binary, start one on
 * loopback with a temporary data directory, stop and restart it.
 * @packageDocumentation
 */
export { type EtcdServer, findEtcd, freePort, type StartEtcdOptions, startEtcd } from "./etcd-server.js";
