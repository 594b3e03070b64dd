import type { StoreStatus } from "@nebucloud/xds-etcd";
import type { Node } from "@nebucloud/xds-proto/envoy/config/core/v3/base_pb";
import type { XdsServerHandle } from "@nebucloud/xds-server";
import type { ReloadStatus } from "./file-source.js";

/** What the status page reports on: the config this process loads, and the store it serves from. */
export interface StatusSource {
  /** The group a node is served as. */
  groupOf(node: Node | undefined): string;
  /** The last reload; undefined for a replica, which loads no files. */
  readonly status: ReloadStatus | undefined;
  /** The etcd store, when the process serves from one. */
  store?(): StoreStatus;
}

/** What the status page shows, served as JSON at `/debug/status`. */
export function statusJson(source: StatusSource, handle: XdsServerHandle) {
  const nodes = handle.streams().map((stream) => ({
    stream: stream.info.id,
    kind: stream.info.kind,
    nodeId: stream.node?.id ?? "",
    cluster: stream.node?.cluster ?? "",
    group: source.groupOf(stream.node),
    connectedAt: new Date(stream.openedAt).toISOString(),
    types: stream.status().map((t) => ({
      typeUrl: t.typeUrl,
      type: t.typeUrl.slice(t.typeUrl.lastIndexOf(".") + 1),
      sent: t.sentVersion,
      acked: t.ackedVersion,
      state: t.nack
        ? "NACKED"
        : t.sentVersion === ""
          ? "REQUESTED"
          : t.ackedVersion === t.sentVersion
            ? "ACKED"
            : "SENT",
      nack: t.nack?.message ?? null,
      resources: t.returned.size,
    })),
  }));
  return { reload: source.status ?? null, store: source.store?.() ?? null, nodes };
}

/**
 * The status page: a static shell that polls `/debug/status` every second,
 * with the admin token it was opened with (`/?token=`), if any.
 */
export const statusPageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nebucloud-xds file-source</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d2330; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #dde; vertical-align: top; }
  th { background: #f3f4f8; font-weight: 600; } code { font-size: 12px; }
  .ok { color: #137333; } .bad { color: #b3261e; font-weight: 600; } .muted { color: #667; }
  .ACKED { color: #137333; } .NACKED { color: #b3261e; font-weight: 600; } .SENT, .REQUESTED { color: #8a6d00; }
  pre.error { background: #fdecea; border: 1px solid #f3b8b3; padding: .6rem; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>nebucloud-xds file-source</h1>
<div class="muted" id="updated">loading…</div>
<h2>Config</h2>
<div id="reload"></div>
<div id="store-section" hidden><h2>Store</h2><div id="store"></div></div>
<h2>Connected nodes</h2>
<table id="nodes"><thead><tr><th>Node</th><th>Group</th><th>Stream</th><th>Type</th><th>State</th><th>Version sent</th><th>Version acked</th><th>Resources</th><th>NACK message</th></tr></thead><tbody></tbody></table>
<script>
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;","\\"":"&quot;","'":"&#39;"}[c]));
// The admin token arrives once as ?token= (a browser cannot send a header when it opens a page);
// it moves to sessionStorage, off the address bar and history, and goes out as a header.
const query = new URLSearchParams(location.search);
if (query.has("token")) {
  sessionStorage.setItem("xds-admin-token", query.get("token"));
  history.replaceState(null, "", location.pathname);
}
const adminToken = sessionStorage.getItem("xds-admin-token");
const authHeaders = adminToken ? { authorization: "Bearer " + adminToken } : {};
const short = (v) => v ? esc(v.slice(0, 12)) : '<span class="muted">–</span>';
async function refresh() {
  try {
    const res = await fetch("/debug/status", { headers: authHeaders });
    if (!res.ok) throw new Error((await res.json()).message);
    const s = await res.json();
    const r = s.reload;
    if (r) {
      const counts = Object.entries(r.counts).map(([k, n]) => n + " " + k).join(", ") || "no resources";
      document.getElementById("reload").innerHTML =
        '<div>Serving: <b>' + esc(counts) + '</b>' + (r.servingSince ? ' <span class="muted">since ' + esc(r.servingSince) + '</span>' : '') + '</div>' +
        '<div>Config hash served <code id="served-hash">' + short(r.servedHash) + '</code>, on disk <code id="disk-hash">' + short(r.diskHash) + '</code> ' +
        (r.stale ? '<span class="bad" id="config-stale">differs: the files on disk are not what is served</span>' : '<span class="ok" id="config-stale">same</span>') +
        ' <span class="muted">checked ' + esc(r.checkedAt) + '</span></div>' +
        '<div>Last reload: ' + (r.ok ? '<span class="ok">applied</span>' : '<span class="bad" id="reload-error">rejected</span>') + ' <span class="muted">' + esc(r.at) + '</span></div>' +
        (r.ok ? '' : '<pre class="error">' + esc(r.problems.map((p) => [p.file, p.resource, p.field && ("field " + p.field), p.message].filter(Boolean).join(": ")).join("\\n")) + '</pre>');
    } else {
      document.getElementById("reload").innerHTML = '<div class="muted">A replica: it loads no files and serves what the writer published to the store.</div>';
    }
    const st = s.store;
    document.getElementById("store-section").hidden = !st;
    if (st) {
      const rep = st.replica;
      const role = st.writer ? '<span class="ok">writer</span>' : st.candidate ? 'standby (campaigning to write)' : 'replica (never writes)';
      document.getElementById("store").innerHTML =
        '<div>etcd <code>' + esc(st.endpoints.join(",")) + '</code> prefix <code>' + esc(st.prefix) + '</code>: ' +
        (rep.connected ? '<span class="ok" id="store-state">connected</span>' : '<span class="bad" id="store-state">' + (rep.synced ? 'unreachable, serving the last state' : 'no state yet') + '</span>') +
        (rep.disconnectedSince ? ' <span class="muted">since ' + esc(rep.disconnectedSince) + '</span>' : '') + '</div>' +
        '<div>This process (' + esc(st.identity) + '): ' + role + '</div>' +
        '<div>Serving revision <code>' + esc(rep.revision || "–") + '</code> published by ' + esc(rep.writer || "–") + ' <span class="muted">' + esc(rep.publishedAt) + '</span>, ' + rep.nodeKeys + ' node key(s)</div>' +
        (rep.lastError ? '<pre class="error">' + esc(rep.lastError) + '</pre>' : '') +
        (st.publisher && st.publisher.lastError ? '<pre class="error">publish: ' + esc(st.publisher.lastError) + '</pre>' : '');
    }
    const rows = [];
    for (const n of s.nodes) {
      if (n.types.length === 0) rows.push('<tr class="node" data-node="' + esc(n.nodeId) + '"><td>' + esc(n.nodeId) + '</td><td>' + esc(n.group) + '</td><td>' + esc(n.kind) + ' #' + n.stream + '</td><td colspan="6" class="muted">no request yet</td></tr>');
      for (const t of n.types) {
        rows.push('<tr class="node" data-node="' + esc(n.nodeId) + '"><td>' + esc(n.nodeId) + '</td><td>' + esc(n.group) + '</td><td>' + esc(n.kind) + ' #' + n.stream +
          '</td><td>' + esc(t.type) + '</td><td class="' + t.state + '">' + t.state + '</td><td><code>' + short(t.sent) + '</code></td><td><code>' + short(t.acked) +
          '</code></td><td>' + t.resources + '</td><td class="nack">' + (t.nack ? '<span class="bad">' + esc(t.nack) + '</span>' : '') + '</td></tr>');
      }
    }
    document.querySelector("#nodes tbody").innerHTML = rows.join("") || '<tr><td colspan="9" class="muted">no node connected</td></tr>';
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("updated").textContent = "cannot reach the control plane: " + e;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
