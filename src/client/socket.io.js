// keystone-rs browser client for Socket.IO: our own implementation, not socket.io-client.
// Speaks Socket.IO protocol v5 over Engine.IO v4. It tries WebSocket first and falls back
// to HTTP long-polling. It multiplexes namespaces, buffers emits, handles acks and
// reconnects with backoff. Plain script with no dependencies; defines the global `io`.
(function (global) {
  "use strict";

  const RESERVED = new Set(["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]);
  const warn = (...a) => console.warn("[socket.io]", ...a);
  const safe = (fn, ctx, args) => {
    try { fn.apply(ctx, args); } catch (e) { console.error("[socket.io] listener error:", e); }
  };
  const sub = (obj, ev, fn) => { obj.on(ev, fn); return () => obj.off(ev, fn); };

  // ---- minimal event emitter (listener errors are caught and logged) ----
  class Emitter {
    on(ev, fn) { const l = this._l || (this._l = {}); (l[ev] = l[ev] || []).push(fn); return this; }
    once(ev, fn) {
      const w = (...a) => { this.off(ev, w); fn.apply(this, a); };
      w.fn = fn;
      return this.on(ev, w);
    }
    off(ev, fn) {
      if (!this._l) return this;
      if (ev === undefined) this._l = {};
      else if (fn === undefined) delete this._l[ev];
      else {
        const l = this._l[ev] || [];
        const i = l.findIndex((f) => f === fn || f.fn === fn);
        if (i >= 0) l.splice(i, 1);
      }
      return this;
    }
    listeners(ev) { return ((this._l && this._l[ev]) || []).slice(); }
    hasListeners(ev) { return this.listeners(ev).length > 0; }
    _fire(ev, ...args) { for (const f of this.listeners(ev)) safe(f, this, args); return true; }
    emit(ev, ...args) { return this._fire(ev, ...args); }
  }
  const EP = Emitter.prototype;
  EP.addEventListener = EP.addListener = EP.on;
  EP.removeListener = EP.removeEventListener = EP.removeAllListeners = EP.off;

  // ---- binary helpers ----
  const isBin = (o) => typeof ArrayBuffer !== "undefined" && (o instanceof ArrayBuffer || ArrayBuffer.isView(o));
  const bytes = (b) => (b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  const toB64 = (b) => { let s = ""; for (const c of bytes(b)) s += String.fromCharCode(c); return btoa(s); };
  const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
  const hasBin = (o) => !!o && typeof o === "object" && (isBin(o) || Object.keys(o).some((k) => hasBin(o[k])));
  function walk(o, fn) { // deep-copies o, letting fn replace leaves
    const r = fn(o);
    if (r !== undefined) return r;
    if (Array.isArray(o)) return o.map((v) => walk(v, fn));
    if (o && typeof o === "object" && typeof o.toJSON !== "function") {
      const c = {};
      for (const k of Object.keys(o)) c[k] = walk(o[k], fn);
      return c;
    }
    return o;
  }

  // ---- Socket.IO v5 packet codec ----
  // Types: 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR, 5 BINARY_EVENT, 6 BINARY_ACK
  function encode(p) { // -> [text, ...binary attachments]
    let type = p.type, data = p.data;
    const bufs = [];
    if ((type === 2 || type === 3) && hasBin(data)) {
      type += 3;
      data = walk(data, (v) => (isBin(v) ? { _placeholder: true, num: bufs.push(v) - 1 } : undefined));
    }
    let s = String(type);
    if (bufs.length) s += bufs.length + "-";
    if (p.nsp && p.nsp !== "/") s += p.nsp + ",";
    if (p.id != null) s += p.id;
    if (data !== undefined) s += JSON.stringify(data);
    return [s].concat(bufs);
  }

  const isObj = (o) => !!o && typeof o === "object" && !Array.isArray(o);
  function parse(s) {
    const m = /^([0-6])(?:(\d+)-)?(?:(\/[^,]*),?)?(\d+)?([\s\S]*)$/.exec(s);
    if (!m) throw new Error("bad packet header");
    const p = { type: +m[1], nsp: m[3] || "/" };
    if (m[2] !== undefined) p.n = +m[2];
    if (m[4] !== undefined) p.id = +m[4];
    if (m[5]) p.data = JSON.parse(m[5]);
    const d = p.data, t = p.type;
    const ok = (p.n === undefined || t >= 5) && (p.id === undefined || t === 2 || t === 3 || t >= 5) &&
      (t === 0 ? isObj(d) : t === 1 ? d === undefined : t === 4 ? isObj(d) || typeof d === "string" :
        t === 3 || t === 6 ? Array.isArray(d) :
          Array.isArray(d) && (typeof d[0] === "number" || (typeof d[0] === "string" && !RESERVED.has(d[0]))));
    if (!ok) throw new Error("invalid payload for packet type " + t);
    return p;
  }

  class Decoder { // feeds engine messages, returns complete packets (or null while waiting for attachments)
    add(d) {
      const p = this.pending;
      if (typeof d !== "string") {
        if (!p) throw new Error("unexpected binary attachment");
        p.bufs.push(d);
        if (p.bufs.length < p.n) return null;
        this.pending = null;
        p.data = walk(p.data, (v) => {
          if (!isObj(v) || v._placeholder !== true) return undefined;
          if (!(v.num in p.bufs)) throw new Error("bad attachment index");
          return p.bufs[v.num];
        });
        return p;
      }
      this.pending = null;
      if (p) warn("text packet while waiting for binary attachments, dropping partial packet");
      const q = parse(d);
      if (q.n > 0) { q.bufs = []; this.pending = q; return null; }
      return q;
    }
  }

  // ---- Engine.IO v4 transports ----
  class WS {
    constructor(e) { this.e = e; this.name = "websocket"; this.writable = true; }
    start() {
      const ws = (this.ws = new WebSocket(this.e._url("websocket")));
      ws.binaryType = "arraybuffer";
      ws.onmessage = (m) => this.e._onPacket(m.data, this);
      ws.onerror = () => this.e._onError(new Error("websocket error"), this);
      ws.onclose = (ev) => this.e._onError(new Error("websocket closed (code " + ev.code + ")"), this, "transport close");
    }
    send(packets) { for (const p of packets) this.ws.send(p); }
    close(final) {
      const ws = this.ws;
      if (!ws) return;
      ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        if (final && ws.readyState === 1) this.send(final);
        ws.close();
      } catch (e) { /* ignore */ }
    }
  }

  class Polling {
    constructor(e) { this.e = e; this.name = "polling"; this.writable = true; this.chain = Promise.resolve(); }
    start() { this._poll(); }
    _req(init) {
      const cred = this.e.opts.withCredentials ? "include" : "same-origin";
      return fetch(this.e._url("polling"), Object.assign({ cache: "no-store", credentials: cred }, init)).then(
        (r) => r.text().then((text) => {
          if (r.ok) return text;
          let msg = text;
          try { msg = JSON.parse(text).message || text; } catch (e) { /* not JSON */ }
          const err = new Error("polling error: HTTP " + r.status + (msg ? " " + msg : ""));
          err.status = r.status;
          throw err;
        }),
        (err) => { throw new Error("polling error: " + (err && err.message)); }
      );
    }
    _poll() {
      if (this.closed) return;
      this.ctl = typeof AbortController === "function" ? new AbortController() : null;
      this._req({ signal: this.ctl && this.ctl.signal }).then((text) => {
        for (const p of text.split("\x1e")) {
          if (this.closed) return;
          if (p) this.e._onPacket(p[0] === "b" ? fromB64(p.slice(1)) : p, this);
        }
        this._poll();
      }, (err) => { if (!this.closed) this.e._onError(err, this); });
    }
    send(packets) {
      this.writable = false;
      const body = packets.map((p) => (typeof p === "string" ? p : "b" + toB64(p))).join("\x1e");
      const headers = { "Content-Type": "text/plain;charset=UTF-8" };
      return (this.chain = this.chain
        .then(() => this._req({ method: "POST", body, headers }))
        .then(() => { this.writable = true; if (!this.closed) this.e._flush(); },
          (err) => { if (!this.closed) this.e._onError(err, this); }));
    }
    close(final) {
      this.closed = true;
      const abort = () => this.ctl && this.ctl.abort();
      if (final) this.send(final).then(abort); else abort();
    }
  }

  const enc = typeof TextEncoder === "function" ? new TextEncoder() : null;
  const byteLen = (p) => (typeof p !== "string" ? Math.ceil(p.byteLength / 3) * 4 + 1 : enc ? enc.encode(p).length : p.length * 3);
  let stamp = 0;

  // Engine.IO v4 connection. Events: open, data(string|ArrayBuffer), ping, close(reason, err), error(err)
  class Engine extends Emitter {
    constructor(origin, opts, transports) {
      super();
      this.origin = origin;
      this.opts = opts;
      this.queue = transports.slice();
      this.readyState = "opening";
      this.wbuf = [];
      this.maxPayload = 1e6;
      this.transport = null;
    }
    open() { this._next(new Error("no usable transport")); }
    _url(name) {
      const u = new URL(this.opts.path, this.origin);
      if (name === "websocket") u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      const q = new URLSearchParams(this.opts.query || {});
      q.set("EIO", "4");
      q.set("transport", name);
      if (this.sid) q.set("sid", this.sid);
      if (name === "polling") q.set("t", Date.now().toString(36) + "." + stamp++);
      u.search = q.toString();
      return u.href;
    }
    _next(err) {
      clearTimeout(this.tTimer);
      const name = this.queue.shift();
      if (!name) return this._finish(null, err);
      let t;
      if (name === "websocket" && typeof WebSocket === "function") t = new WS(this);
      else if (name === "polling" && typeof fetch === "function") t = new Polling(this);
      else return this._next(err);
      this.transport = t;
      const to = this.opts.timeout;
      if (this.queue.length && to > 0) {
        this.tTimer = setTimeout(() => this._onError(new Error(name + " timeout"), t), Math.min(to / 2, 5000));
      }
      try { t.start(); } catch (e) { this._onError(e, t); }
    }
    _onError(err, t, reason) {
      if (t !== this.transport || this.readyState === "closed") return;
      if (this.readyState === "opening") { t.close(); this._next(err); } else this._finish(reason || "transport error", err);
    }
    _onPacket(d, t) {
      if (t !== this.transport || this.readyState === "closed") return;
      if (typeof d !== "string") { if (this.readyState === "open") this._fire("data", d); return; }
      const type = d[0];
      if (this.readyState === "opening") {
        if (type !== "0") return;
        let hs = null;
        try { hs = JSON.parse(d.slice(1)); } catch (e) { /* handled below */ }
        if (!hs || typeof hs.sid !== "string") return this._onError(new Error("invalid handshake"), t);
        clearTimeout(this.tTimer);
        this.sid = hs.sid;
        this.pingInterval = hs.pingInterval || 25000;
        this.pingTimeout = hs.pingTimeout || 20000;
        if (hs.maxPayload) this.maxPayload = hs.maxPayload;
        this.readyState = "open";
        this._resetPing();
        this._fire("open");
        return this._flush();
      }
      if (type === "2") { this._resetPing(); this.send("3"); this._fire("ping"); }
      else if (type === "4") this._fire("data", d.slice(1));
      else if (type === "1") this._finish("transport close");
      else if (type !== "6" && type !== "3") warn("ignoring unknown engine.io packet", d.slice(0, 32));
    }
    _resetPing() {
      clearTimeout(this.pingTimer);
      this.pingTimer = setTimeout(() => this._finish("ping timeout"), this.pingInterval + this.pingTimeout);
    }
    send(p) { if (this.readyState === "open") { this.wbuf.push(p); this._flush(); } }
    _flush() {
      const t = this.transport;
      if (this.readyState !== "open" || !t.writable || !this.wbuf.length) return;
      let n = this.wbuf.length;
      if (t.name === "polling") { // respect the server's maxPayload per POST
        let size = 0;
        for (n = 0; n < this.wbuf.length; n++) {
          size += byteLen(this.wbuf[n]) + 1;
          if (n && size > this.maxPayload) break;
        }
      }
      t.send(this.wbuf.splice(0, n));
    }
    close() { this._finish("forced close", undefined, this.readyState === "open" ? this.wbuf.concat("1") : null); }
    _finish(reason, err, final) { // reason === null: failed to open
      if (this.readyState === "closed") return;
      this.readyState = "closed";
      clearTimeout(this.pingTimer);
      clearTimeout(this.tTimer);
      if (this.transport) this.transport.close(final);
      this.wbuf = [];
      if (reason === null) this._fire("error", err);
      else this._fire("close", reason, err);
    }
  }

  // ---- Manager: one Engine.IO connection shared by namespace sockets, with reconnection ----
  class Manager extends Emitter {
    constructor(uri, opts) {
      super();
      if (uri && typeof uri === "object") { opts = uri; uri = undefined; }
      this.opts = opts = Object.assign({
        path: "/socket.io/", transports: ["websocket", "polling"], reconnection: true,
        reconnectionAttempts: Infinity, reconnectionDelay: 1000, reconnectionDelayMax: 5000,
        randomizationFactor: 0.5, timeout: 20000, autoConnect: true, withCredentials: true,
      }, opts);
      opts.path = opts.path.replace(/\/$/, "") + "/";
      this.uri = originOf(uri);
      this.transports = opts.transports.slice();
      this.nsps = {};
      this.attempts = 0;
      this._readyState = "closed";
      this.engine = null;
      if (opts.autoConnect) this.open();
    }
    open(fn) {
      if (this._readyState === "open" || this._readyState === "opening") return this;
      const e = (this.engine = new Engine(this.uri, this.opts, this.transports));
      this._readyState = "opening";
      this.skipReconnect = false;
      this.decoder = new Decoder();
      const fail = (err) => {
        this._cleanup();
        this._readyState = "closed";
        this._fire("error", err);
        if (fn) fn(err); else if (!this._reconnecting && this.opts.reconnection && this.attempts === 0) this._reconnect();
      };
      this.subs = [
        sub(e, "open", () => { this._onopen(); if (fn) fn(); }),
        sub(e, "error", fail),
      ];
      const to = this.opts.timeout;
      if (to > 0) {
        const timer = setTimeout(() => { e.close(); fail(new Error("timeout")); }, to);
        this.subs.push(() => clearTimeout(timer));
      }
      e.open();
      return this;
    }
    connect(fn) { return this.open(fn); }
    _cleanup() { (this.subs || []).forEach((off) => off()); this.subs = []; }
    _onopen() {
      const e = this.engine;
      this._cleanup();
      this._readyState = "open";
      // remember the transport that worked so reconnects skip a known-failing websocket
      const name = e.transport.name;
      this.transports = [name].concat(this.opts.transports.filter((t) => t !== name));
      this.subs = [
        sub(e, "data", (d) => this._ondata(d)),
        sub(e, "ping", () => this._fire("ping")),
        sub(e, "close", (reason, err) => this._onclose(reason, err)),
      ];
      this._fire("open");
    }
    _ondata(d) {
      let p;
      try { p = this.decoder.add(d); } catch (err) {
        warn("ignoring malformed packet:", err.message, typeof d === "string" ? d.slice(0, 64) : d);
      }
      if (p) this._fire("packet", p);
    }
    _packet(p) {
      const e = this.engine;
      if (e) for (const part of encode(p)) e.send(typeof part === "string" ? "4" + part : part);
    }
    socket(nsp, opts) {
      let s = this.nsps[nsp];
      if (!s) s = this.nsps[nsp] = new Socket(this, nsp, opts);
      else if (this.opts.autoConnect && !s.active) s.connect();
      return s;
    }
    _destroy() { // called when a socket disconnects; close the engine once no socket uses it
      for (const k in this.nsps) if (this.nsps[k].active) return;
      this._close();
    }
    _close() {
      this.skipReconnect = true;
      this._reconnecting = false;
      clearTimeout(this._retry);
      const e = this.engine, was = this._readyState;
      this._cleanup();
      this._readyState = "closed";
      if (e) e.close();
      if (was !== "closed") this._fire("close", "forced close");
    }
    close() { this._close(); return this; }
    disconnect() { return this.close(); }
    _onclose(reason, err) {
      this._cleanup();
      this._readyState = "closed";
      this._fire("close", reason, err);
      if (this.opts.reconnection && !this.skipReconnect) this._reconnect();
    }
    _reconnect() {
      if (this._reconnecting || this.skipReconnect) return;
      const o = this.opts;
      if (this.attempts >= o.reconnectionAttempts) {
        this.attempts = 0;
        this._fire("reconnect_failed");
        return;
      }
      const base = Math.min(o.reconnectionDelayMax, o.reconnectionDelay * Math.pow(2, this.attempts));
      const jitter = 1 + o.randomizationFactor * (Math.random() * 2 - 1);
      const delay = Math.max(0, Math.min(o.reconnectionDelayMax, Math.round(base * jitter)));
      this.attempts++;
      this._reconnecting = true;
      this._retry = setTimeout(() => {
        if (this.skipReconnect) return;
        this._fire("reconnect_attempt", this.attempts);
        if (this.skipReconnect) return;
        this.open((err) => {
          this._reconnecting = false;
          if (err) { this._reconnect(); this._fire("reconnect_error", err); return; }
          const n = this.attempts;
          this.attempts = 0;
          this._fire("reconnect", n);
        });
      }, delay);
    }
  }

  // ---- Socket: one namespace ----
  class Socket extends Emitter {
    constructor(io, nsp, opts) {
      super();
      this.io = io;
      this.nsp = nsp;
      this.connected = false;
      this.id = undefined;
      this.ids = 0;
      this.acks = {};
      this.receiveBuffer = [];
      this.sendBuffer = [];
      this.flags = {};
      this._any = [];
      this.auth = opts && opts.auth !== undefined ? opts.auth : io.opts.auth;
      this.subs = null;
      if (io.opts.autoConnect) this.connect();
    }
    get disconnected() { return !this.connected; }
    get active() { return !!this.subs; }
    get volatile() { this.flags.volatile = true; return this; }
    timeout(ms) { this.flags.timeout = ms; return this; }
    compress() { return this; }
    connect() {
      if (this.connected) return this;
      const fresh = !this.subs;
      if (fresh) {
        const io = this.io;
        this.subs = [
          sub(io, "open", () => this._onopen()),
          sub(io, "packet", (p) => { if (p.nsp === this.nsp) this._onpacket(p); }),
          sub(io, "error", (err) => { if (!this.connected) this._fire("connect_error", err); }),
          sub(io, "close", (reason, err) => this._onclose(reason, err)),
        ];
      }
      if (!this.io._reconnecting) this.io.open();
      if (fresh && this.io._readyState === "open") this._onopen();
      return this;
    }
    open() { return this.connect(); }
    _onopen() {
      const send = (data) => {
        if (this.subs && this.io._readyState === "open") this._packet({ type: 0, data });
      };
      if (typeof this.auth === "function") this.auth(send); else send(this.auth);
    }
    _packet(p) { p.nsp = this.nsp; this.io._packet(p); }
    _onpacket(p) {
      if (p.type === 0) {
        if (typeof p.data.sid === "string") this._onconnect(p.data.sid);
        else this._fire("connect_error", new Error("invalid CONNECT response (is this a Socket.IO v3+ server?)"));
      } else if (p.type === 2 || p.type === 5) {
        const args = p.data.slice();
        if (p.id != null) args.push(this._ack(p.id));
        if (this.connected) this._dispatch(args); else this.receiveBuffer.push(args);
      } else if (p.type === 3 || p.type === 6) {
        const fn = this.acks[p.id];
        if (typeof fn !== "function") return;
        delete this.acks[p.id];
        safe(fn, this, p.data);
      } else if (p.type === 1) {
        this._destroy();
        this._onclose("io server disconnect");
      } else if (p.type === 4) {
        this._destroy();
        const d = p.data, err = new Error(typeof d === "string" ? d : d.message);
        if (isObj(d)) err.data = d.data;
        this._fire("connect_error", err);
      }
    }
    _onconnect(id) {
      this.id = id;
      this.connected = true;
      for (const args of this.receiveBuffer.splice(0)) this._dispatch(args);
      for (const p of this.sendBuffer.splice(0)) this._packet(p);
      this._fire("connect");
    }
    _dispatch(args) {
      for (const f of this._any.slice()) safe(f, this, args);
      this._fire(...args);
    }
    _ack(id) {
      let sent = false;
      return (...args) => {
        if (sent) return;
        sent = true;
        this._packet({ type: 3, id, data: args });
      };
    }
    emit(ev, ...args) {
      if (RESERVED.has(ev)) throw new Error('"' + ev + '" is a reserved event name');
      const flags = this.flags;
      this.flags = {};
      const p = { type: 2, data: [ev].concat(args) };
      if (typeof args[args.length - 1] === "function") {
        const id = (p.id = this.ids++), fn = p.data.pop();
        const ms = flags.timeout !== undefined ? flags.timeout : this.io.opts.ackTimeout;
        if (ms === undefined) this.acks[id] = fn;
        else {
          const timer = setTimeout(() => {
            delete this.acks[id];
            const i = this.sendBuffer.indexOf(p);
            if (i >= 0) this.sendBuffer.splice(i, 1);
            safe(fn, this, [new Error("operation has timed out")]);
          }, ms);
          this.acks[id] = (...res) => { clearTimeout(timer); fn.call(this, null, ...res); };
        }
      }
      if (this.connected) this._packet(p);
      else if (!flags.volatile) this.sendBuffer.push(p);
      return this;
    }
    emitWithAck(ev, ...args) {
      const withErr = this.flags.timeout !== undefined || this.io.opts.ackTimeout !== undefined;
      return new Promise((resolve, reject) => {
        args.push(withErr ? (err, res) => (err ? reject(err) : resolve(res)) : resolve);
        this.emit(ev, ...args);
      });
    }
    send(...args) { return this.emit("message", ...args); }
    onAny(fn) { this._any.push(fn); return this; }
    prependAny(fn) { this._any.unshift(fn); return this; }
    offAny(fn) { this._any = fn ? this._any.filter((f) => f !== fn) : []; return this; }
    listenersAny() { return this._any.slice(); }
    _destroy() {
      if (this.subs) { this.subs.forEach((off) => off()); this.subs = null; }
      this.io._destroy(this);
    }
    disconnect() {
      if (this.connected) this._packet({ type: 1 });
      this._destroy();
      if (this.connected) this._onclose("io client disconnect");
      return this;
    }
    close() { return this.disconnect(); }
    _onclose(reason, err) {
      const was = this.connected;
      this.connected = false;
      this.id = undefined;
      if (was) this._fire("disconnect", reason, err);
    }
  }

  // ---- io() lookup with Manager cache (multiplexing) ----
  const loc = typeof location !== "undefined" ? location : null;
  function parseUri(uri) {
    if (uri == null || uri === "") uri = "/";
    uri = String(uri);
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && uri[0] !== "/") uri = (loc ? loc.protocol : "http:") + "//" + uri;
    const u = new URL(uri, loc ? loc.href : "http://localhost");
    if (u.protocol === "ws:" || u.protocol === "wss:") u.protocol = u.protocol === "wss:" ? "https:" : "http:";
    return u;
  }
  const originOf = (uri) => parseUri(uri).origin;
  const cache = {};

  function lookup(uri, opts) {
    if (uri && typeof uri === "object") { opts = uri; uri = undefined; }
    opts = Object.assign({}, opts);
    const u = parseUri(uri);
    if (u.search && !opts.query) opts.query = Object.fromEntries(u.searchParams);
    const nsp = u.pathname || "/";
    const key = u.origin + "|" + (opts.path || "/socket.io/");
    const cached = cache[key];
    const fresh = opts.forceNew || opts["force new connection"] || opts.multiplex === false || (cached && nsp in cached.nsps);
    const m = fresh ? new Manager(u.origin, opts) : cached || (cache[key] = new Manager(u.origin, opts));
    return m.socket(nsp, opts);
  }

  Object.assign(lookup, { connect: lookup, io: lookup, Manager, Socket, protocol: 5, managers: cache });
  global.io = lookup;
  if (typeof module === "object" && module && module.exports) module.exports = lookup;
})(typeof globalThis !== "undefined" ? globalThis : typeof self !== "undefined" ? self : this);
