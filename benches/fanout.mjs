// Broadcast fan-out of `keystone-rs serve`, for fanout.sh. Uses the official socket.io-client
// installed under tests/js.
//
//   node benches/fanout.mjs <label> <receivers> <messages> <ratePerSecond> <workers> <url> [url...]
//
// Connects <receivers> sockets (websocket, forceNew), spread evenly over the urls in turn and
// held by <workers> worker threads (one client event loop decoding every delivery would itself
// be the bottleneck), plus one sender on the first url, to an app whose socket `shout` handler
// broadcasts `shouted` to everyone else (tests/fixtures/valid/cluster_app). After one warm-up
// shout that must reach every receiver, the sender emits <messages> shouts at a fixed rate,
// each carrying its send time (a monotonic clock shared by all threads); every receiver records
// now - send time. Prints deliveries/s (deliveries over the time from the first send to the last
// delivery) and latency percentiles, then a machine-readable `FANOUT` line. Exits 1 on a failed
// connect, a disconnect, a warm-up that does not reach everyone, or missing deliveries.
// Gives up after 180 s.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const jsDir = process.env.KEYSTONE_JS_DIR ?? fileURLToPath(new URL("../tests/js/", import.meta.url));
const { io } = createRequire(jsDir + "/package.json")("socket.io-client");

const BATCH = 100;
const WAIT_MS = 15_000;
const DRAIN_MS = 15_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Milliseconds on CLOCK_MONOTONIC, the same in every thread. */
const now = () => Number(process.hrtime.bigint()) / 1e6;

if (isMainThread) {
  await main();
} else {
  await receiver();
}

// --- a worker: holds receivers [first, last) -----------------------------------------------------
async function receiver() {
  const { urls, first, last, messages } = workerData;
  const count = last - first;
  const latencies = new Float64Array(count * messages);
  const seen = new Uint8Array(count * messages);
  const firstArrival = new Float64Array(messages).fill(Infinity);
  const lastArrival = new Float64Array(messages).fill(-Infinity);
  let delivered = 0;
  let unexpected = 0;
  let warmups = 0;
  let lastDelivery = 0;
  let finished = false;
  let elu = null;
  const sockets = [];
  const post = (message) => parentPort.postMessage(message);

  function open(index) {
    const url = urls[index % urls.length];
    const local = index - first;
    return new Promise((resolve, reject) => {
      const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: WAIT_MS });
      sockets.push(socket);
      socket.once("msg", () => resolve(socket));
      socket.once("connect_error", (err) => reject(new Error(`connect_error on ${url}: ${err.message}`)));
      socket.on("disconnect", (reason) => {
        if (!finished) post({ error: `receiver ${index} on ${url} disconnected: ${reason}` });
      });
      socket.on("shouted", (data) => {
        const at = now();
        if (data?.warmup) {
          if (++warmups === count) post({ warm: true });
          return;
        }
        const i = data?.i;
        const slot = local * messages + i;
        if (!Number.isInteger(i) || i < 0 || i >= messages || seen[slot]) {
          unexpected++;
          return;
        }
        seen[slot] = 1;
        const latency = at - data.t;
        latencies[delivered++] = latency;
        if (latency < firstArrival[i]) firstArrival[i] = latency;
        if (latency > lastArrival[i]) lastArrival[i] = latency;
        lastDelivery = at;
        if (delivered === count * messages) post({ done: true });
      });
    });
  }

  parentPort.on("message", (message) => {
    if (message === "measure") {
      elu = performance.eventLoopUtilization();
    } else if (message === "report") {
      finished = true;
      const busy = elu ? performance.eventLoopUtilization(elu).utilization : NaN;
      for (const s of sockets) s.disconnect();
      post({ report: { delivered, unexpected, lastDelivery, busy, latencies: latencies.slice(0, delivered), firstArrival, lastArrival } });
      setTimeout(() => process.exit(0), 100);
    }
  });

  try {
    for (let done = first; done < last; done += BATCH) {
      const batch = [];
      for (let i = done; i < Math.min(done + BATCH, last); i++) batch.push(open(i));
      await Promise.all(batch);
    }
    post({ ready: true });
  } catch (err) {
    post({ error: err.message });
  }
}

// --- the main thread: workers, the sender, the report --------------------------------------------
async function main() {
  const [label, receiversArg, messagesArg, rateArg, workersArg, ...urls] = process.argv.slice(2);
  if (!label || urls.length === 0) {
    console.error("usage: node fanout.mjs <label> <receivers> <messages> <ratePerSecond> <workers> <url> [url...]");
    process.exit(2);
  }
  const RECEIVERS = Number(receiversArg);
  const MESSAGES = Number(messagesArg);
  const RATE = Number(rateArg);
  const WORKERS = Math.max(1, Math.min(Number(workersArg), RECEIVERS));

  let sender;
  const workers = [];
  let failed = false;
  function fail(message) {
    if (failed) return;
    failed = true;
    console.error(`fanout.mjs ${label}: ${message}`);
    sender?.disconnect();
    for (const w of workers) w.terminate();
    setTimeout(() => process.exit(1), 200).unref();
  }
  setTimeout(() => fail("gave up after 180 s"), 180_000).unref();
  process.on("SIGTERM", () => fail("terminated"));
  process.on("SIGINT", () => fail("interrupted"));

  // Every worker message lands in `inbox[kind]` as a count / list.
  const counts = { ready: 0, warm: 0, done: 0 };
  const reports = [];
  const connectStart = now();
  for (let w = 0; w < WORKERS; w++) {
    const first = Math.floor((w * RECEIVERS) / WORKERS);
    const last = Math.floor(((w + 1) * RECEIVERS) / WORKERS);
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { urls, first, last, messages: MESSAGES } });
    worker.on("message", (m) => {
      if (m.error) fail(m.error);
      for (const kind of ["ready", "warm", "done"]) if (m[kind]) counts[kind]++;
      if (m.report) reports.push(m.report);
    });
    worker.on("error", (err) => fail(`worker ${w}: ${err.stack || err}`));
    workers.push(worker);
  }
  async function until(kind, ms) {
    for (const start = now(); counts[kind] < WORKERS && now() - start < ms && !failed; ) await sleep(5);
    return counts[kind] === WORKERS;
  }
  const hang = () => new Promise(() => {});

  if (!(await until("ready", 60_000))) {
    fail(`only ${counts.ready}/${WORKERS} workers connected their receivers within 60 s`);
    await hang();
  }
  sender = io(urls[0], { transports: ["websocket"], forceNew: true, reconnection: false, timeout: WAIT_MS });
  await new Promise((resolve, reject) => {
    sender.once("msg", resolve);
    sender.once("connect_error", reject);
  }).catch((err) => fail(`sender: ${err.message}`));
  sender.on("disconnect", (reason) => {
    if (reports.length < WORKERS) fail(`the sender disconnected: ${reason}`);
  });
  const connectMs = now() - connectStart;

  // Warm-up: one shout must reach every receiver.
  const ack = await sender
    .timeout(WAIT_MS)
    .emitWithAck("shout", { warmup: true })
    .catch((err) => fail(`warm-up shout: ${err.message}`));
  if (ack !== true) fail(`warm-up shout answered ${JSON.stringify(ack)}`);
  if (!(await until("warm", WAIT_MS))) fail(`the warm-up shout did not reach every receiver`);
  if (failed) await hang();
  await sleep(500);

  // The measured shouts, at a fixed rate.
  for (const w of workers) w.postMessage("measure");
  const interval = 1000 / RATE;
  const firstSend = now();
  let lateSends = 0;
  for (let i = 0; i < MESSAGES && !failed; i++) {
    const due = firstSend + i * interval;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    if (now() - due > interval / 2) lateSends++;
    sender.emit("shout", { i, t: now() });
  }
  const lastSend = now();
  await until("done", DRAIN_MS);
  if (failed) await hang();
  for (const w of workers) w.postMessage("report");
  for (const start = now(); reports.length < WORKERS && now() - start < WAIT_MS; ) await sleep(5);
  if (reports.length < WORKERS) fail("workers did not report");
  if (failed) await hang();
  sender.disconnect();

  // Report.
  const expected = RECEIVERS * MESSAGES;
  const delivered = reports.reduce((n, r) => n + r.delivered, 0);
  const unexpected = reports.reduce((n, r) => n + r.unexpected, 0);
  const lastDelivery = Math.max(...reports.map((r) => r.lastDelivery));
  const all = new Float64Array(delivered);
  let at = 0;
  for (const r of reports) {
    all.set(r.latencies, at);
    at += r.latencies.length;
  }
  all.sort();
  const firstArrival = new Float64Array(MESSAGES).fill(Infinity);
  const lastArrival = new Float64Array(MESSAGES).fill(-Infinity);
  for (const r of reports) {
    for (let i = 0; i < MESSAGES; i++) {
      firstArrival[i] = Math.min(firstArrival[i], r.firstArrival[i]);
      lastArrival[i] = Math.max(lastArrival[i], r.lastArrival[i]);
    }
  }
  const pick = (sorted, p) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : NaN;
  const pct = (p) => pick(all, p);
  const perShout = (values, p) => pick(values.filter(Number.isFinite).sort(), p);
  const span = (lastDelivery > 0 ? lastDelivery : now()) - firstSend;
  const perSecond = delivered / (span / 1000);
  const busiest = Math.max(...reports.map((r) => r.busy));
  const f = (v) => v.toFixed(1);
  console.log(
    `${label}: ${RECEIVERS} receivers over ${urls.length} node(s) in ${WORKERS} client threads ` +
      `(connected in ${f(connectMs / 1000)} s), ${MESSAGES} shouts at ${RATE}/s ` +
      `(sent over ${f((lastSend - firstSend) / 1000)} s, ${lateSends} late)`,
  );
  console.log(
    `  delivered ${delivered}/${expected} (${expected - delivered} missing, ${unexpected} unexpected) ` +
      `in ${f(span / 1000)} s: ${Math.round(perSecond)} deliveries/s`,
  );
  console.log(
    `  latency ms: p50 ${f(pct(50))}  p90 ${f(pct(90))}  p99 ${f(pct(99))}  max ${f(pct(100))}` +
      `  (busiest client thread ${Math.round(100 * busiest)}% busy)`,
  );
  console.log(
    `  per shout (p50 over shouts): first receiver ${f(perShout(firstArrival, 50))} ms, ` +
      `last receiver ${f(perShout(lastArrival, 50))} ms`,
  );
  console.log(
    `FANOUT label=${label} delivered=${delivered} expected=${expected} unexpected=${unexpected} ` +
      `per_s=${Math.round(perSecond)} p50=${f(pct(50))} p99=${f(pct(99))} max=${f(pct(100))}`,
  );
  setTimeout(() => process.exit(delivered === expected && unexpected === 0 ? 0 : 1), 200);
}
