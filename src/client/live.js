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

  // Where file:line links lead: the editor the developer configured with KEYSTONE_EDITOR
  // (served with this script), e.g. "vscode://file/{file}:{line}:{column}"; none otherwise.
  function editorLink(d) {
    var editor = window.__keystoneEditor;
    if (!editor || !editor.template || !d.file) return null;
    // Always absolute with a leading slash ("/C:/app/..." on Windows), as file URLs want.
    var file = (editor.root.replace(/\\/g, "/").replace(/\/$/, "") + "/" + d.file).replace(/^(?!\/)/, "/");
    return editor.template
      .split("{file}").join(encodeURI(file))
      .split("{line}").join(String(d.line || 1))
      .split("{column}").join(String(d.column || 1));
  }

  // The source line with the span underlined, as the terminal shows it:
  //   12 | {% if %}
  //      |    ^^^^^
  function codeFrame(d) {
    var gutter = String(d.line);
    var pad = gutter.replace(/./g, " ");
    var frame = el("pre", "margin:.5rem 0;padding:.5rem .75rem;background:#111;border-radius:4px;overflow-x:auto;" +
      "white-space:pre;color:#ddd");
    frame.className = "keystone-frame";
    frame.appendChild(el("span", "color:#888", gutter + " | "));
    frame.appendChild(document.createTextNode(d.snippet + "\n"));
    frame.appendChild(el("span", "color:#888", pad + " | "));
    if (d.column) {
      var before = Array.from(d.snippet).slice(0, d.column - 1).map(function (c) { return c === "\t" ? "\t" : " "; }).join("");
      var underline = el("span", "color:#ff6b6b;font-weight:bold", before + new Array((d.length || 1) + 1).join("^"));
      underline.className = "keystone-underline";
      frame.appendChild(underline);
    }
    return frame;
  }

  function onKey(event) {
    if (event.key === "Escape") hideDiagnostics();
  }

  function showDiagnostics(list) {
    hideDiagnostics();
    // Opaque: the page under a broken project must not bleed through and be mistaken for it.
    overlay = el("div", "position:fixed;inset:0;z-index:2147483647;background:#1b1b1f;color:#eee;" +
      "font:14px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace;overflow:auto;padding:clamp(1rem,4vw,2rem);box-sizing:border-box");
    overlay.id = "keystone-overlay";
    overlay.setAttribute("role", "alertdialog");
    overlay.setAttribute("aria-label", "keystone-rs: the project has errors");
    var close = el("button", "position:absolute;top:1rem;right:1rem;background:none;border:1px solid #555;color:#ccc;" +
      "font:inherit;border-radius:4px;padding:.2rem .6rem;cursor:pointer", "Esc ×");
    close.setAttribute("aria-label", "Close (Esc); the page stays as it was before the edit");
    close.addEventListener("click", hideDiagnostics);
    overlay.appendChild(close);
    overlay.appendChild(el("div", "font-size:18px;color:#ff6b6b;margin:0 4rem 1rem 0",
      "keystone-rs: the project has " + list.length + " error" + (list.length === 1 ? "" : "s") +
      " — the last good version is still serving"));
    list.forEach(function (d) {
      var box = el("div", "border-left:3px solid #ff6b6b;padding:.5rem 1rem;margin-bottom:1rem;background:#26262b");
      var where = d.file + (d.line ? ":" + d.line + (d.column ? ":" + d.column : "") : "");
      var href = editorLink(d);
      var location = el(href ? "a" : "div", "color:#ffb86c;text-decoration:" + (href ? "underline" : "none"), where);
      location.className = "keystone-location";
      if (href) {
        location.href = href;
        location.title = "open in your editor";
      }
      box.appendChild(location);
      box.appendChild(el("div", "color:#fff;font-weight:bold", d.severity + "[" + d.code + "]: " + d.message));
      if (d.snippet && d.line) box.appendChild(codeFrame(d));
      if (d.help) box.appendChild(el("div", "color:#8be9fd", "help: " + d.help));
      overlay.appendChild(box);
    });
    overlay.appendChild(el("div", "color:#888;margin-top:1rem", "Fix the file and this closes by itself; Esc hides it."));
    document.body.appendChild(overlay);
    document.addEventListener("keydown", onKey);
    close.focus();
  }

  function hideDiagnostics() {
    if (overlay && overlay.parentNode) overlay.parentNode.removeChild(overlay);
    overlay = null;
    document.removeEventListener("keydown", onKey);
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
