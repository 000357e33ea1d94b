// Browser stories against a running `keystone-rs serve`, told by a real Chromium through
// playwright-core: our own /socket.io/socket.io.js client, the chat scaffold, and live reload.
//
//   node browser.mjs <scenario> <baseUrl> [path]
//
// Scenarios: hello, hello-polling (path defaults to /poll), leave-polling, chat, live-reload, css-swap, overlay,
// client (extra: websocket | polling | refused | swallowed), reconnect.
//
// The live scenarios need the caller to edit the project mid-story. They hand over with a
// line `STEP <name>` on stdout, then wait (≤ 10 s) for one line on stdin before going on:
//   live-reload: STEP edit   → caller changes the <h1> of templates/views/index.html
//   css-swap:    STEP edit   → caller makes h1 rgb(255, 0, 0) in public/styles/site.css
//   overlay:     STEP break  → caller breaks templates/views/index.html
//                STEP fix    → caller restores it
//   reconnect:   STEP restart → caller stops the server and starts it again on the same port
//   leave-polling: STEP left  → the page has gone (the browser stays up); caller checks the server
//
// Success: one JSON line on stdout with what was observed, exit 0.
// Failure: a message on stderr, exit 1. Every wait is bounded (≤ 10 s); the browser is always
// closed.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const WAIT_MS = 10000;
/** How long a whole story may take before it is called hung. */
const STORY_MS = 50000;
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const [scenario, baseUrl, extra] = process.argv.slice(2);

class StoryError extends Error {}

function fail(message) {
  throw new StoryError(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new StoryError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// The caller's hand-over: `STEP name` out, one line in.

let stdinLines = null;
const pendingLines = [];
const lineWaiters = [];

function nextStdinLine() {
  if (!stdinLines) {
    stdinLines = createInterface({ input: process.stdin });
    stdinLines.on("line", (line) => {
      const waiter = lineWaiters.shift();
      if (waiter) waiter.resolve(line);
      else pendingLines.push(line);
    });
    stdinLines.on("close", () => {
      for (const waiter of lineWaiters.splice(0)) waiter.reject(new StoryError("stdin closed before the caller went on"));
    });
  }
  if (pendingLines.length) return Promise.resolve(pendingLines.shift());
  return new Promise((resolve, reject) => lineWaiters.push({ resolve, reject }));
}

async function step(name) {
  process.stdout.write(`STEP ${name}\n`);
  await withTimeout(nextStdinLine(), WAIT_MS, `the caller to finish step "${name}" (a line on stdin)`);
}

// ---------------------------------------------------------------------------------------------
// Page helpers

/**
 * Polls `fn(arg)` in the page until it returns a truthy value, across reloads (an evaluation
 * cut short by a navigation is retried). Returns that value.
 */
async function until(page, fn, arg, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await page.evaluate(fn, arg);
      if (last) return last;
    } catch (err) {
      const msg = String(err && err.message);
      if (!/Execution context was destroyed|navigation|Cannot find context|Target closed/i.test(msg)) throw err;
      last = `(page navigating: ${msg.split("\n")[0]})`;
    }
    if (Date.now() > deadline) {
      const state = await page.evaluate(describePage).catch((err) => `(unavailable: ${err.message.split("\n")[0]})`);
      fail(`timed out after ${ms} ms waiting for ${what}; last seen: ${JSON.stringify(last)}; page: ${JSON.stringify(state)}`);
    }
    await sleep(25);
  }
}

/** What a page looks like, for failure messages. */
const describePage = () => {
  const h1 = document.querySelector("h1");
  const overlay = document.getElementById("keystone-overlay");
  return {
    url: location.pathname,
    h1: h1 ? h1.textContent : null,
    marker: window.__marker ?? null,
    liveSocket: window.__keystoneLiveSocket ? window.__keystoneLiveSocket.connected : "absent",
    overlay: overlay ? overlay.innerText.slice(0, 300) : null,
  };
};

/** Records what a page does: console lines, page errors, main-frame navigations, sockets, requests. */
function watch(page) {
  const seen = { console: [], errors: [], navigations: 0, websockets: [], socketRequests: [], badResponses: [] };
  page.on("console", (m) => seen.console.push({ type: m.type(), text: m.text() }));
  page.on("pageerror", (e) => seen.errors.push(String(e && e.message)));
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) seen.navigations += 1;
  });
  page.on("response", (res) => {
    if (res.status() >= 400) seen.badResponses.push(`${res.status()} ${new URL(res.url()).pathname}`);
  });
  page.on("websocket", (ws) => seen.websockets.push(new URL(ws.url()).pathname));
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (url.pathname.startsWith("/socket.io/") && url.searchParams.has("transport")) {
      seen.socketRequests.push(`${req.method()} ${url.searchParams.get("transport")}`);
    }
  });
  return seen;
}

const liveConnected = () => !!(window.__keystoneLiveSocket && window.__keystoneLiveSocket.connected);

/** Opens `path` and waits until the live-reload socket is connected (so no edit goes unseen). */
async function openLive(page, path = "/") {
  const response = await page.goto(baseUrl + path, { timeout: WAIT_MS });
  check(response && response.status() === 200, `GET ${path}: expected 200, got ${response && response.status()}`);
  await until(page, liveConnected, undefined, "the live-reload socket (/__keystone) to connect");
}

const navigationType = () => {
  const entry = performance.getEntriesByType("navigation")[0];
  return entry ? entry.type : null;
};

// ---------------------------------------------------------------------------------------------
// Scenarios

/** The guide's story in the browser: the console prints the session's message. */
async function hello(browser, path, transport, { stayAfterLeaving = false } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  const response = await page.goto(baseUrl + path, { timeout: WAIT_MS });
  check(response && response.status() === 200, `GET ${path}: expected 200, got ${response && response.status()}`);
  const deadline = Date.now() + WAIT_MS;
  while (!seen.console.some((m) => m.text === "Hello World")) {
    if (Date.now() > deadline) {
      fail(`no "Hello World" in the console after ${WAIT_MS} ms; console: ${JSON.stringify(seen.console)}`);
    }
    await sleep(20);
  }
  // The default scaffold shows the message on the page too (#message), not only in the console.
  if (await page.evaluate(() => !!document.getElementById("message"))) {
    await until(page, () => document.getElementById("message").textContent === "Hello World", undefined,
      "#message to show Hello World");
  }
  const state = await page.evaluate(() => ({
    pageMessage: document.getElementById("message") ? document.getElementById("message").textContent : null,
    connected: !!(window.socket && window.socket.connected),
    transport: window.socket && window.socket.io && window.socket.io.engine && window.socket.io.engine.transport
      ? window.socket.io.engine.transport.name
      : null,
  }));
  // Leave the page the way a visitor does (the browser stays up), so its goodbye — a
  // websocket close or the long-polling close packet — can go out before the context ends.
  await page.goto("about:blank", { timeout: WAIT_MS });
  // A real browser outlives the page it left; the caller says when the server has heard the
  // goodbye, so closing the context cannot cut off a keepalive request still on its way.
  if (stayAfterLeaving) await step("left");
  await context.close();
  return {
    console: seen.console.map((m) => m.text),
    // failed loads are reported by badResponses (with their path) instead
    consoleErrors: seen.console
      .filter((m) => m.type === "error" && !m.text.startsWith("Failed to load resource"))
      .map((m) => m.text),
    badResponses: seen.badResponses,
    pageErrors: seen.errors,
    connected: state.connected,
    pageMessage: state.pageMessage,
    transport: state.transport,
    expectedTransport: transport,
    websockets: seen.websockets,
    socketRequests: [...new Set(seen.socketRequests)].sort(),
  };
}

/** Two visitors pick nicknames over HTTP, then chat over their sockets. */
async function chat(browser) {
  async function join(nickname) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = watch(page);
    const response = await page.goto(baseUrl + "/", { timeout: WAIT_MS });
    check(response && response.status() === 200, `GET / as ${nickname}: got ${response && response.status()}`);
    await page.fill("input[name=nickname]", nickname, { timeout: WAIT_MS });
    await page.selectOption("select[name=room]", "general", { timeout: WAIT_MS });
    await Promise.all([
      page.waitForURL((url) => url.pathname === "/chat", { timeout: WAIT_MS }),
      page.click("form.join button[type=submit]", { timeout: WAIT_MS }),
    ]);
    await until(page, () => !!(window.socket && window.socket.connected), undefined, `${nickname}'s chat socket to connect`);
    return { context, page, seen };
  }

  // A message reads "nickname: text" (its time and the "mine" mark aside); a notice, its text.
  const lineOf = (li) =>
    li.classList.contains("message") ? `${li.querySelector(".who").textContent}: ${li.querySelector(".text").textContent}` : li.textContent;
  const messages = (page) => page.$$eval("#messages li", (items, lineOf) => items.map(new Function(`return ${lineOf}`)()), lineOf.toString());
  const mine = (page) => page.$$eval("#messages li.mine", (items) => items.map((li) => li.querySelector(".text").textContent));
  const stamped = (page) => page.$$eval("#messages li.message", (items) => items.every((li) => {
    const time = li.querySelector("time");
    return !!time && !Number.isNaN(Date.parse(time.dateTime)) && time.textContent.length > 0;
  }));
  const people = (page) => page.$$eval("#people li", (items) => items.map((li) => li.firstChild.textContent.trim()));
  async function say(page, text) {
    await page.fill("#text", text, { timeout: WAIT_MS });
    await page.press("#text", "Enter", { timeout: WAIT_MS }); // submits form#send
  }
  async function expectLine(page, who, line) {
    await until(
      page,
      ([line, lineOf]) => Array.from(document.querySelectorAll("#messages li")).some((li) => new Function(`return ${lineOf}`)()(li) === line),
      [line, lineOf.toString()],
      `${who}'s #messages to show ${JSON.stringify(line)}`,
    );
  }

  const alice = await join("alice");
  const bob = await join("bob");
  // bob's socket joined #general after alice's: alice is told.
  await expectLine(alice.page, "alice", "bob joined #general");

  await say(alice.page, "hello from alice");
  await expectLine(bob.page, "bob", "alice: hello from alice");
  await expectLine(alice.page, "alice", "alice: hello from alice");
  await say(bob.page, "hi alice");
  await expectLine(alice.page, "alice", "bob: hi alice");
  await expectLine(bob.page, "bob", "bob: hi alice");

  // Each page lists both visitors in the room.
  for (const [who, visitor] of [["alice", alice], ["bob", bob]]) {
    await until(visitor.page, () => document.querySelectorAll("#people li").length === 2, undefined, `${who}'s #people to list two`);
  }
  const seenBy = async (visitor) => ({
    url: new URL(visitor.page.url()).pathname,
    messages: await messages(visitor.page),
    mine: await mine(visitor.page),
    stamped: await stamped(visitor.page),
    people: await people(visitor.page),
    pageErrors: visitor.seen.errors,
    badResponses: visitor.seen.badResponses,
  });
  const result = { alice: await seenBy(alice), bob: await seenBy(bob) };
  // When bob leaves, alice's page stops listing him.
  await bob.context.close();
  await until(alice.page, () => document.querySelectorAll("#people li").length === 1, undefined, "alice's #people to drop bob");
  result.aliceAfterBobLeft = await people(alice.page);
  // The history is kept in the Message list: a reload shows the room's messages again.
  await alice.page.reload({ timeout: WAIT_MS });
  await until(alice.page, () => !!(window.socket && window.socket.connected), undefined, "alice's socket after the reload");
  result.aliceAfterReload = await messages(alice.page);
  await alice.context.close();
  return result;
}

/** An edit of the page's template reloads the open page, which then shows the new text. */
async function liveReload(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  await openLive(page);
  const h1Before = await page.textContent("h1", { timeout: WAIT_MS });
  await page.evaluate(() => { window.__marker = "before the edit"; });
  const navigationsBefore = seen.navigations;

  await step("edit");
  const expected = extra || "Edited live";
  const h1After = await until(
    page,
    (expected) => !window.__marker && document.querySelector("h1") && document.querySelector("h1").textContent === expected
      ? document.querySelector("h1").textContent
      : null,
    expected,
    `the page to reload by itself and show <h1>${expected}</h1>`,
  );
  const result = {
    h1Before,
    h1After,
    markerAfter: await page.evaluate(() => window.__marker ?? null),
    navigationsDuringEdit: seen.navigations - navigationsBefore,
    navigationType: await page.evaluate(navigationType),
    liveReconnected: await until(page, liveConnected, undefined, "the reloaded page's live socket"),
    pageErrors: seen.errors,
  };
  await context.close();
  return result;
}

/** A stylesheet edit is swapped in place: no reload, typed input and page state survive. */
async function cssSwap(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  await openLive(page);
  const typed = "typed before the edit";
  await page.fill("#probe", typed, { timeout: WAIT_MS });
  await page.evaluate(() => { window.__marker = "kept"; });
  const h1 = () => getComputedStyle(document.querySelector("h1")).color;
  const colorBefore = await page.evaluate(h1);
  const hrefBefore = await page.getAttribute('link[rel="stylesheet"]', "href", { timeout: WAIT_MS });
  const navigationsBefore = seen.navigations;

  await step("edit");
  const colorAfter = await until(
    page,
    () => {
      const color = getComputedStyle(document.querySelector("h1")).color;
      return color === "rgb(255, 0, 0)" ? color : null;
    },
    undefined,
    "the h1 to turn rgb(255, 0, 0) without a reload",
  );
  // Anything that would reload the page comes with the same announcement; give it a moment.
  await sleep(150);
  const result = {
    colorBefore,
    colorAfter,
    hrefBefore,
    hrefAfter: await page.getAttribute('link[rel="stylesheet"]', "href", { timeout: WAIT_MS }),
    inputAfter: await page.inputValue("#probe", { timeout: WAIT_MS }),
    markerAfter: await page.evaluate(() => window.__marker ?? null),
    navigationsDuringEdit: seen.navigations - navigationsBefore,
    navigationType: await page.evaluate(navigationType),
    pageErrors: seen.errors,
  };
  await context.close();
  return result;
}

/** A broken template shows the diagnostic overlay on the open page; the fix reloads it away. */
async function overlay(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  await openLive(page);
  const overlayBefore = await page.evaluate(() => !!document.getElementById("keystone-overlay"));

  await step("break");
  const overlayText = await until(
    page,
    () => {
      const node = document.getElementById("keystone-overlay");
      return node ? node.innerText : null;
    },
    undefined,
    "#keystone-overlay to appear",
  );
  const navigationsBeforeFix = seen.navigations; // 1: the first load only
  const look = await page.evaluate(() => {
    const node = document.getElementById("keystone-overlay");
    const underline = node.querySelector(".keystone-underline");
    const frame = node.querySelector(".keystone-frame");
    const location = node.querySelector(".keystone-location");
    return {
      background: getComputedStyle(node).backgroundColor,
      frame: frame ? frame.textContent : null,
      underline: underline ? underline.textContent : null,
      editorHref: location && location.href ? location.href : null,
    };
  });
  await page.keyboard.press("Escape");
  const overlayAfterEsc = await page.evaluate(() => !!document.getElementById("keystone-overlay"));
  await page.evaluate(() => { window.__marker = "while broken"; });

  await step("fix");
  await until(
    page,
    () => !window.__marker && document.readyState !== "loading" && !document.getElementById("keystone-overlay"),
    undefined,
    "the page to reload with the overlay gone",
  );
  await until(page, liveConnected, undefined, "the reloaded page's live socket");
  // A page that connects while the project is still broken gets the diagnostics again: make
  // sure none arrive.
  await sleep(150);
  const result = {
    overlayBefore,
    overlayText,
    look,
    overlayAfterEsc,
    navigationsBeforeFix,
    navigationsAfterFix: seen.navigations - navigationsBeforeFix,
    navigationType: await page.evaluate(navigationType),
    overlayAfterFix: await page.evaluate(() => !!document.getElementById("keystone-overlay")),
    h1AfterFix: await page.textContent("h1", { timeout: WAIT_MS }),
    pageErrors: seen.errors,
  };
  await context.close();
  return result;
}

/**
 * Sign-in in a tab with an open socket (secure_app): the server renews the old session's
 * sockets; our client reconnects at once, and the browser's new cookie lands it in the new
 * session, the live-reload namespace sharing its connection included.
 */
async function signIn(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  await openLive(page);
  await until(page, () => !!(window.socket && window.socket.connected), undefined, "the page's socket to connect");
  const ask = () => new Promise((resolve) => window.socket.timeout(5000).emit("whoami", null, (err, user) => resolve(err ? `error: ${err.message}` : user)));
  const before = await page.evaluate(ask);
  await page.evaluate(() => {
    window.__renewed = false;
    window.__oldId = window.socket.id;
    window.socket.on("session:renew", () => { window.__renewed = true; });
  });
  const status = await page.evaluate(() =>
    fetch("/signin", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "ada" }) }).then((r) => r.status),
  );
  check(status === 200, `POST /signin: ${status}`);
  await until(page, () => window.__renewed && window.socket.connected && window.socket.id !== window.__oldId, undefined, "the socket to reconnect after session:renew");
  const after = await page.evaluate(ask);
  await until(page, liveConnected, undefined, "the live-reload socket to come back");
  const result = { before, renewed: await page.evaluate(() => window.__renewed), after, liveConnected: true, pageErrors: seen.errors };
  await context.close();
  return result;
}

/**
 * What our client does on a page that only loads it (/client), asked of an app with `echo`
 * and `bytes` on "/" and `echo:chat` and `welcome` on "/chat": an emit made before the connection is
 * open, binary from the browser (alone and nested), emitWithAck, an ack that never comes (timeout),
 * a second namespace over the same connection. `mode` picks the transport: websocket,
 * polling (transports: ["polling"]), refused (the browser's WebSocket closes at once) or
 * swallowed (it opens but nothing ever arrives, as behind a proxy that eats the upgrade):
 * both of the last fall back to long-polling.
 */
async function clientFeatures(browser, mode) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  if (mode === "refused") await page.routeWebSocket(/\/socket\.io\//, (ws) => ws.close());
  if (mode === "swallowed") await page.routeWebSocket(/\/socket\.io\//, () => {});
  const response = await page.goto(baseUrl + "/client", { timeout: WAIT_MS });
  check(response && response.status() === 200, `GET /client: ${response && response.status()}`);
  const observed = await withTimeout(page.evaluate(async (mode) => {
    const socket = (window.socket = io(mode === "polling" ? { transports: ["polling"] } : {}));
    const ack = (s, event, ...args) => new Promise((resolve) =>
      s.timeout(8000).emit(event, ...args, (err, reply) => resolve(err ? `error: ${err.message}` : reply)));
    const out = { connectedAtFirst: socket.connected };
    const early = ack(socket, "echo", "sent before the connection opened");
    await new Promise((resolve) => socket.once("connect", resolve));
    out.early = await early;
    out.transport = socket.io.engine.transport.name;
    // the server answers with the bytes it got, as numbers
    out.binary = await ack(socket, "bytes", new Uint8Array([0, 1, 2, 255]));
    out.nested = await ack(socket, "nested bytes", { name: "file", parts: [new Uint8Array([7, 8]).buffer, "text"] });
    out.withAck = await socket.timeout(8000).emitWithAck("echo", { list: [1, "two", null] });
    out.unanswered = await new Promise((resolve) => socket.timeout(200).emit("nobody answers this", 1, (err) => resolve(err ? err.message : "answered")));
    const chat = io("/chat");
    out.welcome = await new Promise((resolve) => chat.on("welcome", resolve));
    out.chatEcho = await ack(chat, "echo:chat", "over /chat");
    out.sharedConnection = chat.io === socket.io;
    out.stillConnected = socket.connected && chat.connected;
    return out;
  }, mode), STORY_MS - 10000, "the client's features");
  const result = { ...observed, websockets: seen.websockets, socketRequests: [...new Set(seen.socketRequests)].sort(), pageErrors: seen.errors, badResponses: seen.badResponses };
  await page.goto("about:blank", { timeout: WAIT_MS });
  await context.close();
  return result;
}

/** The server goes away and comes back: the socket reconnects by itself, with what was emitted meanwhile. */
async function reconnect(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  const response = await page.goto(baseUrl + "/client", { timeout: WAIT_MS });
  check(response && response.status() === 200, `GET /client: ${response && response.status()}`);
  await page.evaluate(() => {
    const socket = (window.socket = io());
    window.seen = [];
    socket.on("connect", () => window.seen.push("connect"));
    socket.io.on("reconnect", (attempts) => window.seen.push(attempts > 0 ? "reconnect" : "reconnect without attempts"));
    socket.on("disconnect", (reason) => {
      window.seen.push(`disconnect: ${reason}`);
      // emitted while disconnected: buffered, sent once connected again
      socket.emit("echo", "sent while disconnected", (reply) => { window.meanwhile = reply; });
    });
  });
  await until(page, () => window.socket.connected, undefined, "the socket to connect");
  const firstId = await page.evaluate(() => window.socket.id);
  await step("restart");
  await until(page, (firstId) => window.socket.connected && window.socket.id !== firstId && window.meanwhile,
    firstId, "the socket to reconnect and the buffered emit's ack", 20000);
  const result = { seen: await page.evaluate(() => window.seen), meanwhile: await page.evaluate(() => window.meanwhile), pageErrors: seen.errors };
  await context.close();
  return result;
}

const SCENARIOS = {
  "sign-in": signIn,
  hello: (browser) => hello(browser, extra || "/", "websocket"),
  "hello-polling": (browser) => hello(browser, extra || "/poll", "polling"),
  "leave-polling": (browser) => hello(browser, extra || "/poll", "polling", { stayAfterLeaving: true }),
  chat,
  "live-reload": liveReload,
  "css-swap": cssSwap,
  overlay,
  client: (browser) => clientFeatures(browser, extra || "websocket"),
  reconnect,
};

// ---------------------------------------------------------------------------------------------

async function main() {
  const run = SCENARIOS[scenario];
  if (!run || !baseUrl) {
    console.error(`usage: node browser.mjs <${Object.keys(SCENARIOS).join("|")}> <baseUrl> [extra]`);
    return 2;
  }
  let browser = null;
  const hung = setTimeout(async () => {
    console.error(`browser.mjs ${scenario}: story hung for ${STORY_MS} ms`);
    if (browser) await browser.close().catch(() => {});
    process.exit(1);
  }, STORY_MS);
  try {
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS, timeout: WAIT_MS });
    const observed = await run(browser);
    process.stdout.write(JSON.stringify({ scenario, ...observed }) + "\n");
    return 0;
  } catch (err) {
    console.error(`browser.mjs ${scenario} failed: ${err instanceof StoryError ? err.message : (err && err.stack) || err}`);
    return 1;
  } finally {
    clearTimeout(hung);
    if (browser) await browser.close().catch(() => {});
    if (stdinLines) stdinLines.close();
  }
}

process.exitCode = await main();
process.exit(process.exitCode);
