// The status page's behaviour (templates/shazbot/status.html): poll
// status.json every two seconds and redraw the table. A file, not an inline
// <script>, so the page's Content-Security-Policy needs no 'unsafe-inline'.
// Text goes in with textContent only: base URLs and metadata come from peers.
"use strict";
(function () {
  function age(seconds) {
    if (seconds === null) return "\u2014";
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

  // "key=value, key=value", keys sorted; empty when the server has none.
  function metadata(meta) {
    return Object.keys(meta || {}).sort().map(function (key) { return key + "=" + meta[key]; }).join(", ");
  }

  async function refresh() {
    try {
      // Relative to the page (<prefix>/), so it follows SHAZBOT_URL_PREFIX.
      const response = await fetch("status.json", {cache: "no-store", credentials: "same-origin"});
      if (!response.ok) throw new Error("HTTP " + response.status);
      const status = await response.json();
      const me = status.self;
      document.getElementById("self").textContent =
        "This server: " + me.baseUrl + " \u2014 " + (me.online ? "online" : "offline (drained or leaving)") +
        (me.monitor ? ", monitor" : "") + " \u2014 " + status.online + " online, " + status.offline +
        " offline \u2014 failure timeout " + status.failureTimeout.toFixed(1) + " s";
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
        cell(row, metadata(server.meta), "meta");
        body.appendChild(row);
      }
      document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString();
    } catch (error) {
      document.getElementById("updated").textContent = "Could not refresh: " + error.message;
    }
  }

  refresh();
  setInterval(refresh, 2000);
})();
