// Socket stories against a running `keystone-rs serve` of tests/fixtures/valid/session_app,
// told with the OFFICIAL socket.io-client and node's fetch.
//
//   node story.mjs <scenario> <baseUrl> [websocket|polling|upgrade] [cookie]
//
// `upgrade` is the official client's default: long-polling first, then an upgrade to WebSocket.
//
// Success: one JSON line on stdout with what was observed, exit 0.
// Failure: a message on stderr, exit 1. Every wait times out (≤ 5 s).
import { isDeepStrictEqual } from "node:util";
import { io } from "socket.io-client";

const WAIT_MS = 5000;
/** How long a story may take in all before it is called hung. */
const STORY_MS = 20000;
const COOKIE_NAME = "keystone.sid";

const [scenario, baseUrl, transport = "websocket", cookieArg] = process.argv.slice(2);

class StoryError extends Error {}

function fail(message) {
  throw new StoryError(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

function show(value) {
  return value === undefined ? "undefined" : JSON.stringify(value);
}

function expectEqual(actual, expected, what) {
  check(isDeepStrictEqual(actual, expected), `${what}: expected ${show(expected)}, got ${show(actual)}`);
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new StoryError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** `name=value` of the session cookie a response set, or null. */
function sessionCookie(response) {
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(";")[0].trim();
    if (pair.startsWith(`${COOKIE_NAME}=`)) return pair;
  }
  return null;
}

async function http(method, path, { cookie, json } = {}) {
  const headers = {};
  if (cookie) headers.cookie = cookie;
  let body;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  }
  const response = await withTimeout(
    fetch(baseUrl + path, { method, headers, body, redirect: "manual" }),
    WAIT_MS,
    `${method} ${path}`,
  );
  const text = await withTimeout(response.text(), WAIT_MS, `the body of ${method} ${path}`);
  return { status: response.status, cookie: sessionCookie(response), text, response };
}

async function httpJson(method, path, options) {
  const res = await http(method, path, options);
  check(res.status === 200, `${method} ${path}: expected status 200, got ${res.status}: ${res.text}`);
  try {
    return { ...res, json: JSON.parse(res.text) };
  } catch {
    fail(`${method} ${path}: expected a JSON body, got ${show(res.text)}`);
  }
}

/** GET / (whose controller sets session.message) and return the new session cookie. */
async function visit() {
  const res = await http("GET", "/");
  check(res.status === 200, `GET /: expected status 200, got ${res.status}`);
  check(res.cookie, `GET /: no ${COOKIE_NAME} cookie in set-cookie ${show(res.response.headers.getSetCookie())}`);
  return res.cookie;
}

// ---------------------------------------------------------------------------------------------
// Sockets

const sockets = [];

/** The event each namespace's `connect` emits before it registers its handlers. */
const READY_EVENT = { "/": "msg", "/chat": "welcome" };

/**
 * Connects to `baseUrl + nsp` over the chosen transport, recording every event from the start
 * (the server emits `msg` right on connect).
 *
 * By default it then waits for the namespace's first event (`READY_EVENT`), so each story tests
 * one thing; sending right after CONNECT, before the server's `connect` script has registered the
 * handlers, is the `early-emit` story's subject. `ready: false` skips that wait.
 */
async function connect({ cookie = null, nsp = "/", name = "socket", ready = true } = {}) {
  check(["websocket", "polling", "upgrade"].includes(transport), `unknown transport ${show(transport)}`);
  const socket = io(baseUrl + (nsp === "/" ? "" : nsp), {
    transports: transport === "upgrade" ? ["polling", "websocket"] : [transport],
    extraHeaders: cookie ? { cookie } : {},
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
  });
  sockets.push(socket);
  // The engine exists as soon as the client does; an upgrade may finish before `connect`.
  const upgraded = new Promise((resolve) => socket.io.engine.once("upgrade", (t) => resolve(t.name)));
  const seen = [];
  const waiters = [];
  socket.onAny((event, ...args) => {
    seen.push({ event, args });
    for (const waiter of [...waiters]) waiter();
  });
  const client = {
    name,
    socket,
    seen,
    upgraded,
    /** All payloads (first argument) received for `event` so far. */
    payloads(event) {
      return seen.filter((e) => e.event === event).map((e) => e.args[0]);
    },
    /** The first payload of `event`, waiting for it if it has not come yet. */
    next(event) {
      const found = () => seen.find((e) => e.event === event);
      if (found()) return Promise.resolve(found().args[0]);
      return withTimeout(
        new Promise((resolve) => {
          const waiter = () => {
            const hit = found();
            if (hit) {
              waiters.splice(waiters.indexOf(waiter), 1);
              resolve(hit.args[0]);
            }
          };
          waiters.push(waiter);
        }),
        WAIT_MS,
        `event ${show(event)} on ${name} (seen so far: ${show(seen.map((e) => e.event))})`,
      );
    },
    async ack(event, ...args) {
      try {
        return await socket.timeout(WAIT_MS).emitWithAck(event, ...args);
      } catch (err) {
        fail(`${name}: no ack for ${show(event)} within ${WAIT_MS} ms (${err.message})`);
      }
    },
  };
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", (err) =>
        reject(new StoryError(`${name}: connect_error to ${nsp} over ${transport}: ${err.message}`)),
      );
    }),
    WAIT_MS,
    `${name} to connect to ${nsp} over ${transport}`,
  );
  if (ready && READY_EVENT[nsp]) await client.next(READY_EVENT[nsp]);
  return client;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/** Resolves when a line equal to `word` arrives on stdin; fails if stdin ends first. */
function stdinLine(word) {
  return new Promise((resolve, reject) => {
    let buffer = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk) => {
      buffer += chunk;
      if (buffer.split("\n").some((line) => line.trim() === word)) {
        process.stdin.pause();
        resolve();
      }
    });
    process.stdin.on("end", () => reject(new StoryError(`stdin ended without "${word}"`)));
  });
}

/** Flips one character of the signature part (the value's first 44 base64 characters). */
function tamper(cookie) {
  const at = cookie.indexOf("=") + 1;
  const value = cookie.slice(at);
  const i = [...value].findIndex((c) => /[A-Za-z0-9]/.test(c));
  check(i >= 0 && i < 44, `cannot find a signature character to flip in ${show(cookie)}`);
  const flipped = value[i] === "A" ? "B" : "A";
  return cookie.slice(0, at) + value.slice(0, i) + flipped + value.slice(i + 1);
}

const scenarios = {
  async hello() {
    const cookie = await visit();
    const a = await connect({ cookie });
    const msg = await a.next("msg");
    expectEqual(msg, "Hello World", "msg with the GET / cookie");
    return { msg, cookieName: cookie.split("=")[0] };
  },

  /** The client's default path: it connects over long-polling, upgrades, and goes on talking. */
  async upgrade() {
    const cookie = await visit();
    const a = await connect({ cookie });
    const msg = await a.next("msg");
    const upgradedTo = await withTimeout(a.upgraded, WAIT_MS, "the upgrade");
    const echo = await a.socket.timeout(WAIT_MS).emitWithAck("echo", { after: "upgrade" });
    return { msg, upgradedTo, now: a.socket.io.engine.transport.name, echo };
  },

  async "no-cookie"() {
    const a = await connect();
    const msg = await a.next("msg");
    expectEqual(msg, null, "msg without a cookie");
    return { msg };
  },

  async tampered() {
    const cookie = await visit();
    const bad = tamper(cookie);
    check(bad !== cookie, "tampering changed nothing");
    // Control: the genuine cookie does carry the session.
    const real = await (await connect({ cookie, name: "genuine" })).next("msg");
    expectEqual(real, "Hello World", "msg with the genuine cookie");
    const msg = await (await connect({ cookie: bad, name: "tampered" })).next("msg");
    expectEqual(msg, null, "msg with a tampered cookie");
    return { genuine: real, msg };
  },

  async fresh() {
    const cookie = await visit();
    const a = await connect({ cookie });
    const id = a.socket.id;
    const before = await a.ack("whoami");
    expectEqual(before, null, "whoami before login");
    const login = await httpJson("POST", "/login", { cookie, json: { user: "ada" } });
    expectEqual(login.json, { ok: true, user: "ada" }, "POST /login body");
    check(a.socket.connected, "the socket disconnected during login");
    const after = await a.ack("whoami");
    expectEqual(after, "ada", "whoami after login over HTTP, same socket");
    return { before, after, sameSocket: a.socket.id === id };
  },

  async write() {
    const cookie = await visit();
    const a = await connect({ cookie });
    const ack = await a.ack("remember", "note-1");
    expectEqual(ack, true, "ack of remember");
    const who = await httpJson("GET", "/whoami", { cookie });
    expectEqual(who.json.note, "note-1", `GET /whoami note (session ${who.text})`);
    expectEqual(who.json.message, "Hello World", "GET /whoami message (the rest of the session is kept)");
    return { ack, session: who.json };
  },

  async "anon-write"() {
    const a = await connect({ name: "anonymous" });
    const ack = await a.ack("remember", "x");
    expectEqual(ack, true, "ack of remember without a cookie");
    const anon = await httpJson("GET", "/whoami");
    expectEqual(anon.json, {}, "GET /whoami without a cookie");
    check(anon.cookie === null, `GET /whoami without a cookie set a cookie: ${anon.cookie}`);
    // Someone else's session does not get it either.
    const cookie = await visit();
    const other = await httpJson("GET", "/whoami", { cookie });
    expectEqual(other.json, { message: "Hello World" }, "GET /whoami of another visitor");
    // Each anonymous socket has a session of its own: a second one does not see the first's note.
    expectEqual(await a.ack("recall"), "x", "recall on the anonymous socket that wrote it");
    const b = await connect({ name: "second anonymous" });
    expectEqual(await b.ack("recall"), null, "recall on a second anonymous socket");
    return { ack, anonymous: anon.json, other: other.json, secondRecall: null };
  },

  async "rooms-broadcast"() {
    const [a, b, c] = await Promise.all(
      ["A", "B", "C"].map(async (name) => connect({ cookie: await visit(), name })),
    );
    const d = await connect({ name: "D" });
    for (const s of [a, b, c]) expectEqual(await s.ack("join room", "r1"), "r1", `${s.name} join room ack`);
    expectEqual(await c.ack("to room", { room: "r1", text: "hi" }), true, "C to room ack");
    const atA = await a.next("room message");
    const atB = await b.next("room message");
    // Effects are applied before the ack is sent, and packets keep their order per socket, so a
    // round trip on C and D after C's ack proves nothing more is on its way to them.
    for (const s of [c, d]) expectEqual(await s.ack("echo", 0), 0, `${s.name} sync`);
    const roomMessages = { A: a.payloads("room message"), B: b.payloads("room message"), C: c.payloads("room message"), D: d.payloads("room message") };
    expectEqual(roomMessages, { A: ["hi"], B: ["hi"], C: [], D: [] }, "room message receivers");

    expectEqual(await a.ack("shout", "hey"), true, "A shout ack");
    await Promise.all([b, c, d].map((s) => s.next("shouted")));
    expectEqual(await a.ack("echo", 0), 0, "A sync");
    const shouted = { A: a.payloads("shouted"), B: b.payloads("shouted"), C: c.payloads("shouted"), D: d.payloads("shouted") };
    expectEqual(shouted, { A: [], B: ["hey"], C: ["hey"], D: ["hey"] }, "shouted receivers");
    return { atA, atB, roomMessages, shouted };
  },

  async namespace() {
    const chat = await connect({ nsp: "/chat", name: "chat" });
    const welcome = await chat.next("welcome");
    expectEqual(welcome, "chat", "welcome on /chat");
    const pong = await chat.ack("ping:me", "x");
    expectEqual(pong, "pong:x", "ack of ping:me");
    // The root namespace's script does not run for /chat, and its events are not there.
    expectEqual(chat.payloads("msg"), [], "msg on /chat");
    const echo = await withTimeout(
      chat.socket.timeout(300).emitWithAck("echo", 1).then(
        (v) => ({ answered: v }),
        () => ({ answered: "no ack" }),
      ),
      WAIT_MS,
      "echo on /chat",
    );
    expectEqual(echo, { answered: "no ack" }, "echo (a `/` handler) on /chat");
    return { welcome, pong };
  },

  // io.emit reaches everyone in the namespace, the sender included, from socket handlers and
  // controllers alike; io.to(room) and io.of(ns) narrow it.
  async "io-emit"() {
    const cookie = await visit();
    const [a, b] = [await connect({ cookie, name: "A" }), await connect({ name: "B" })];
    const c = await connect({ nsp: "/chat", name: "C" });
    await c.next("welcome");
    // Round trips on every socket prove nothing more is on its way to it.
    const settle = async () => {
      for (const s of [a, b]) await s.ack("echo", 0);
      await c.ack("echo:chat", 0);
    };
    const received = () => ({ A: a.payloads("announced"), B: b.payloads("announced"), C: c.payloads("announced") });

    expectEqual(await a.ack("announce", "from a socket"), true, "announce ack");
    await Promise.all([a.next("announced"), b.next("announced")]);
    await settle();
    expectEqual(received(), { A: ["from a socket"], B: ["from a socket"], C: [] }, "io.emit in a handler");

    const q = (params) => "/announce?" + new URLSearchParams(params);
    await httpJson("GET", q({ text: "from http" }), { cookie });
    await settle();
    expectEqual(received().B, ["from a socket", "from http"], "io.emit in a controller reaches B");
    expectEqual(received().A, ["from a socket", "from http"], "io.emit in a controller reaches A");

    await httpJson("GET", q({ text: "to chat", ns: "/chat" }), { cookie });
    await c.next("announced");
    await settle();
    expectEqual(received().C, ["to chat"], "io.of(\"/chat\") reaches /chat only");
    expectEqual(received().A.length, 2, "io.of(\"/chat\") does not reach /");

    expectEqual(await a.ack("join room", "r1"), "r1", "A joins r1");
    await httpJson("GET", q({ text: "to room", room: "r1" }), { cookie });
    await settle();
    const final = received();
    expectEqual(final, { A: ["from a socket", "from http", "to room"], B: ["from a socket", "from http"], C: ["to chat"] }, "io.to(room)");
    return final;
  },

  async "ack-echo"() {
    const a = await connect();
    const nested = { a: [1, 2, { b: "c" }] };
    const gotNested = await a.ack("echo", nested);
    expectEqual(gotNested, nested, "echo of a nested object");
    const text = "é ü 😀";
    const gotText = await a.ack("echo", text);
    expectEqual(gotText, text, "echo of non-ASCII text");
    const mixed = { n: null, t: true, f: false, x: 1.5, neg: -7, s: "", list: [], map: {} };
    const gotMixed = await a.ack("echo", mixed);
    expectEqual(gotMixed, mixed, "echo of mixed JSON values");
    return { nested: gotNested, text: gotText, mixed: gotMixed };
  },

  // Reads "go" on stdin before its last step: the Rust test sends it once the server has
  // logged that the runaway handler was stopped, so the final ack proves the socket outlived it.
  async "unknown-and-malformed"() {
    const a = await connect();
    a.socket.emit("no such event", { x: 1 });
    a.socket.emit("no such event either");
    // A binary payload: whatever the server makes of it, it must not be fatal.
    a.socket.emit("echo", Buffer.from([1, 2, 3]));
    // A runaway handler: cut off by the operations limit, so it answers no ack.
    let spin = "no ack";
    a.socket.emit("spin", null, (...answer) => {
      spin = { answered: answer };
    });
    console.log("spinning");
    await withTimeout(stdinLine("go"), WAIT_MS, '"go" on stdin (the server stopping the runaway handler)');
    check(a.socket.connected, "the socket disconnected after the unknown events and spin");
    const echo = await a.ack("echo", 1);
    expectEqual(echo, 1, "echo after unknown events and a runaway handler");
    expectEqual(spin, "no ack", "answer of the runaway handler");
    check(a.socket.connected, "the socket disconnected");
    return { spin, echo };
  },

  // An event sent without arguments still reaches its handler (the data is null).
  async "no-args"() {
    const a = await connect({ cookie: await visit() });
    const who = await a.ack("whoami");
    expectEqual(who, null, "whoami without arguments");
    return { who };
  },

  // Events sent as soon as the client is connected, before the server's `connect` script (which
  // first awaits the session store) has registered the handlers, must still be answered.
  async "early-emit"() {
    const cookie = await visit();
    const count = 25;
    const rounds = 4;
    for (let round = 1; round <= rounds; round++) {
      const results = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const s = await connect({ cookie, name: `socket ${i}`, ready: false });
          return s.socket
            .timeout(2000)
            .emitWithAck("echo", i)
            .then(
              (v) => v === i,
              () => false,
            );
        }),
      );
      const answered = results.filter(Boolean).length;
      expectEqual(answered, count, `round ${round}: echoes answered when sent right after connect`);
      for (const s of sockets.splice(0)) s.disconnect();
    }
    return { answered: count * rounds, of: count * rounds };
  },

  async "restart-read"() {
    check(cookieArg, "restart-read needs a cookie argument");
    const a = await connect({ cookie: cookieArg });
    const msg = await a.next("msg");
    return { msg };
  },
};

async function main() {
  check(scenario in scenarios, `unknown scenario ${show(scenario)}; known: ${Object.keys(scenarios).join(", ")}`);
  check(/^https?:\/\//.test(baseUrl ?? ""), `bad base URL ${show(baseUrl)}`);
  const observed = await withTimeout(scenarios[scenario](), STORY_MS, `scenario ${scenario}`);
  for (const s of sockets) s.disconnect();
  // Let the disconnect packets leave before exiting, so the server sees a clean close.
  await new Promise((r) => setTimeout(r, 50));
  console.log(JSON.stringify({ scenario, transport, ...observed }));
  process.exit(0);
}

main().catch((err) => {
  let message = err instanceof StoryError ? err.message : err?.stack ?? String(err);
  if (err?.cause) message += `\ncaused by: ${err.cause?.stack ?? err.cause}`;
  console.error(`story ${scenario} (${transport}) against ${baseUrl} failed: ${message}`);
  process.exit(1);
});
