// Holds socket.io connections that carry session cookies against a running `keystone-rs serve`
// (default scaffold), for soak.sh. Uses the official socket.io-client installed under tests/js.
//
//   node benches/soak.mjs <baseUrl> [sockets=2000] [maxSeconds=150]
//
// Makes one session per socket (GET / without a cookie, keeps the Set-Cookie), connects every
// socket over websocket with its cookie (no reconnection) and requires the `msg` event of the
// scaffold's sockets/index.rhai to carry the session's "Hello World". Then it prints
// `connected N` and holds the sockets until stdin closes, SIGTERM/SIGINT, or maxSeconds. On the
// way out it prints one machine-readable line:
//   SOCKETS wanted=N connected=N failed=F disconnects=D still=S http_errors=H
// failed: sockets that could not connect (or got a wrong msg); disconnects: sockets that were
// dropped while held; still: sockets connected at the end; http_errors: failed session GETs.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const jsDir = process.env.KEYSTONE_JS_DIR ?? fileURLToPath(new URL("../tests/js/", import.meta.url));
const { io } = createRequire(jsDir + "/package.json")("socket.io-client");

const [baseUrl, countArg = "2000", maxArg = "150"] = process.argv.slice(2);
if (!baseUrl) {
  console.error("usage: node soak.mjs <baseUrl> [sockets] [maxSeconds]");
  process.exit(2);
}
const COUNT = Number(countArg);
const BATCH = 100;
const WAIT_MS = 15_000;

const sockets = [];
let connected = 0;
let failed = 0;
let disconnects = 0;
let httpErrors = 0;
let holding = false;
let finished = false;

function finish(code) {
  if (finished) return;
  finished = true;
  const still = sockets.filter((s) => s.connected).length;
  for (const s of sockets) s.disconnect();
  console.log(
    `SOCKETS wanted=${COUNT} connected=${connected} failed=${failed} disconnects=${disconnects} ` +
      `still=${still} http_errors=${httpErrors}`,
  );
  setTimeout(() => process.exit(code), 200).unref();
}
process.on("SIGTERM", () => finish(0));
process.on("SIGINT", () => finish(0));
setTimeout(() => {
  console.error(`soak.mjs: stopping after ${maxArg} s`);
  finish(holding ? 0 : 1);
}, Number(maxArg) * 1000).unref();

async function newSession() {
  try {
    const response = await fetch(baseUrl + "/", { signal: AbortSignal.timeout(WAIT_MS) });
    await response.text();
    const cookie = response.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .find((c) => c.startsWith("keystone.sid="));
    if (response.status !== 200 || !cookie) throw new Error(`status ${response.status}, cookie ${cookie}`);
    return cookie;
  } catch (err) {
    httpErrors++;
    console.error(`soak.mjs: GET / for a session: ${err.message}`);
    return null;
  }
}

function open(cookie, index) {
  return new Promise((resolve) => {
    const socket = io(baseUrl, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      timeout: WAIT_MS,
      extraHeaders: { cookie },
    });
    sockets.push(socket);
    const timer = setTimeout(() => {
      failed++;
      console.error(`soak.mjs: socket ${index} got no msg within ${WAIT_MS} ms`);
      resolve();
    }, WAIT_MS);
    socket.once("msg", (message) => {
      clearTimeout(timer);
      if (message === "Hello World") {
        connected++;
      } else {
        failed++;
        console.error(`soak.mjs: socket ${index} got msg ${JSON.stringify(message)}, not its session's`);
      }
      resolve();
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      failed++;
      console.error(`soak.mjs: socket ${index}: connect_error ${err.message}`);
      resolve();
    });
    socket.on("disconnect", (reason) => {
      if (!finished) {
        disconnects++;
        console.error(`soak.mjs: socket ${index} disconnected: ${reason}`);
      }
    });
  });
}

for (let done = 0; done < COUNT && !finished; done += BATCH) {
  const batch = [];
  for (let i = done; i < Math.min(done + BATCH, COUNT); i++) {
    batch.push(newSession().then((cookie) => (cookie ? open(cookie, i) : failed++)));
  }
  await Promise.all(batch);
}
if (!finished) {
  holding = true;
  console.log(`connected ${connected}`);
  process.stdin.on("end", () => finish(0));
  process.stdin.on("error", () => finish(0));
  process.stdin.resume();
}
