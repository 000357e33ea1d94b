/* keystone-rs's Socket.IO v5 browser client (Engine.IO v4), kept small: it is on every page.
 * What it does and the options it takes: README, "The browser client". */
(G => {
"use strict"
const RESERVED = /^(connect|connect_error|disconnect|disconnecting|newListener|removeListener)$/
const E = m => new Error(m), T = setTimeout, C = clearTimeout
const call = (f, self, a) => { try { f.apply(self, a) } catch (e) { console.error("[socket.io] listener error:", e) } }
const fail = () => { throw E("bad attachment") }
const isObj = o => !!o && typeof o == "object" && !Array.isArray(o)
const isBin = o => o instanceof ArrayBuffer || ArrayBuffer.isView(o)
const walk = (o, f, r = f(o)) => // a copy; f may replace any value
	r !== undefined ? r : Array.isArray(o) ? o.map(v => walk(v, f))
		: isObj(o) && !o.toJSON ? Object.fromEntries(Object.keys(o).map(k => [k, walk(o[k], f)])) : o
let seq = 0

class Emitter {
	on(ev, f) { ((this._l ||= {})[ev] ||= []).push(f); return this }
	once(ev, f) { const w = (...a) => (this.off(ev, w), f.apply(this, a)); return this.on(ev, w) }
	off(ev, f) {
		const l = this._l ||= {}
		if (ev === undefined) this._l = {}; else l[ev] = f ? (l[ev] || []).filter(g => g != f) : []
		return this
	}
	_fire(ev, ...a) { for (const f of [...this._l?.[ev] || []]) call(f, this, a) }
	emit(ev, ...a) { this._fire(ev, ...a); return true }
}
const EP = Emitter.prototype

// Packets: 0 CONNECT 1 DISCONNECT 2 EVENT 3 ACK 4 CONNECT_ERROR 5 BINARY_EVENT 6 BINARY_ACK
const encode = ({ type, nsp, id, data }, bufs = []) => { // [text, ...attachments]
	if (type > 1) data = walk(data, v => isBin(v) ? { _placeholder: true, num: bufs.push(v) - 1 } : undefined)
	return [(bufs.length ? type + 3 + "" + bufs.length + "-" : type) + (nsp != "/" ? nsp + "," : "") + (id ?? "") +
		(data === undefined ? "" : JSON.stringify(data)), ...bufs]
}
const parse = s => { // throws if malformed
	const m = /^([0-6])(?:(\d+)-)?(?:(\/[^,]*),?)?(\d+)?([\s\S]*)$/.exec(s), d = m?.[5] ? JSON.parse(m[5]) : undefined
	if (!m || m[1] % 3 == 2 && !(Array.isArray(d) && !RESERVED.test(d[0]))) throw E("bad packet")
	return { type: +m[1], nsp: m[3] || "/", data: d, n: +m[2], id: m[4] && +m[4] }
}

// Transports: { name, writable, send(packets), close(last packets) }
function WS(url, packet, error) {
	const ws = new WebSocket(url("websocket")), t = {
		name: "websocket", writable: true,
		send: packets => packets.forEach(p => ws.send(p)),
		close(final) {
			ws.onmessage = ws.onclose = null
			if (final && ws.readyState == 1) t.send(final)
			ws.close()
		},
	}
	ws.binaryType = "arraybuffer"
	ws.onmessage = m => packet(m.data, t)
	ws.onclose = c => error(E("websocket closed (" + c.code + ")"), t, "transport close")
	return t
}

// a GET loop, one POST at a time; binary as "b" + base64
function Polling(url, packet, error, flush) {
	let ctl, chain = Promise.resolve()
	const req = init => fetch(url("polling"), { credentials: "include", ...init }).then(r => r.text().then(text => {
		if (r.ok) return text
		throw E(`polling: HTTP ${r.status} ${text}` + (r.status == 400 ? " (long-polling needs sticky sessions)" : ""))
	}))
	const failed = err => t.closed || error(err, t)
	const t = {
		name: "polling", writable: true,
		send(packets) {
			const body = packets.map(p => typeof p == "string" ? p : "b" +
				btoa(new Uint8Array(p.buffer || p, p.byteOffset, p.byteLength).reduce((s, c) => s + String.fromCharCode(c), "")))
			t.writable = false
			return chain = chain.then(() => req({ method: "POST", body: body.join("\x1e") }))
				.then(() => { t.writable = true; t.closed || flush() }, failed)
		},
		close(final) {
			t.closed = true
			if (final) t.send(final).then(() => ctl.abort()); else ctl.abort()
		},
	}
	const poll = () => t.closed || req({ signal: (ctl = new AbortController()).signal }).then(text => {
		for (const p of text.split("\x1e")) {
			if (p && !t.closed) packet(p[0] == "b" ? Uint8Array.from(atob(p.slice(1)), c => c.charCodeAt(0)).buffer : p, t)
		}
		poll()
	}, failed)
	poll()
	return t
}

// Manager: the connection and its namespaces
function Manager(uri, opts) {
	const o = { path: "/socket.io/", transports: ["websocket", "polling"], reconnection: true, reconnectionAttempts: Infinity,
		reconnectionDelay: 1000, reconnectionDelayMax: 5000, randomizationFactor: 0.5, timeout: 20000, autoConnect: true }
	for (const k in opts) if (opts[k] !== undefined) o[k] = opts[k]
	const nsps = {}, m = { __proto__: EP, opts: o, nsps, state: "closed", open, connect: open, close, disconnect: close, socket }
	let order = o.transports, attempts = 0, queue, sid, buf, pending, pingWait, skip, tryTimer, pingTimer, retryTimer
	m.engine = m // as in socket.io-client

	const url = name => new URL(o.path.replace(/\/?$/, "/?") + new URLSearchParams({ ...o.query, EIO: 4, transport: name,
		...sid && { sid }, t: seq++ }), uri).href.replace(/^http/, name == "polling" ? "http" : "ws")
	const each = f => Object.values(nsps).forEach(s => s.active && f(s))
	const send = p => m.state == "open" && (buf.push(p), flush())
	const out = p => encode(p).forEach(part => send(typeof part == "string" ? "4" + part : part))
	const pinged = () => { C(pingTimer); pingTimer = T(() => end("ping timeout"), pingWait) }
	G.addEventListener("pagehide", () => m.state == "open" && m.transport.name == "polling" &&
		fetch(url("polling"), { method: "POST", body: "1", keepalive: true }).catch(() => {}))

	function open() {
		if (m.state == "closed") {
			m.state = "opening"
			skip = pending = sid = false
			buf = []
			queue = [...order]
			next(E("no usable transport"))
		}
		return m
	}
	function next(err) { // the next transport
		const name = queue.shift(), ms = o.timeout
		C(tryTimer)
		if (!name) return end(null, err)
		try {
			const t = m.transport = { websocket: G.WebSocket && WS, polling: G.fetch && Polling }[name](url, onPacket, onError, flush)
			if (ms > 0) tryTimer = T(() => onError(E(name + " timeout"), t), queue.length ? Math.min(ms / 2, 3000) : ms)
		} catch (x) { next(x) }
	}
	function onError(err, t, reason) {
		if (t != m.transport || m.state == "closed") return
		if (m.state == "opening") { t.close(); next(err) } else end(reason, err)
	}
	function onPacket(d, t) {
		const type = d[0]
		let hs
		if (t != m.transport || m.state == "closed") return
		if (m.state == "opening") { // 0{"sid",...}
			if (type != "0") return
			try { hs = JSON.parse(d.slice(1)) } catch (x) { /* checked below */ }
			if (typeof hs?.sid != "string") return onError(E("invalid handshake"), t)
			C(tryTimer)
			m.state = "open"
			sid = hs.sid
			pingWait = (hs.pingInterval || 25000) + (hs.pingTimeout || 20000)
			order = [t.name, ...o.transports.filter(n => n != t.name)]
			pinged()
			m._fire("open")
			each(s => s._onopen())
			if (attempts) m._fire("reconnect", attempts)
			attempts = 0
			flush()
		} else if (typeof d != "string") ondata(d)
		else if (type == "2") { pinged(); send("3") }
		else if (type == "4") ondata(d.slice(1))
		else if (type == "1") end("transport close")
	}
	function ondata(d) { // a packet once its attachments are in
		let p = pending
		pending = null
		try {
			if (typeof d == "string") {
				p = parse(d)
				if (p.n) return void (p.bufs = [], pending = p)
			} else {
				if (p.bufs.push(d) < p.n) return void (pending = p)
				p.data = walk(p.data, v => isObj(v) && v._placeholder ? isBin(p.bufs[v.num]) ? p.bufs[v.num] : fail() : undefined)
			}
		} catch (err) {
			return console.warn("[socket.io] ignoring malformed packet:", err.message, d)
		}
		if (nsps[p.nsp]?.active) nsps[p.nsp]._onpacket(p)
	}
	function flush() {
		const t = m.transport
		if (m.state == "open" && t.writable && buf.length) t.send(buf.splice(0))
	}
	function end(reason, err, bye) { // no reason: it never opened
		const n = attempts, max = o.reconnectionDelayMax
		if (m.state == "closed") return
		m.transport.close(bye && m.state == "open" && [...buf, "1"])
		C(pingTimer)
		C(tryTimer)
		m.state = "closed"
		if (reason) {
			m._fire("close", reason, err)
			each(s => s._onclose(reason, err))
		} else {
			m._fire("error", err)
			each(s => s.connected || s._fire("connect_error", err))
		}
		if (!o.reconnection || skip || retryTimer) return
		if (n >= o.reconnectionAttempts) return attempts = 0, m._fire("reconnect_failed")
		attempts++
		retryTimer = T(() => {
			retryTimer = 0
			if (!skip) open()
		}, Math.min(max, Math.min(max, o.reconnectionDelay * 2 ** n) * (1 + o.randomizationFactor * (Math.random() * 2 - 1))))
	}
	function close() {
		skip = true
		retryTimer = C(retryTimer)
		end("forced close", null, true)
		return m
	}

	function socket(nsp, so) {
		const s = nsps[nsp] ||= Socket(nsp, so?.auth ?? o.auth)
		if (o.autoConnect) s.connect()
		return s
	}
	function Socket(nsp, auth) {
		let ids = 0, flags = {}, buffer = [], any = [], renewing
		const acks = {}, packet = p => out({ ...p, nsp })
		const destroy = () => {
			s.active = false
			if (!Object.values(nsps).some(x => x.active)) close()
		}
		const s = {
			__proto__: EP, io: m, nsp, connected: false, active: false,
			timeout(ms) { flags.timeout = ms; return s },
			connect() {
				const fresh = !s.active
				if (!s.connected) {
					s.active = true
					if (!retryTimer) open()
					if (fresh && m.state == "open") s._onopen()
				}
				return s
			},
			_onopen() { packet({ type: 0, data: auth }) },
			_onpacket({ type, data: d, id }) {
				let acked
				if (type == 0) {
					Object.assign(s, { id: d.sid, connected: true })
					buffer.splice(0).forEach(packet)
					s._fire("connect")
				} else if (type % 3 == 2) { // an event; its ack goes back once
					if (d[0] == "session:renew") renewing = m.transport
					if (id !== undefined) d.push((...data) => acked || packet({ type: 3, id, data: (acked = data) }))
					for (const f of [...any]) call(f, s, d)
					s._fire(...d)
				} else if (type % 3 == 0) {
					const f = acks[id]
					delete acks[id]
					if (f) call(f, s, d)
				} else {
					const renewed = renewing
					renewing = null
					destroy()
					if (type == 4) return s._fire("connect_error", Object.assign(E(d?.message ?? d), { data: d?.data }))
					s._onclose("io server disconnect")
					if (renewed == m.transport && m.state != "closed") { // a new handshake sends the new cookie
						skip = true
						end("session renewed", null, true)
					}
					if (renewed) s.connect()
				}
			},
			_onclose(reason, err) {
				if (s.connected) Object.assign(s, { connected: false, id: undefined })._fire("disconnect", reason, err)
			},
			emit(ev, ...args) {
				const f = flags, fn = args.at(-1), ms = f.timeout ?? o.ackTimeout, p = { type: 2, data: [ev, ...args] }
				flags = {}
				if (typeof fn == "function") {
					const id = p.id = ids++, timer = ms != null && T(() => {
						delete acks[id]
						buffer = buffer.filter(q => q != p)
						call(fn, s, [E("operation has timed out")])
					}, ms)
					p.data.pop()
					acks[id] = timer ? (...res) => { C(timer); fn.call(s, null, ...res) } : fn
				}
				if (s.connected) packet(p); else buffer.push(p)
				return s
			},
			emitWithAck(ev, ...args) {
				const withErr = (flags.timeout ?? o.ackTimeout) != null
				return new Promise((ok, no) => s.emit(ev, ...args, withErr ? (err, res) => err ? no(err) : ok(res) : ok))
			},
			onAny(f) { any.push(f); return s },
			disconnect() {
				if (s.connected) packet({ type: 1 })
				destroy()
				s._onclose("io client disconnect")
				return s
			},
		}
		return s
	}

	if (o.autoConnect) open()
	return m
}

// the namespaces of an origin share a Manager
const cache = {}
G.io = (uri, opts) => {
	if (isObj(uri)) [opts, uri] = [uri]
	const u = new URL(uri || "/", location), nsp = u.pathname, key = u.origin + (opts?.path || ""), cached = cache[key]
	opts = { query: u.search ? Object.fromEntries(u.searchParams) : undefined, ...opts }
	return (opts.forceNew || nsp in (cached?.nsps || {}) ? Manager(u.origin, opts) : cached || (cache[key] = Manager(u.origin, opts))).socket(nsp, opts)
}
})(self)
