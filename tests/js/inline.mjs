// A heavy controller and a heavy socket handler against `keystone-rs serve` of a default
// scaffold with the routes and socket script of tests/inline.rs: while the controller runs,
// `/` answers; the effects of both (a session write, an emit) happen once, though their
// first, inline runs were stopped and made again on the script pool.
//
//   node inline.mjs <baseUrl>
//
// Success: one JSON line of observations, exit 0. Failure: a message on stderr, exit 1.
import { io } from "socket.io-client";

const [baseUrl] = process.argv.slice(2);
setTimeout(() => fail("hung"), 60000).unref();

function fail(message) {
  console.error(`inline.mjs: ${message}`);
  process.exit(1);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function get(path, cookie) {
  const response = await fetch(baseUrl + path, { headers: cookie ? { cookie } : {} });
  const set = response.headers.getSetCookie().map((c) => c.split(";")[0]);
  return { status: response.status, text: await response.text(), cookie: set.find((c) => c.startsWith("keystone.sid=")) };
}

const first = await get("/");
if (!first.cookie) fail("GET / set no session cookie");
const cookie = first.cookie;
const socket = io(baseUrl, { transports: ["websocket"], extraHeaders: { cookie }, reconnection: false, forceNew: true });
const emits = [];
socket.on("heavy", (total) => emits.push(total));
await new Promise((resolve, reject) => {
  socket.on("msg", resolve);
  socket.on("connect_error", reject);
}).catch((err) => fail(`connect: ${err}`));

const started = Date.now();
let heavyMs = null;
const heavy = get("/heavy", cookie).then((reply) => {
  heavyMs = Date.now() - started;
  return reply;
});
await sleep(300); // the heavy run has left its first, inline attempt for the pool
const before = Date.now();
const home = await get("/");
const homeMs = Date.now() - before;
const heavyStillRunning = heavyMs === null;
const reply = await heavy;
await sleep(300); // an emit sent twice would have arrived by now
// A socket handler past the inline limits: its ack, its emit and its session write, once.
const socketEmits = [];
socket.on("socket heavy", (n) => socketEmits.push(n));
const socketAck = await socket.timeout(20000).emitWithAck("heavy", 100000);
await sleep(300);
const runs = await get("/runs", cookie);
socket.close();
console.log(
  JSON.stringify({
    homeStatus: home.status,
    homeMs,
    heavyStillRunning,
    heavyMs,
    heavyStatus: reply.status,
    heavy: JSON.parse(reply.text),
    emits,
    socketAck,
    socketEmits,
    runs: JSON.parse(runs.text),
  }),
);
process.exit(0);
