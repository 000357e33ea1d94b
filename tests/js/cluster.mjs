// Scale-out stories: several `keystone-rs serve` nodes sharing Redis, told with the official
// socket.io-client. Success: one JSON line of observations, exit 0; failure: stderr, exit 1.
//
//   node cluster.mjs <scenario> <urlA> <urlB> [websocket|polling]
import { io } from "socket.io-client";

const [scenario, a, b, transport = "websocket"] = process.argv.slice(2);
const WAIT = 5000;
const sockets = [];
setTimeout(() => fail("hung"), 40000).unref();

function fail(message) {
  console.error(`cluster.mjs ${scenario}: ${message}`);
  process.exit(1);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function http(base, method, path, { cookie, json } = {}) {
  const headers = {};
  if (cookie) headers.cookie = cookie;
  let body;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  }
  const response = await fetch(base + path, { method, headers, body, signal: AbortSignal.timeout(WAIT) });
  const set = response.headers.getSetCookie().map((c) => c.split(";")[0]).find((c) => c.startsWith("keystone.sid="));
  return { status: response.status, cookie: set, text: await response.text() };
}

function connect(base, { cookie, reconnection = false } = {}) {
  const socket = io(base, {
    transports: [transport],
    extraHeaders: cookie ? { cookie } : {},
    reconnection,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    forceNew: true,
    timeout: WAIT,
  });
  sockets.push(socket);
  socket.seen = [];
  socket.onAny((event, ...args) => socket.seen.push({ event, args }));
  socket.on("disconnect", (reason) => socket.seen.push({ event: "disconnect", args: [reason] }));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(err));
  });
}

async function waitFor(socket, event, ms = WAIT) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    const found = socket.seen.find((e) => e.event === event);
    if (found) return found.args;
    await sleep(10);
  }
  fail(`never got ${event}; saw ${JSON.stringify(socket.seen)}`);
}

const got = (socket, event) => socket.seen.filter((e) => e.event === event).map((e) => e.args[0]);
const ack = (socket, event, data) => socket.timeout(WAIT).emitWithAck(event, data);

const scenarios = {
  // A session made on A is the socket's session on B; logins and writes cross both ways.
  async session() {
    const { cookie } = await http(a, "GET", "/");
    const s = await connect(b, { cookie });
    const [msg] = await waitFor(s, "msg");
    const before = await ack(s, "whoami");
    await http(a, "POST", "/login", { cookie, json: { user: "ada" } });
    const after = await ack(s, "whoami");
    await ack(s, "remember", "written on B");
    const seenOnA = JSON.parse((await http(a, "GET", "/whoami", { cookie })).text);
    return { msg, before, after, seenOnA };
  },

  // A broadcast from a client on A reaches clients on B (and not the sender).
  async broadcast() {
    const sender = await connect(a);
    const [b1, b2] = await Promise.all([connect(b), connect(b)]);
    await Promise.all([waitFor(sender, "msg"), waitFor(b1, "msg"), waitFor(b2, "msg")]);
    await ack(sender, "shout", "hello from A");
    await waitFor(b1, "shouted");
    await waitFor(b2, "shouted");
    await sleep(200);
    return { b1: got(b1, "shouted"), b2: got(b2, "shouted"), sender: got(sender, "shouted") };
  },

  // emit_to_session from a request on A reaches the visitor's tab connected to B.
  async push() {
    const { cookie } = await http(a, "GET", "/");
    const other = (await http(a, "GET", "/")).cookie;
    const tab = await connect(b, { cookie });
    const stranger = await connect(b, { cookie: other });
    await Promise.all([waitFor(tab, "msg"), waitFor(stranger, "msg")]);
    await http(a, "POST", "/notify", { cookie, json: { text: "from A" } });
    await waitFor(tab, "notice");
    await sleep(200);
    return { tab: got(tab, "notice"), stranger: got(stranger, "notice") };
  },

  // destroy_session and regenerate_session on A reach the visitor's socket on B.
  async lifecycle() {
    const leaving = (await http(a, "GET", "/")).cookie;
    const s1 = await connect(b, { cookie: leaving });
    await waitFor(s1, "msg");
    await http(a, "POST", "/logout", { cookie: leaving });
    await waitFor(s1, "session:end");
    await waitFor(s1, "disconnect");

    const old = (await http(a, "GET", "/")).cookie;
    const s2 = await connect(b, { cookie: old });
    await waitFor(s2, "msg");
    const signin = await http(a, "POST", "/signin", { cookie: old, json: { user: "ada" } });
    await waitFor(s2, "session:renew");
    await waitFor(s2, "disconnect");
    const withOld = await connect(b, { cookie: old });
    const withNew = await connect(b, { cookie: signin.cookie });
    return {
      endedReason: got(s1, "disconnect")[0],
      renewedReason: got(s2, "disconnect")[0],
      oldWhoami: await ack(withOld, "whoami"),
      newWhoami: await ack(withNew, "whoami"),
    };
  },

  // Long-polling through a load balancer that spreads requests: does it work?
  async "polling-behind-balancer"() {
    try {
      const s = await connect(a);
      const results = [];
      for (let i = 0; i < 6; i++) results.push(await ack(s, "echo", i).catch((e) => `failed: ${e.message}`));
      return { connected: true, results, stillConnected: s.connected };
    } catch (err) {
      return { connected: false, error: String(err.message), description: String(err.description ?? "") };
    }
  },

  // Connects through a balancer with reconnection on; prints a line when told, to observe
  // reconnection after a node dies. Reads commands on stdin: "echo", "quit".
  async hold() {
    const { cookie } = await http(a, "GET", "/");
    await http(a, "POST", "/login", { cookie, json: { user: "ada" } });
    const s = await connect(a, { cookie, reconnection: true });
    await waitFor(s, "msg");
    let connects = 1;
    s.on("connect", () => connects++);
    console.log(JSON.stringify({ ready: true }));
    for await (const line of readLines()) {
      if (line === "quit") break;
      const reply = await ack(s, "echo", line).catch((e) => `failed: ${e.message}`);
      console.log(JSON.stringify({ reply, connects, whoami: await ack(s, "whoami").catch(() => "failed") }));
    }
    return { connects };
  },
};

async function* readLines() {
  let buffer = "";
  for await (const chunk of process.stdin) {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
    }
  }
}

const run = scenarios[scenario];
if (!run) fail("unknown scenario");
run()
  .then((result) => {
    console.log(JSON.stringify(result));
    sockets.forEach((s) => s.disconnect());
    process.exit(0);
  })
  .catch((err) => fail(err.stack || String(err)));
