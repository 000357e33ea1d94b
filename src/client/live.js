// keystone-rs live reload (development only). Injected before </body> of HTML pages; follows
// project edits over the /__keystone socket namespace: reloads the page, swaps stylesheets in
// place when only CSS changed, and shows the project's diagnostics while it is broken.
(function () {
  "use strict";
  if (window.__keystoneLive) return;
  window.__keystoneLive = true;

  var overlay = null;

  function el(tag, style, text) {
    var node = document.createElement(tag);
    if (style) node.setAttribute("style", style);
    if (text != null) node.textContent = text;
    return node;
  }

  function showDiagnostics(list) {
    hideDiagnostics();
    overlay = el("div", "position:fixed;inset:0;z-index:2147483647;background:rgba(20,20,20,.92);color:#eee;" +
      "font:14px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace;overflow:auto;padding:2rem");
    overlay.id = "keystone-overlay";
    overlay.appendChild(el("div", "font-size:18px;color:#ff6b6b;margin-bottom:1rem",
      "keystone-rs: the project has " + list.length + " error" + (list.length === 1 ? "" : "s") +
      " — the last good version is still serving"));
    list.forEach(function (d) {
      var box = el("div", "border-left:3px solid #ff6b6b;padding:.5rem 1rem;margin-bottom:1rem;background:#1e1e1e");
      var where = d.file + (d.line ? ":" + d.line + (d.column ? ":" + d.column : "") : "");
      box.appendChild(el("div", "color:#ffb86c", where));
      box.appendChild(el("div", "color:#fff;font-weight:bold", d.severity + "[" + d.code + "]: " + d.message));
      if (d.snippet) box.appendChild(el("pre", "margin:.5rem 0;color:#ddd;white-space:pre-wrap", d.line + " | " + d.snippet));
      if (d.help) box.appendChild(el("div", "color:#8be9fd", "help: " + d.help));
      overlay.appendChild(box);
    });
    document.body.appendChild(overlay);
  }

  function hideDiagnostics() {
    if (overlay && overlay.parentNode) overlay.parentNode.removeChild(overlay);
    overlay = null;
  }

  function swapStylesheets(urls) {
    var links = document.querySelectorAll('link[rel="stylesheet"]');
    Array.prototype.forEach.call(links, function (link) {
      var url = new URL(link.href, location.href);
      if (url.origin !== location.origin || !(url.pathname in urls)) return;
      var fresh = new URL(urls[url.pathname], location.href);
      if (fresh.search === url.search) fresh.searchParams.set("v", Date.now().toString(36));
      link.href = fresh.pathname + fresh.search;
    });
  }

  function start() {
    var socket = window.io("/__keystone");
    var connectedBefore = false;
    var renewed = false;
    // A sign-in renews the shared connection (so it carries the new cookie): not a restart.
    socket.io.on("close", function (reason) { renewed = reason === "session renewed"; });
    socket.on("connect", function () {
      // A second connect means the server went away and came back: show what it serves now.
      if (connectedBefore && !renewed) location.reload();
      connectedBefore = true;
      renewed = false;
    });
    socket.on("reload", function () { location.reload(); });
    socket.on("css", swapStylesheets);
    socket.on("diagnostics", showDiagnostics);
    socket.on("fixed", hideDiagnostics);
    window.__keystoneLiveSocket = socket;
  }

  if (window.io) {
    start();
  } else {
    var script = document.createElement("script");
    script.src = "/socket.io/socket.io.js";
    script.onload = start;
    document.head.appendChild(script);
  }
})();
