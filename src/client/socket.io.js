// keystone-rs browser client for Socket.IO: our own implementation, not socket.io-client.
// Speaks Socket.IO protocol v5 over Engine.IO v4: WebSocket first, HTTP long-polling fallback,
// namespace multiplexing, acks, buffered emits, reconnection with backoff. No dependencies.
(function (global) {
  "use strict";
  const RESERVED = new Set(["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]);
  const warn = (...a) => console.warn("[socket.io]", ...a);
  const call = (fn, self, args) => {
    try { fn.apply(self, args); } catch (e) { console.error("[socket.io] listener error:", e); }
  };
  const sub = (o, ev, fn) => (o.on(ev, fn), () => o.off(ev, fn));
  const isObj = (o) => !!o && typeof o === "object" && !Array.isArray(o);

  class Emitter { // listener errors are logged, never thrown into the client
    on(ev, fn) { const l = this._l || (this._l = {}); (l[ev] = l[ev] || []).push(fn); return this; }
    once(ev, fn) { const w = (...a) => { this.off(ev, w); fn.apply(this, a); }; w.fn = fn; return this.on(ev, w); }
    off(ev, fn) {
      const l = this._l || {};
      if (ev === undefined) this._l = {};
      else if (!fn) delete l[ev];
      else if (l[ev]) { const i = l[ev].findIndex((f) => f === fn || f.fn === fn); if (i >= 0) l[ev].splice(i, 1); }
      return this;
    }
    listeners(ev) { return ((this._l || {})[ev] || []).slice(); }
    hasListeners(ev) { return this.listeners(ev).length > 0; }
    _fire(ev, ...args) { for (const f of this.listeners(ev)) call(f, this, args); return true; }
    emit(ev, ...args) { return this._fire(ev, ...args); }
  }
  const EP = Emitter.prototype;
  EP.addEventListener = EP.on;
  EP.removeListener = EP.removeEventListener = EP.removeAllListeners = EP.off;

  // ---- binary helpers (attachments arrive as ArrayBuffer) ----
  const isBin = (o) => o instanceof ArrayBuffer || ArrayBuffer.isView(o);
  const hasBin = (o) => isBin(o) || (!!o && typeof o === "object" && Object.keys(o).some((k) => hasBin(o[k])));
  const toB64 = (b) => {
    let s = "";
    for (const c of new Uint8Array(b.buffer || b, b.byteOffset, b.byteLength)) s += String.fromCharCode(c);
    return btoa(s);
  };
  const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
  function walk(o, fn) { // deep copy of o where fn may replace any value
    const r = fn(o);
    if (r !== undefined) return r;
    if (Array.isArray(o)) return o.map((v) => walk(v, fn));
    if (!o || typeof o !== "object" || o.toJSON) return o;
    const c = {};
    for (const k of Object.keys(o)) c[k] = walk(o[k], fn);
    return c;
  }

  // ---- Socket.IO packets: 0 CONNECT 1 DISCONNECT 2 EVENT 3 ACK 4 CONNECT_ERROR 5 BINARY_EVENT 6 BINARY_ACK ----
  function encode(p) { // -> [text, ...attachments]
    let type = p.type, data = p.data;
    const bufs = [];
    if ((type === 2 || type === 3) && hasBin(data)) {
      type += 3;
      data = walk(data, (v) => (isBin(v) ? { _placeholder: true, num: bufs.push(v) - 1 } : undefined));
    }
    let s = String(type) + (bufs.length ? bufs.length + "-" : "") + (p.nsp !== "/" ? p.nsp + "," : "");
    if (p.id !== undefined) s += p.id;
    if (data !== undefined) s += JSON.stringify(data);
    return [s].concat(bufs);
  }

  function parse(s) { // throws on anything malformed
    const m = /^([0-6])(?:(\d+)-)?(?:(\/[^,]*),?)?(\d+)?([\s\S]*)$/.exec(s);
    if (!m) throw new Error("bad packet header");
    const t = +m[1], d = m[5] ? JSON.parse(m[5]) : undefined;
    const p = { type: t, nsp: m[3] || "/", data: d, n: m[2] && +m[2], id: m[4] && +m[4] };
    const ok = (!m[2] || t > 4) && (!m[4] || t === 2 || t === 3 || t > 4) &&
      (t === 0 ? isObj(d) : t === 1 ? d === undefined : t === 4 ? isObj(d) || typeof d === "string"
        : t === 3 || t === 6 ? Array.isArray(d)
          : Array.isArray(d) && (typeof d[0] === "number" || (typeof d[0] === "string" && !RESERVED.has(d[0]))));
    if (!ok) throw new Error("invalid payload for packet type " + t);
    return p;
  }

  class Decoder { // engine messages in, complete packets out (null while awaiting attachments)
    add(d) {
      const p = this.pending;
      this.pending = null;
      if (typeof d === "string") {
        if (p) warn("dropping binary packet with missing attachments");
        const q = parse(d);
        if (!q.n) return q;
        q.bufs = [];
        this.pending = q;
        return null;
      }
      if (!p) throw new Error("unexpected binary attachment");
      p.bufs.push(d);
      if (p.bufs.length < p.n) { this.pending = p; return null; }
      p.data = walk(p.data, (v) => {
        if (!isObj(v) || v._placeholder !== true) return undefined;
        if (!(v.num in p.bufs)) throw new Error("bad attachment index");
        return p.bufs[v.num];
      });
      return p;
    }
  }

  // ---- Engine.IO v4 transports: start(), send(packets), close(finalPackets) ----
  class WS {
    constructor(e) { this.e = e; this.name = "websocket"; this.writable = true; }
    start() {
      const ws = (this.ws = new WebSocket(this.e._url("websocket")));
      ws.binaryType = "arraybuffer";
      ws.onmessage = (m) => this.e._onPacket(m.data, this);
      ws.onerror = () => this.e._onError(new Error("websocket error"), this);
      ws.onclose = (ev) => this.e._onError(new Error("websocket closed (" + ev.code + ")"), this, "transport close");
    }
    send(packets) { for (const p of packets) this.ws.send(p); }
    close(final) {
      const ws = this.ws;
      if (!ws) return;
      ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        if (final && ws.readyState === 1) this.send(final);
        ws.close();
      } catch (e) { /* already closed */ }
    }
  }

  class Polling { // long GET loop for receiving; serialized POSTs for sending
    constructor(e) { this.e = e; this.name = "polling"; this.writable = true; this.chain = Promise.resolve(); }
    start() { this._poll(); }
    _req(init) {
      init = Object.assign({ cache: "no-store", credentials: this.e.opts.withCredentials ? "include" : "same-origin" }, init);
      return fetch(this.e._url("polling"), init)
        .catch((e) => { throw new Error("polling error: " + e.message); })
        .then((r) => r.text().then((text) => {
          if (r.ok) return text;
          let msg = text;
          try { msg = JSON.parse(text).message || text; } catch (e) { /* not JSON */ }
          // Behind a load balancer that spreads requests, a poll can reach a node that never
          // saw this connection: long-polling needs sticky sessions there (WebSocket does not).
          if (r.status === 400 && /session id unknown/i.test(msg)) {
            msg += " (this server does not know the connection: behind a load balancer, long-polling needs sticky sessions; WebSocket does not)";
          }
          throw Object.assign(new Error("polling error: HTTP " + r.status + " " + msg), { status: r.status });
        }));
    }
    _poll() {
      if (this.closed) return;
      this.ctl = new AbortController();
      this._req({ signal: this.ctl.signal }).then((text) => {
        for (const p of text.split("\x1e")) {
          if (this.closed) return;
          if (p) this.e._onPacket(p[0] === "b" ? fromB64(p.slice(1)) : p, this);
        }
        this._poll();
      }, (err) => this.closed || this.e._onError(err, this));
    }
    send(packets) {
      this.writable = false;
      const body = packets.map((p) => (typeof p === "string" ? p : "b" + toB64(p))).join("\x1e");
      const headers = { "Content-Type": "text/plain;charset=UTF-8" };
      return (this.chain = this.chain
        .then(() => this._req({ method: "POST", body, headers }))
        .then(() => { this.writable = true; this.closed || this.e._flush(); },
          (err) => this.closed || this.e._onError(err, this)));
    }
    close(final) {
      this.closed = true;
      const abort = () => this.ctl && this.ctl.abort();
      if (final) this.send(final).then(abort); else abort();
    }
  }

  const utf8 = new TextEncoder();
  let seq = 0;

  // Engine.IO connection. Events: open, data(string | ArrayBuffer), ping, close(reason, err), error(err)
  class Engine extends Emitter {
    constructor(origin, opts, transports) {
      super();
      Object.assign(this, { origin, opts, queue: transports.slice(), readyState: "opening", wbuf: [], maxPayload: 1e6 });
      // A closing page tells a long-polling server at once (a websocket closes by itself);
      // otherwise the server only notices at the ping timeout.
      this.onHide = () => {
        if (this.readyState !== "open" || !this.transport || this.transport.name !== "polling") return;
        try {
          fetch(this._url("polling"), {
            method: "POST", body: "1", keepalive: true,
            credentials: this.opts.withCredentials ? "include" : "same-origin",
            headers: { "Content-Type": "text/plain;charset=UTF-8" },
          });
        } catch (e) { /* the page is going away anyway */ }
      };
      if (typeof global.addEventListener === "function") global.addEventListener("pagehide", this.onHide);
    }
    open() { this._next(new Error("no usable transport")); }
    _url(name) {
      const u = new URL(this.opts.path, this.origin);
      if (name === "websocket") u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      const q = new URLSearchParams(this.opts.query || {});
      q.set("EIO", "4");
      q.set("transport", name);
      if (this.sid) q.set("sid", this.sid);
      if (name === "polling") q.set("t", Date.now().toString(36) + "." + seq++);
      u.search = q;
      return u.href;
    }
    _next(err) { // try the next transport in the list
      clearTimeout(this.tTimer);
      const name = this.queue.shift();
      if (!name) return this._finish(null, err);
      const T = name === "websocket" && global.WebSocket ? WS : name === "polling" && global.fetch ? Polling : null;
      if (!T) return this._next(err);
      const t = (this.transport = new T(this));
      // a websocket that neither opens nor fails (e.g. a proxy swallowing the upgrade) must not stall us
      if (this.queue.length && this.opts.timeout > 0) {
        this.tTimer = setTimeout(() => this._onError(new Error(name + " timeout"), t), Math.min(this.opts.timeout / 2, 3000));
      }
      try { t.start(); } catch (e) { this._onError(e, t); }
    }
    _onError(err, t, reason) {
      if (t !== this.transport || this.readyState === "closed") return;
      if (this.readyState === "opening") { t.close(); this._next(err); } else this._finish(reason || "transport error", err);
    }
    _onPacket(d, t) {
      if (t !== this.transport || this.readyState === "closed") return;
      if (typeof d !== "string") return this.readyState === "open" && this._fire("data", d);
      const type = d[0];
      if (this.readyState === "opening") { // expect the open packet: 0{"sid",...}
        if (type !== "0") return;
        let hs = null;
        try { hs = JSON.parse(d.slice(1)); } catch (e) { /* handled below */ }
        if (!hs || typeof hs.sid !== "string") return this._onError(new Error("invalid handshake"), t);
        clearTimeout(this.tTimer);
        this.sid = hs.sid;
        this.pingInterval = hs.pingInterval || 25000;
        this.pingTimeout = hs.pingTimeout || 20000;
        this.maxPayload = hs.maxPayload || this.maxPayload;
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
      const t = this.transport, buf = this.wbuf;
      if (this.readyState !== "open" || !t.writable || !buf.length) return;
      let n = buf.length;
      if (t.name === "polling") { // keep each POST under the server's maxPayload
        for (let i = 0, size = 0; i < buf.length; i++) {
          size += (typeof buf[i] === "string" ? utf8.encode(buf[i]).length : buf[i].byteLength * 1.34) + 1;
          if (i && size > this.maxPayload) { n = i; break; }
        }
      }
      t.send(buf.splice(0, n));
    }
    close() { this._finish("forced close", undefined, this.readyState === "open" ? this.wbuf.concat("1") : null); }
    _finish(reason, err, final) { // reason null: the connection never opened
      if (this.readyState === "closed") return;
      this.readyState = "closed";
      if (typeof global.removeEventListener === "function") global.removeEventListener("pagehide", this.onHide);
      clearTimeout(this.pingTimer);
      clearTimeout(this.tTimer);
      if (this.transport) this.transport.close(final);
      this.wbuf = [];
      if (reason === null) this._fire("error", err); else this._fire("close", reason, err);
    }
  }

  // ---- Manager: one Engine.IO connection shared by the namespace sockets, plus reconnection ----
  class Manager extends Emitter {
    constructor(uri, opts) {
      super();
      if (uri && typeof uri === "object") { opts = uri; uri = undefined; }
      const o = (this.opts = {
        path: "/socket.io/", transports: ["websocket", "polling"], reconnection: true,
        reconnectionAttempts: Infinity, reconnectionDelay: 1000, reconnectionDelayMax: 5000,
        randomizationFactor: 0.5, timeout: 20000, autoConnect: true, withCredentials: true,
      });
      for (const k in opts) if (opts[k] !== undefined) o[k] = opts[k]; // explicit undefined keeps the default
      opts = o;
      opts.path = opts.path.replace(/\/$/, "") + "/";
      Object.assign(this, { uri: parseUri(uri).origin, transports: opts.transports.slice(), nsps: {}, attempts: 0,
        _readyState: "closed", engine: null, subs: [] });
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
        if (fn) fn(err); else if (!this._reconnecting && this.opts.reconnection && !this.attempts) this._reconnect();
      };
      this.subs = [sub(e, "open", () => { this._onopen(); if (fn) fn(); }), sub(e, "error", fail)];
      if (this.opts.timeout > 0) {
        const timer = setTimeout(() => { e.close(); fail(new Error("timeout")); }, this.opts.timeout);
        this.subs.push(() => clearTimeout(timer));
      }
      e.open();
      return this;
    }
    connect(fn) { return this.open(fn); }
    _cleanup() { this.subs.forEach((off) => off()); this.subs = []; }
    _onopen() {
      const e = this.engine, name = e.transport.name;
      this._cleanup();
      this._readyState = "open";
      // prefer the transport that worked, so reconnects don't retry a failing websocket first
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
        return warn("ignoring malformed packet:", err.message, typeof d === "string" ? d.slice(0, 64) : d);
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
    _destroy() { // a socket went away; close the connection once no socket uses it
      for (const k in this.nsps) if (this.nsps[k].active) return;
      this._close();
    }
    _close() {
      const e = this.engine, was = this._readyState;
      this.skipReconnect = true;
      this._reconnecting = false;
      clearTimeout(this._retry);
      this._cleanup();
      this._readyState = "closed";
      if (e) e.close();
      if (was !== "closed") this._fire("close", "forced close");
    }
    close() { this._close(); return this; }
    disconnect() { return this.close(); }
    // The session was renewed (sign-in): a new handshake, so the browser sends its new cookie.
    // Every namespace of the old connection comes back over the new one.
    _renew(engine) {
      if (this.engine !== engine || this._readyState === "closed") return;
      this._cleanup();
      this._readyState = "closed";
      engine.close();
      this._fire("close", "session renewed");
      this.open();
    }
    _onclose(reason, err) {
      this._cleanup();
      this._readyState = "closed";
      this._fire("close", reason, err);
      if (this.opts.reconnection && !this.skipReconnect) this._reconnect();
    }
    _reconnect() {
      const o = this.opts;
      if (this._reconnecting || this.skipReconnect) return;
      if (this.attempts >= o.reconnectionAttempts) {
        this.attempts = 0;
        return this._fire("reconnect_failed");
      }
      // exponential backoff with jitter: base * 2^attempt, +/- randomizationFactor, capped
      const base = Math.min(o.reconnectionDelayMax, o.reconnectionDelay * Math.pow(2, this.attempts++));
      const delay = Math.min(o.reconnectionDelayMax, base * (1 + o.randomizationFactor * (Math.random() * 2 - 1)));
      this._reconnecting = true;
      this._retry = setTimeout(() => {
        if (this.skipReconnect) return;
        this._fire("reconnect_attempt", this.attempts);
        if (this.skipReconnect) return;
        this.open((err) => {
          this._reconnecting = false;
          if (err) { this._fire("reconnect_error", err); return this._reconnect(); }
          const n = this.attempts;
          this.attempts = 0;
          this._fire("reconnect", n);
        });
      }, Math.max(0, delay));
    }
  }

  // ---- Socket: one namespace over a Manager ----
  class Socket extends Emitter {
    constructor(io, nsp, opts) {
      super();
      Object.assign(this, { io, nsp, connected: false, id: undefined, ids: 0, acks: {}, receiveBuffer: [],
        sendBuffer: [], flags: {}, subs: null, _any: [] });
      this.auth = opts && opts.auth !== undefined ? opts.auth : io.opts.auth;
      if (io.opts.autoConnect) this.connect();
    }
    get disconnected() { return !this.connected; }
    get active() { return !!this.subs; }
    get volatile() { this.flags.volatile = true; return this; }
    timeout(ms) { this.flags.timeout = ms; return this; }
    compress() { return this; }
    connect() {
      if (this.connected) return this;
      const io = this.io, fresh = !this.subs;
      if (fresh) {
        this.subs = [
          sub(io, "open", () => this._onopen()),
          sub(io, "packet", (p) => p.nsp === this.nsp && this._onpacket(p)),
          sub(io, "error", (err) => this.connected || this._fire("connect_error", err)),
          sub(io, "close", (reason, err) => this._onclose(reason, err)),
        ];
      }
      if (!io._reconnecting) io.open();
      if (fresh && io._readyState === "open") this._onopen();
      return this;
    }
    open() { return this.connect(); }
    _onopen() { // send CONNECT with the auth payload
      const send = (data) => this.subs && this.io._readyState === "open" && this._packet({ type: 0, data });
      if (typeof this.auth === "function") this.auth(send); else send(this.auth);
    }
    _packet(p) { p.nsp = this.nsp; this.io._packet(p); }
    _onpacket(p) {
      const d = p.data;
      if (p.type === 0) {
        if (typeof d.sid === "string") this._onconnect(d.sid);
        else this._fire("connect_error", new Error("invalid CONNECT response (not a Socket.IO v5 server?)"));
      } else if (p.type === 2 || p.type === 5) {
        const args = d.slice();
        if (args[0] === "session:renew") this._renewing = this.io.engine;
        if (p.id !== undefined) args.push(this._ack(p.id));
        if (this.connected) this._dispatch(args); else this.receiveBuffer.push(args);
      } else if (p.type === 3 || p.type === 6) {
        const fn = this.acks[p.id];
        delete this.acks[p.id];
        if (typeof fn === "function") call(fn, this, d);
      } else if (p.type === 1) {
        const renewed = this._renewing;
        this._renewing = null;
        this._destroy();
        this._onclose("io server disconnect");
        // session:renew then a disconnect: reconnect at once, with the new cookie
        if (renewed) { this.io._renew(renewed); this.connect(); }
      } else if (p.type === 4) {
        this._destroy();
        this._fire("connect_error", Object.assign(new Error(typeof d === "string" ? d : d.message), isObj(d) ? { data: d.data } : {}));
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
      for (const f of this._any.slice()) call(f, this, args);
      this._fire(...args);
    }
    _ack(id) { // callback handed to listeners for server-requested acks
      let sent = false;
      return (...data) => { if (!sent) { sent = true; this._packet({ type: 3, id, data }); } };
    }
    emit(ev, ...args) {
      if (RESERVED.has(ev)) throw new Error('"' + ev + '" is a reserved event name');
      const flags = this.flags, p = { type: 2, data: [ev].concat(args) };
      this.flags = {};
      if (typeof args[args.length - 1] === "function") {
        const id = (p.id = this.ids++), fn = p.data.pop();
        const ms = flags.timeout !== undefined ? flags.timeout : this.io.opts.ackTimeout;
        if (ms === undefined) this.acks[id] = fn;
        else {
          const timer = setTimeout(() => {
            delete this.acks[id];
            const i = this.sendBuffer.indexOf(p);
            if (i >= 0) this.sendBuffer.splice(i, 1);
            call(fn, this, [new Error("operation has timed out")]);
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
      if (this.subs) this.subs.forEach((off) => off());
      this.subs = null;
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

  // ---- io(): URL parsing and Manager cache (namespaces of one origin share a connection) ----
  const loc = global.location;
  function parseUri(uri) {
    uri = uri == null || uri === "" ? "/" : String(uri);
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && uri[0] !== "/") uri = (loc ? loc.protocol : "http:") + "//" + uri;
    const u = new URL(uri, loc ? loc.href : "http://localhost");
    if (/^wss?:$/.test(u.protocol)) u.protocol = u.protocol === "wss:" ? "https:" : "http:";
    return u;
  }
  const cache = {};
  function lookup(uri, opts) {
    if (uri && typeof uri === "object") { opts = uri; uri = undefined; }
    opts = Object.assign({}, opts);
    const u = parseUri(uri), nsp = u.pathname || "/";
    if (u.search && !opts.query) opts.query = Object.fromEntries(u.searchParams);
    const key = u.origin + (opts.path || ""), cached = cache[key];
    const fresh = opts.forceNew || opts.multiplex === false || (cached && nsp in cached.nsps);
    const m = fresh ? new Manager(u.origin, opts) : cached || (cache[key] = new Manager(u.origin, opts));
    return m.socket(nsp, opts);
  }

  Object.assign(lookup, { connect: lookup, io: lookup, Manager, Socket, protocol: 5, managers: cache });
  global.io = lookup;
})(typeof globalThis !== "undefined" ? globalThis : self);
