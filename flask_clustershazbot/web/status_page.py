"""The HTML status page: every known server, refreshed every few seconds.

Served at ``<prefix>/`` behind the control secret as HTTP Basic auth (any user
name, the secret as password), so a browser can open it. Inline CSS and JS,
no external resources; the page polls ``<prefix>/status.json``.
"""

from __future__ import annotations

__all__ = ["STATUS_PAGE"]

STATUS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cluster status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d2430; background: #f7f8fa; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
  #self { margin: 0 0 1rem; color: #4a5568; }
  table { border-collapse: collapse; background: #fff; box-shadow: 0 1px 3px rgba(0,0,0,.1); min-width: 46rem; }
  th, td { padding: .45rem .8rem; text-align: left; border-bottom: 1px solid #e6e8eb; }
  th { background: #eef0f3; font-weight: 600; }
  td.url { font-family: ui-monospace, monospace; }
  .badge { display: inline-block; padding: .05rem .5rem; border-radius: .7rem; font-size: .8rem; font-weight: 600; }
  .online { background: #d9f5e1; color: #146c2e; }
  .offline { background: #fde2e1; color: #a3261f; }
  .suspected { background: #fff1cc; color: #8a5a00; }
  #updated { color: #718096; margin-top: .6rem; font-size: .85rem; }
</style>
</head>
<body>
<h1>Cluster status</h1>
<p id="self">Loading&hellip;</p>
<table>
  <thead><tr><th>Server</th><th>Status</th><th>Monitor</th><th>Last heartbeat</th><th>Silent for</th></tr></thead>
  <tbody id="servers"></tbody>
</table>
<p id="updated"></p>
<script>
"use strict";
function age(seconds) {
  if (seconds === null) return "\\u2014";
  if (seconds < 60) return seconds.toFixed(1) + " s";
  if (seconds < 3600) return (seconds / 60).toFixed(1) + " min";
  if (seconds < 86400) return (seconds / 3600).toFixed(1) + " h";
  return (seconds / 86400).toFixed(1) + " d";
}
function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}
function badge(td, text, kind) {
  td.textContent = "";
  const span = document.createElement("span");
  span.className = "badge " + kind;
  span.textContent = text;
  td.appendChild(span);
}
async function refresh() {
  try {
    const response = await fetch("status.json", {cache: "no-store", credentials: "same-origin"});
    if (!response.ok) throw new Error("HTTP " + response.status);
    const status = await response.json();
    const me = status.self;
    document.getElementById("self").textContent =
      "This server: " + me.baseUrl + " \\u2014 " + (me.online ? "online" : "offline (drained or leaving)") +
      (me.monitor ? ", monitor" : "") + " \\u2014 " + status.online + " online, " + status.offline +
      " offline \\u2014 failure timeout " + status.failureTimeout.toFixed(1) + " s";
    const body = document.getElementById("servers");
    body.textContent = "";
    for (const server of status.servers) {
      const row = document.createElement("tr");
      row.dataset.url = server.baseUrl;
      cell(row, server.baseUrl + (server.self ? " (this)" : ""), "url");
      const state = cell(row, "");
      if (!server.online) badge(state, "offline", "offline");
      else if (server.suspected) badge(state, "suspected", "suspected");
      else badge(state, "online", "online");
      cell(row, server.monitor ? "yes" : "no");
      cell(row, age(server.ageSeconds) + " ago");
      cell(row, age(server.silentSeconds));
      body.appendChild(row);
    }
    document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString();
  } catch (error) {
    document.getElementById("updated").textContent = "Could not refresh: " + error.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""
