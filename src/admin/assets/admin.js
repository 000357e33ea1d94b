// keystone-rs Admin UI: small plain script, no build step. Menus, markdown preview, the
// relationship picker, and live pages over the admin's socket namespace.
(function () {
  "use strict";
  const body = document.body;
  const base = body.dataset.base || "/keystone";
  const csrf = () => (document.querySelector("input[name=csrf_token]") || {}).value || "";
  const status = document.getElementById("live-status");
  const say = (text) => {
    if (!status) return;
    status.textContent = text;
    status.hidden = false;
    clearTimeout(say.timer);
    say.timer = setTimeout(() => (status.hidden = true), 2500);
  };

  // The lists menu at phone width.
  const toggle = document.querySelector(".menu-toggle");
  const nav = document.getElementById("nav");
  if (toggle && nav) {
    toggle.addEventListener("click", () => {
      const open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }

  // After a refused save, the first field marked invalid has the focus.
  const invalid = document.querySelector(".field.invalid input:not([type=hidden]), .field.invalid textarea, .field.invalid select");
  if (invalid) invalid.focus();

  // Markdown: write / preview (rendered and sanitised by the server).
  for (const box of document.querySelectorAll("[data-markdown]")) {
    const area = box.querySelector("textarea");
    const preview = box.querySelector(".preview");
    const tabs = box.querySelectorAll("[data-tab]");
    const show = async (which) => {
      for (const t of tabs) t.setAttribute("aria-selected", String(t.dataset.tab === which));
      if (which === "write") {
        preview.hidden = true;
        area.hidden = false;
        area.focus();
        return;
      }
      preview.textContent = "Rendering…";
      preview.hidden = false;
      area.hidden = true;
      try {
        const response = await fetch(base + "/api/preview", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf() },
          body: new URLSearchParams({ md: area.value }),
        });
        const answer = await response.json();
        preview.innerHTML = answer.html || "<p class=\"note\">Nothing to preview.</p>";
      } catch (err) {
        preview.textContent = "The preview is not available right now.";
      }
    };
    for (const t of tabs) t.addEventListener("click", () => show(t.dataset.tab));
  }

  // Relationship picker: search the target list, choose one (or several) items.
  for (const picker of document.querySelectorAll("[data-picker]")) {
    const name = picker.dataset.name;
    const many = picker.dataset.many === "true";
    const chips = picker.querySelector(".chips");
    const search = picker.querySelector(".picker-search");
    const options = picker.querySelector(".picker-options");
    let found = [];
    let active = -1;
    const chosen = () => [...chips.querySelectorAll("input")].map((i) => i.value);
    const close = () => {
      options.hidden = true;
      search.setAttribute("aria-expanded", "false");
      search.removeAttribute("aria-activedescendant");
      active = -1;
    };
    const highlight = (n) => {
      const items = options.querySelectorAll("li[role=option]");
      active = Math.max(-1, Math.min(n, items.length - 1));
      items.forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
      if (active >= 0) search.setAttribute("aria-activedescendant", items[active].id);
    };
    const addChip = (item) => {
      if (!many) chips.replaceChildren();
      if (chosen().includes(item.id)) return;
      const li = document.createElement("li");
      li.className = "chip";
      const input = Object.assign(document.createElement("input"), { type: "hidden", name, value: item.id });
      const label = Object.assign(document.createElement("span"), { textContent: item.label });
      const remove = Object.assign(document.createElement("button"), { type: "button", className: "chip-remove", textContent: "×" });
      remove.setAttribute("aria-label", "Remove " + item.label);
      li.append(input, label, remove);
      chips.append(li);
    };
    const choose = (item) => {
      addChip(item);
      search.value = "";
      close();
      search.focus();
    };
    const render = () => {
      options.replaceChildren();
      const shown = found.filter((i) => !chosen().includes(i.id));
      if (!shown.length) {
        const li = Object.assign(document.createElement("li"), { className: "none", textContent: "No matches" });
        options.append(li);
      }
      shown.forEach((item, i) => {
        const li = Object.assign(document.createElement("li"), { textContent: item.label, id: `${search.id}-option-${i}` });
        li.setAttribute("role", "option");
        li.addEventListener("mousedown", (e) => {
          e.preventDefault();
          choose(item);
        });
        options.append(li);
      });
      found = shown;
      options.hidden = false;
      search.setAttribute("aria-expanded", "true");
      highlight(shown.length ? 0 : -1);
    };
    let asked = 0;
    const lookup = async () => {
      const ticket = ++asked;
      try {
        const response = await fetch(`${base}/api/search/${encodeURIComponent(picker.dataset.target)}?q=${encodeURIComponent(search.value)}`);
        const items = await response.json();
        if (ticket === asked && Array.isArray(items)) {
          found = items;
          render();
        }
      } catch (err) {
        close();
      }
    };
    let timer;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(lookup, 150);
    });
    search.addEventListener("click", lookup);
    search.addEventListener("blur", () => setTimeout(close, 100));
    search.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown") { e.preventDefault(); options.hidden ? lookup() : highlight(active + 1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active - 1); }
      else if (e.key === "Enter") { if (!options.hidden && found[active]) { e.preventDefault(); choose(found[active]); } }
      else if (e.key === "Escape") { close(); }
    });
    chips.addEventListener("click", (e) => {
      const remove = e.target.closest(".chip-remove");
      if (remove) {
        remove.closest(".chip").remove();
        search.focus();
      }
    });
  }

  // Datetimes are stored in UTC; the admin shows and takes them in the reader's time zone.
  // Without this script, the page says UTC and the server reads the form's value as UTC.
  const pad = (n) => String(n).padStart(2, "0");
  const localInput = (d) =>
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const localizeTimes = (root) => {
    for (const time of root.querySelectorAll("time.local-time")) {
      const at = new Date(time.getAttribute("datetime"));
      if (isNaN(at)) continue;
      time.title = time.textContent;
      time.textContent = localInput(at).replace("T", " ");
    }
  };
  localizeTimes(document);
  const datetimes = document.querySelectorAll("input[type=datetime-local][data-utc]");
  for (const input of datetimes) {
    const at = input.value && new Date(input.value + "Z");
    if (at && !isNaN(at)) input.value = localInput(at);
    const note = input.parentElement.querySelector(".zone-note");
    if (note) note.textContent = zone;
  }
  // A datetime filter's day starts at the reader's midnight: the URL carries that instant.
  const days = document.querySelectorAll("input[type=date][data-utc-day]");
  const query = new URLSearchParams(location.search);
  for (const input of days) {
    const sent = query.get(input.name) || "";
    const at = sent.length > 10 && new Date(sent); // a plain day (typed in a URL) stays as it is
    if (at && !isNaN(at)) input.value = localInput(at).slice(0, 10);
  }
  // What is sent, not what is shown, becomes the UTC instant (the inputs keep local time).
  const sendUtc = (inputs, toLocal) => {
    const form = inputs.length && inputs[0].form;
    if (!form) return;
    form.addEventListener("formdata", (event) => {
      for (const input of inputs) {
        const at = input.value && new Date(toLocal(input.value)); // no zone: local time
        if (at && !isNaN(at)) event.formData.set(input.name, at.toISOString());
      }
    });
  };
  sendUtc(datetimes, (value) => value);
  sendUtc(days, (day) => day + "T00:00");

  // Live: list pages refresh their rows, item pages warn about a newer version.
  const list = body.dataset.liveList;
  if (!list || typeof io !== "function") return;
  const id = body.dataset.liveId;
  const version = Number(body.dataset.version || 0);
  const socket = io("/__keystone_admin");
  window.keystoneAdmin = { socket, refreshed: 0 };
  // Once the server watches for this page, a list page reloads its rows: whatever changed
  // before (between rendering and watching, or while disconnected) shows too.
  socket.on("connect", () => {
    body.dataset.live = "connected";
    socket.emit("watch", id ? { list, id } : { list }, (joined) => {
      body.dataset.live = joined ? "watching" : "refused";
      if (joined && !id) refresh().catch(() => {});
    });
  });
  socket.on("disconnect", () => (body.dataset.live = "disconnected"));
  socket.on("connect_error", () => (body.dataset.live = "refused"));
  socket.on("session:end", () => {
    body.dataset.live = "ended";
    say("You were signed out.");
  });

  let refreshing = null;
  const refresh = async (changedId) => {
    const response = await fetch(location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("results");
    const results = document.getElementById("results");
    if (!fresh || !results) return;
    results.replaceWith(fresh);
    localizeTimes(fresh);
    const row = changedId && fresh.querySelector(`tr[data-id="${CSS.escape(changedId)}"]`);
    if (row) row.classList.add("flash-row");
    window.keystoneAdmin.refreshed += 1;
    body.dataset.refreshed = String(window.keystoneAdmin.refreshed);
  };
  socket.on("changed", (change) => {
    if (!change || change.list !== list) return;
    if (id) {
      if (change.id !== id) return;
      const banner = document.getElementById("changed-banner");
      if (!banner) return;
      if (change.version === null) {
        banner.querySelector(".banner-text").textContent = "Someone deleted this item.";
        banner.hidden = false;
      } else if (change.version > version) {
        banner.hidden = false;
      }
      return;
    }
    // Coalesce bursts: one refresh at a time, one more after it if changes came meanwhile.
    if (refreshing) {
      refreshing.again = change.id;
      return;
    }
    refreshing = { again: null };
    refresh(change.id)
      .catch(() => {})
      .finally(() => {
        const again = refreshing.again;
        refreshing = null;
        if (again) socket.listeners("changed")[0]({ list, id: again });
      });
    say("Updated");
  });
})();
