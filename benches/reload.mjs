// Live-reload latency of a running `keystone-rs serve` (development mode), for reload.sh.
// Uses the official socket.io-client installed under tests/js.
//
//   node benches/reload.mjs <baseUrl> <appDir> <cookie "keystone.sid=..."> [edits=50] [spacingMs=300]
//
// Listens on the live-reload namespace `/__keystone` (websocket), then edits
// templates/views/index.html `edits` times, each with a unique marker and `spacingMs` apart
// (so every edit is its own burst for the watcher). Per edit it measures
//   reload: edit (just before the write) -> `reload` event received by the client
//   http:   edit -> first GET / response whose body contains the marker (GET / polled every 2 ms)
// and prints p50/p99/max of both, then restores the template. Exits 1 on any error (an edit
// not seen within 5 s, a non-200, a broken project, a lost live socket). Gives up after 120 s.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const jsDir = process.env.KEYSTONE_JS_DIR ?? fileURLToPath(new URL("../tests/js/", import.meta.url));
const { io } = createRequire(jsDir + "/package.json")("socket.io-client");

const [baseUrl, appDir, cookie, editsArg = "50", spacingArg = "300"] = process.argv.slice(2);
if (!baseUrl || !appDir || !cookie) {
  console.error("usage: node reload.mjs <baseUrl> <appDir> <cookie> [edits] [spacingMs]");
  process.exit(2);
}
const EDITS = Number(editsArg);
const SPACING_MS = Number(spacingArg);
const POLL_MS = 2;
const EDIT_TIMEOUT_MS = 5000;

const view = join(appDir, "templates/views/index.html");
const original = readFileSync(view, "utf8");
const ANCHOR = "<h1>Welcome to";
let live;
let restored = false;

function restore() {
  if (!restored) {
    restored = true;
    writeFileSync(view, original);
  }
}
function fail(message) {
  console.error(`reload.mjs: ${message}`);
  try {
    restore();
  } catch {}
  live?.disconnect();
  process.exit(1);
}
setTimeout(() => fail("gave up after 120 s"), 120_000).unref();
process.on("SIGTERM", () => fail("terminated"));
process.on("SIGINT", () => fail("interrupted"));

if (!original.includes(ANCHOR)) fail(`${view} has no "${ANCHOR}" to mark`);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

// --- the live-reload listener -------------------------------------------------------------------
let reloads = 0;
let waiting = null; // resolves with the arrival time of the next `reload`
live = io(baseUrl + "/__keystone", { transports: ["websocket"], forceNew: true, reconnection: false });
live.on("reload", () => {
  const at = now();
  reloads++;
  if (waiting) {
    const resolve = waiting;
    waiting = null;
    resolve(at);
  }
});
live.on("diagnostics", (d) => fail(`the project is broken: ${JSON.stringify(d).slice(0, 400)}`));
live.on("disconnect", (reason) => {
  if (!restored) fail(`the live socket disconnected: ${reason}`);
});
await new Promise((resolve, reject) => {
  live.once("connect", resolve);
  live.once("connect_error", (err) => reject(err));
}).catch((err) => fail(`cannot connect to ${baseUrl}/__keystone: ${err.message}`));

function nextReload() {
  return new Promise((resolve, reject) => {
    waiting = resolve;
    setTimeout(() => reject(new Error(`no reload event within ${EDIT_TIMEOUT_MS} ms`)), EDIT_TIMEOUT_MS).unref();
  });
}

// --- polling GET / ------------------------------------------------------------------------------
let requests = 0;
async function get() {
  const response = await fetch(baseUrl + "/", { headers: { cookie }, signal: AbortSignal.timeout(EDIT_TIMEOUT_MS) });
  const body = await response.text();
  requests++;
  if (response.status !== 200) fail(`GET / answered ${response.status}`);
  return body;
}

async function untilServed(marker, t0) {
  while (now() - t0 < EDIT_TIMEOUT_MS) {
    const body = await get();
    if (body.includes(marker)) return now();
    await sleep(POLL_MS);
  }
  throw new Error(`GET / did not show ${marker} within ${EDIT_TIMEOUT_MS} ms`);
}

// Warm up the connection and the page.
for (let i = 0; i < 20; i++) await get();

// --- the edits ----------------------------------------------------------------------------------
const toReload = [];
const toServed = [];
const tag = Math.random().toString(36).slice(2, 8);
for (let i = 0; i < EDITS; i++) {
  const marker = `kbench-${tag}-${i}`;
  const edited = original.replace(ANCHOR, `<h1 data-edit="${marker}">Welcome to`);
  const reloaded = nextReload();
  const t0 = now();
  writeFileSync(view, edited);
  const [reloadAt, servedAt] = await Promise.all([reloaded, untilServed(marker, t0)]).catch((err) =>
    fail(`edit ${i + 1}: ${err.message}`),
  );
  toReload.push(reloadAt - t0);
  toServed.push(servedAt - t0);
  const rest = t0 + SPACING_MS - now();
  if (rest > 0) await sleep(rest);
}

// Put the page back (and wait until it serves) so the throughput runs load the scaffold's page.
const back = nextReload();
restore();
await back.catch((err) => fail(`restoring the template: ${err.message}`));
await sleep(100);
if (!(await get()).includes(ANCHOR)) fail("the restored template is not served");
live.disconnect();

// --- report -------------------------------------------------------------------------------------
function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
function row(name, values) {
  const s = [...values].sort((a, b) => a - b);
  const f = (v) => v.toFixed(1).padStart(7);
  console.log(`${name.padEnd(30)} ${f(pct(s, 50))} ${f(pct(s, 99))} ${f(s[s.length - 1])} ${f(s[0])}`);
  return pct(s, 50);
}
console.log(`${EDITS} edits of templates/views/index.html, ${SPACING_MS} ms apart; GET / polled every ${POLL_MS} ms`);
console.log(`${"ms".padEnd(30)} ${"p50".padStart(7)} ${"p99".padStart(7)} ${"max".padStart(7)} ${"min".padStart(7)}`);
const reloadP50 = row("edit -> reload event", toReload);
const servedP50 = row("edit -> GET / shows the edit", toServed);
console.log(`reload events: ${reloads} for ${EDITS + 1} writes (${EDITS} edits + the restore); ${requests} GETs`);
console.log(`RELOAD p50=${reloadP50.toFixed(1)} served_p50=${servedP50.toFixed(1)} reloads=${reloads} edits=${EDITS}`);
process.exit(0);
