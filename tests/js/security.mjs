// Security stories against a running `keystone-rs serve` of tests/fixtures/valid/secure_app,
// told with the official socket.io-client: session push, regeneration, logout, origins, abuse.
//
//   node security.mjs <scenario> <baseUrl> [websocket|polling]
//
// Success: one JSON line of observations, exit 0. Failure: a message on stderr, exit 1.
import { io } from "socket.io-client";

const [scenario, baseUrl, transport = "websocket"] = process.argv.slice(2);
const WAIT = 5000;
const sockets = [];
setTimeout(() => fail(`scenario ${scenario} hung`), 60000).unref();

function fail(message) {
  console.error(`security.mjs ${scenario}: ${message}`);
  process.exit(1);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function http(method, path, { cookie, json, headers = {} } = {}) {
  const h = { ...headers };
  if (cookie) h.cookie = cookie;
  let body;
  if (json !== undefined) {
    h["content-type"] = "application/json";
    body = JSON.stringify(json);
  }
  const response = await fetch(baseUrl + path, { method, headers: h, body, redirect: "manual" });
  const setCookie = response.headers.getSetCookie().map((c) => c.split(";")[0]);
  const text = await response.text();
  return { status: response.status, setCookie, cookie: setCookie.find((c) => c.startsWith("keystone.sid=") && c !== "keystone.sid="), text };
}

async function visit() {
  const res = await http("GET", "/");
  if (!res.cookie) fail("GET / set no session cookie");
  return res.cookie;
}

/** Connects and records every event; resolves once connected (or rejects on connect_error). */
function connect({ cookie, headers = {} } = {}) {
  const socket = io(baseUrl, {
    transports: [transport],
    extraHeaders: { ...(cookie ? { cookie } : {}), ...headers },
    reconnection: false,
    forceNew: true,
    timeout: WAIT,
  });
  sockets.push(socket);
  socket.seen = [];
  socket.onAny((event, ...args) => socket.seen.push({ event, args }));
  socket.on("disconnect", (reason) => socket.seen.push({ event: "disconnect", args: [reason] }));
  return new Promise((resolve, reject) => {
    socket.on("connect", () => resolve(socket));
    socket.on("connect_error", (err) => reject(err));
  });
}

async function waitFor(socket, event, ms = WAIT) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    const found = socket.seen.find((e) => e.event === event);
    if (found) return found.args;
    await sleep(10);
  }
  fail(`socket never got ${event}; saw ${JSON.stringify(socket.seen)}`);
}

const got = (socket, event) => socket.seen.filter((e) => e.event === event).map((e) => e.args[0]);
const ack = (socket, event, data) => socket.timeout(WAIT).emitWithAck(event, data);

const scenarios = {
  async "session-push"() {
    const a = await visit();
    const b = await visit();
    const [a1, a2, b1] = await Promise.all([connect({ cookie: a }), connect({ cookie: a }), connect({ cookie: b })]);
    await Promise.all([waitFor(a1, "msg"), waitFor(a2, "msg"), waitFor(b1, "msg")]);
    const res = await http("POST", "/notify", { cookie: a, json: { text: "for A" } });
    if (res.status !== 200) fail(`POST /notify: ${res.status} ${res.text}`);
    await waitFor(a1, "notice");
    await waitFor(a2, "notice");
    await sleep(300);
    return { a1: got(a1, "notice"), a2: got(a2, "notice"), b1: got(b1, "notice") };
  },

  async regenerate() {
    // The victim's tab and an attacker's socket both hold the pre-login cookie.
    const old = await visit();
    const victim = await connect({ cookie: old });
    const attacker = await connect({ cookie: old });
    await Promise.all([waitFor(victim, "msg"), waitFor(attacker, "msg")]);
    const before = await ack(attacker, "whoami");
    const signin = await http("POST", "/signin", { cookie: old, json: { user: "ada" } });
    if (!signin.cookie) fail(`signin set no new cookie: ${JSON.stringify(signin)}`);
    await Promise.all([waitFor(victim, "session:renew"), waitFor(attacker, "session:renew")]);
    await Promise.all([waitFor(victim, "disconnect"), waitFor(attacker, "disconnect")]);
    const oldHttp = JSON.parse((await http("GET", "/whoami", { cookie: old })).text);
    const newHttp = JSON.parse((await http("GET", "/whoami", { cookie: signin.cookie })).text);
    // The attacker reconnects with what it knows; the victim's client with the new cookie.
    const again = await connect({ cookie: old });
    const back = await connect({ cookie: signin.cookie });
    const [againMsg] = await waitFor(again, "msg");
    const [backMsg] = await waitFor(back, "msg");
    await http("POST", "/notify", { cookie: signin.cookie, json: { text: "after login" } });
    await waitFor(back, "notice");
    const attackerWhoami = await ack(again, "whoami");
    return {
      changed: signin.cookie !== old,
      before,
      reasons: [got(victim, "disconnect")[0], got(attacker, "disconnect")[0]],
      oldHttp,
      newHttp,
      attackerMsg: againMsg,
      attackerWhoami,
      attackerNotices: got(again, "notice"),
      victimMsg: backMsg,
      victimWhoami: await ack(back, "whoami"),
      pushed: got(back, "notice"),
    };
  },

  /** One socket, held until the server goes: prints a line once connected and one at the end. */
  /** A socket's events run in the order sent; one that floods its handlers is cut off. */
  async order() {
    const cookie = await visit();
    const s = await connect({ cookie });
    const answers = [];
    await Promise.all(Array.from({ length: 300 }, (_, i) => ack(s, "echo", i).then((n) => answers.push(n))));
    const inOrder = answers.every((n, i) => n === i);
    // Events whose handler takes a while, sent far faster than they run.
    const flood = await connect({ cookie });
    for (let i = 0; i < 3000; i++) flood.emit("slow", i);
    const [floodReason] = await waitFor(flood, "disconnect", 30000);
    const fresh = await connect({ cookie });
    const afterwards = await ack(fresh, "echo", "still here");
    return { answered: answers.length, inOrder, firstAnswers: answers.slice(0, 5), floodReason, afterwards };
  },
  async hold() {
    const cookie = await visit();
    const s = await connect({ cookie });
    await waitFor(s, "msg");
    process.stdout.write(JSON.stringify({ connected: true }) + "\n");
    const [reason] = await waitFor(s, "disconnect", 60000);
    return { reason };
  },

  async expiry() {
    // [session] expiry = "2s": an idle session ends, its socket told by the sweep.
    const idle = await visit();
    const s = await connect({ cookie: idle });
    const [msg] = await waitFor(s, "msg");
    await waitFor(s, "session:end", 20000);
    await waitFor(s, "disconnect");
    const expiredHttp = JSON.parse((await http("GET", "/whoami", { cookie: idle })).text);
    // An active visitor keeps theirs: a request every half second for three lifetimes.
    const active = await visit();
    const seen = [];
    for (let i = 0; i < 12; i++) {
      seen.push(JSON.parse((await http("GET", "/whoami", { cookie: active })).text).message ?? null);
      await sleep(500);
    }
    return { msg, expiredHttp, reason: got(s, "disconnect")[0], activeSeen: [...new Set(seen)] };
  },

  async payload() {
    // [sockets] max_payload: the default, 1 MB.
    const MB = 1000 * 1000;
    const cookie = await visit();
    const s = await connect({ cookie });
    await waitFor(s, "msg");
    const results = {};
    results.small = await ack(s, "size", "x".repeat(0.9 * MB));
    // (Scripts cap arrays and blobs at 10,000 items.)
    results.smallBinary = await ack(s, "size", Buffer.alloc(9000, 1));
    const over = async (...args) => {
      const b = await connect({ cookie });
      await waitFor(b, "msg");
      b.emit("size", ...args);
      const [reason] = await waitFor(b, "disconnect", 20000);
      return reason;
    };
    results.bigText = await over("x".repeat(2 * MB));
    // Each attachment fits, together they do not.
    results.bigBinary = await over([Buffer.alloc(0.6 * MB, 1), Buffer.alloc(0.6 * MB, 2)]);
    // Ten 8 MB attachments at once (this took a server from 57 MB to 652 MB).
    results.flood = [...new Set(await Promise.all(Array.from({ length: 10 }, () => over(Buffer.alloc(8 * MB, 7)))))];
    const fresh = await connect({ cookie });
    results.afterwards = await ack(fresh, "echo", "still here");
    return results;
  },

  async destroy() {
    const cookie = await visit();
    const [s1, s2] = await Promise.all([connect({ cookie }), connect({ cookie })]);
    await Promise.all([waitFor(s1, "msg"), waitFor(s2, "msg")]);
    const res = await http("POST", "/logout", { cookie });
    await waitFor(s1, "session:end");
    await waitFor(s2, "session:end");
    await waitFor(s1, "disconnect");
    await waitFor(s2, "disconnect");
    const again = await connect({ cookie });
    const [msg] = await waitFor(again, "msg");
    const whoami = JSON.parse((await http("GET", "/whoami", { cookie })).text);
    return {
      cleared: res.setCookie.some((c) => c === "keystone.sid="),
      reasons: [got(s1, "disconnect")[0], got(s2, "disconnect")[0]],
      reconnectMsg: msg,
      whoami,
    };
  },

  async origin() {
    const outcome = async (headers) => {
      try {
        const s = await connect({ headers });
        s.disconnect();
        return "connected";
      } catch (err) {
        return `refused: ${err.message}`;
      }
    };
    const own = new URL(baseUrl).origin;
    const polling = await fetch(`${baseUrl}/socket.io/?EIO=4&transport=polling`, { headers: { origin: "http://evil.example" } });
    return {
      foreign: await outcome({ origin: "http://evil.example" }),
      own: await outcome({ origin: own }),
      listed: await outcome({ origin: "http://trusted.example" }),
      none: await outcome({}),
      pollingStatus: polling.status,
    };
  },

  async abuse() {
    const cookie = await visit();
    const s = await connect({ cookie });
    await waitFor(s, "msg");
    const results = {};
    // Deeply nested JSON: refused or answered, but the server lives.
    let nested = 1;
    for (let i = 0; i < 400; i++) nested = [nested];
    results.nested = await ack(s, "echo", nested).then(() => "answered", (e) => `no answer: ${e.message}`);
    // A binary attachment.
    results.binary = await ack(s, "size", Buffer.alloc(1024, 7)).then((v) => `answered ${v}`, (e) => `no answer: ${e.message}`);
    // 10 MB in one event: over the payload limit, so the server may drop this connection.
    const big = connect({ cookie });
    const b = await big;
    b.emit("size", "x".repeat(10 * 1024 * 1024));
    await sleep(1000);
    results.bigStillConnected = b.connected;
    // Whatever happened, a new connection works.
    const fresh = await connect({ cookie });
    results.afterwards = await ack(fresh, "echo", "still here");
    return results;
  },
};

const run = scenarios[scenario];
if (!run) fail("unknown scenario");
run()
  .then((result) => {
    process.stdout.write(JSON.stringify(result) + "\n");
    sockets.forEach((s) => s.disconnect());
    process.exit(0);
  })
  .catch((err) => fail(err.stack || String(err)));
