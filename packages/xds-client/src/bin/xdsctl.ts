#!/usr/bin/env node
// xdsctl: read resources and client status from any xDS control plane. See `xdsctl help`.
import { xdsctl } from "../cli/main.js";

const interrupt = new AbortController();
process.once("SIGINT", () => interrupt.abort());
process.once("SIGTERM", () => interrupt.abort());

process.exitCode = await xdsctl(
  process.argv.slice(2),
  {
    out: (text) => process.stdout.write(text),
    note: (text) => process.stderr.write(text),
  },
  interrupt.signal,
);
// Nothing is left running once a command returns; leave the signal handlers too.
process.removeAllListeners("SIGINT");
process.removeAllListeners("SIGTERM");
