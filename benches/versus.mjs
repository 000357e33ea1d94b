// The socket-side load of benches/versus.sh, the same for keystone-rs and the Node reference
// stack: visits, sockets with their own sessions, and fan-out. Uses the official
// socket.io-client installed under benches/node.
//
//   node benches/versus.mjs visits  <url> <serverPid> <visits> <concurrency>
//   node benches/versus.mjs sockets <url> <serverPid> <sockets>
//   node benches/versus.mjs fanout  <url> <serverPid> <receivers> <messages>
//   node benches/versus.mjs connects <url> <serverPid> <count> <cookie>
//   node benches/versus.mjs firsts  <url> <serverPid> <requests> <concurrency>
//
// visits:  a visit is GET / with no cookie (a new session) then a websocket connect carrying
//          that cookie, until the `msg` event arrives; then the socket closes. Prints latency
//          p50/p99 (ms) and the server's CPU per visit (µs, from /proc/PID/stat).
// sockets: makes <sockets> sessions (GET / each), then opens a socket with each and holds
//          them; prints RSS before, with the sessions, with all connected (KiB per socket,
//          its session included, and per session alone), and after they all disconnect
//          (once the server has closed them, settled for 3 s).
// fanout:  <receivers> sockets; one of them emits `chat` <messages> times, at most 8 in
//          flight; every socket (sender included) must receive every one. Prints the
//          server's CPU per delivery (µs).
// connects: <count> websocket connects with <cookie>, one after the other, each until `msg`,
//          then a disconnect (for instructions.sh, which counts what the server runs).
// firsts:  GET / with no cookie (a new session each), <concurrency> at a time, without wrk;
//          prints requests/s and the server's CPU per request.
// Each prints one JSON line on stdout; exits 1 on any failed visit, connect or delivery.
// Gives up after 300 s.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const jsDir = process.env.VERSUS_JS_DIR ?? fileURLToPath(new URL("./node/", import.meta.url));
const { io } = createRequire(jsDir + "/package.json")("socket.io-client");

const [mode, url, pidArg, ...rest] = process.argv.slice(2);
const pid = Number(pidArg);
if (!mode || !url || !pid) {
  console.error("usage: node versus.mjs visits|sockets|fanout <url> <serverPid> ...");
  process.exit(2);
}
setTimeout(() => fail("gave up after 300 s"), 300_000).unref();

const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

function fail(message) {
  console.error(`versus.mjs ${mode}: ${message}`);
  process.exit(1);
}

/** User + system CPU of the server so far, in clock ticks. */
function cpuTicks() {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function rssKib() {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)[1]);
}

/** The server's open file descriptors (one per connection, among others). */
function openFds() {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** GET / without a cookie: returns the new session's cookie ("name=value"). */
async function newSession() {
  const res = await fetch(url + "/");
  const body = await res.text();
  if (res.status !== 200 || !body.includes("Welcome to")) throw new Error(`GET / gave ${res.status}`);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith("keystone.sid="));
  if (!cookie) throw new Error("GET / set no keystone.sid cookie");
  return cookie.split(";")[0];
}

/** Connects over websocket with `cookie`; resolves with the socket once `msg` arrived. */
function connect(cookie) {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      timeout: 30_000,
      extraHeaders: { cookie },
    });
    socket.once("msg", (message) => {
      if (message !== "Hello World") reject(new Error(`unexpected msg ${JSON.stringify(message)}`));
      else resolve(socket);
    });
    socket.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
  });
}

async function pool(count, concurrency, task) {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await task(next++);
  });
  await Promise.all(workers);
}

async function visits([countArg = "500", concurrencyArg = "1"]) {
  const count = Number(countArg);
  const concurrency = Number(concurrencyArg);
  const visit = async () => {
    const start = now();
    const socket = await connect(await newSession());
    const took = now() - start;
    socket.disconnect();
    return took;
  };
  await pool(Math.min(200, count), concurrency, visit); // warm-up (the JIT of both stacks)
  await sleep(500);
  const latencies = [];
  const before = cpuTicks();
  const started = now();
  await pool(count, concurrency, async () => latencies.push(await visit()));
  const elapsed = now() - started;
  const ticks = cpuTicks() - before;
  latencies.sort((a, b) => a - b);
  return {
    visits: count,
    concurrency,
    p50_ms: +percentile(latencies, 50).toFixed(2),
    p99_ms: +percentile(latencies, 99).toFixed(2),
    per_s: Math.round((count / elapsed) * 1000),
    cpu_us: +((ticks * TICK_US) / count).toFixed(1),
  };
}

async function sockets([countArg = "5000"]) {
  const count = Number(countArg);
  const fdsBefore = openFds();
  const rssBefore = rssKib();
  // The sessions first, then their sockets: sessions stay after a disconnect (until they
  // expire), sockets should not, so the two are measured apart.
  const cookies = [];
  await pool(count, 50, async () => cookies.push(await newSession()));
  await sleep(1000);
  const rssSessions = rssKib();
  const held = [];
  let next = 0;
  await pool(count, 50, async () => held.push(await connect(cookies[next++])));
  await sleep(1000);
  const rssConnected = rssKib();
  for (const s of held) s.disconnect();
  // Until the server has closed them (a loaded machine takes longer than any fixed wait); the
  // client's keep-alive HTTP connections (at most 50) may still be open.
  const deadline = now() + 60_000;
  while (openFds() > fdsBefore + 64 && now() < deadline) await sleep(100);
  await sleep(3000);
  const rssAfter = rssKib();
  return {
    sockets: held.length,
    rss_before_kib: rssBefore,
    rss_sessions_kib: rssSessions,
    rss_connected_kib: rssConnected,
    rss_after_kib: rssAfter,
    kib_per_socket: +((rssConnected - rssBefore) / count).toFixed(1),
    kib_per_session: +((rssSessions - rssBefore) / count).toFixed(1),
  };
}

async function fanout([receiversArg = "1000", messagesArg = "200"]) {
  const receivers = Number(receiversArg);
  const messages = Number(messagesArg);
  const IN_FLIGHT = 8;
  const cookie = await newSession();
  const held = [];
  await pool(receivers, 50, async () => held.push(await connect(cookie)));
  const pending = new Map(); // message index -> [deliveries left, resolve]
  let unexpected = 0;
  for (const socket of held) {
    socket.on("chat", (data) => {
      const entry = pending.get(data?.i);
      if (!entry) return void unexpected++;
      if (--entry[0] === 0) {
        pending.delete(data.i);
        entry[1]();
      }
    });
  }
  const send = (i) =>
    new Promise((resolve, reject) => {
      pending.set(i, [receivers, resolve]);
      held[0].emit("chat", { i, text: "hello everyone" });
      setTimeout(() => reject(new Error(`message ${i} did not reach every socket in 30 s`)), 30_000).unref();
    });
  await send(-1); // warm-up: every socket is listening
  const before = cpuTicks();
  const started = now();
  let nextIndex = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (nextIndex < messages) await send(nextIndex++);
    }),
  );
  const elapsed = now() - started;
  const ticks = cpuTicks() - before;
  for (const s of held) s.disconnect();
  if (unexpected) throw new Error(`${unexpected} unexpected deliveries`);
  const deliveries = receivers * messages;
  return {
    receivers,
    messages,
    deliveries_per_s: Math.round((deliveries / elapsed) * 1000),
    cpu_us_per_delivery: +((ticks * TICK_US) / deliveries).toFixed(2),
  };
}

async function connects([countArg = "50", cookie]) {
  const count = Number(countArg);
  for (let i = 0; i < count; i++) (await connect(cookie)).disconnect();
  return { connects: count };
}

async function firsts([countArg = "5000", concurrencyArg = "50"]) {
  const count = Number(countArg);
  await pool(500, 50, newSession); // warm-up
  const before = cpuTicks();
  const started = now();
  await pool(count, Number(concurrencyArg), newSession);
  const elapsed = now() - started;
  return { requests: count, per_s: Math.round((count / elapsed) * 1000), cpu_us: +(((cpuTicks() - before) * TICK_US) / count).toFixed(1) };
}

const modes = { visits, sockets, fanout, connects, firsts };
if (!modes[mode]) fail(`unknown mode ${mode}`);
try {
  console.log(JSON.stringify(await modes[mode](rest)));
  process.exit(0);
} catch (err) {
  fail(err.message);
}
