// Visitors signing in, against a running `keystone-rs serve` of tests/fixtures/valid/users_app:
// `sockets` with the official socket.io-client (socket.user across sign-in and sign-out),
// `browser` in headless Chromium (a guarded page → sign-in → back on the page).
//
//   node users.mjs <sockets|browser> <baseUrl> <email> <password>
//
// Success: one JSON line of observations, exit 0. Failure: a message on stderr, exit 1.
import { io } from "socket.io-client";
import { chromium } from "playwright-core";

const [scenario, baseUrl, email, password] = process.argv.slice(2);
const WAIT = 10000;
setTimeout(() => fail(`scenario ${scenario} hung`), 90000).unref();

function fail(message) {
  console.error(`users.mjs ${scenario}: ${message}`);
  process.exit(1);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function http(method, path, { cookie, form } = {}) {
  const headers = {};
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(form).toString();
  }
  const response = await fetch(baseUrl + path, { method, headers, body, redirect: "manual" });
  const cookies = response.headers.getSetCookie().map((c) => c.split(";")[0]);
  const text = await response.text();
  const fresh = cookies.filter((c) => c.startsWith("keystone.sid=") && c !== "keystone.sid=").pop();
  return { status: response.status, cookie: fresh, text };
}

/** The home page's CSRF token (and a session cookie when the visitor had none). */
async function home(cookie) {
  const res = await http("GET", "/", { cookie });
  const token = /<p id="token">([0-9a-f]+)<\/p>/.exec(res.text);
  if (!token) fail(`no token on /: ${res.text}`);
  return { cookie: res.cookie ?? cookie, token: token[1] };
}

function connect(cookie) {
  const socket = io(baseUrl, { transports: ["websocket"], extraHeaders: { cookie }, reconnection: false, forceNew: true });
  socket.seen = [];
  socket.onAny((event) => socket.seen.push(event));
  socket.on("disconnect", (reason) => socket.seen.push(`disconnect:${reason}`));
  return new Promise((resolve, reject) => {
    socket.on("connect", () => resolve(socket));
    socket.on("connect_error", reject);
  });
}

async function waitFor(socket, prefix) {
  const start = Date.now();
  while (Date.now() - start < WAIT) {
    const found = socket.seen.find((e) => e.startsWith(prefix));
    if (found) return found;
    await sleep(10);
  }
  fail(`never saw ${prefix}; saw ${JSON.stringify(socket.seen)}`);
}

const whoami = (socket) => socket.timeout(WAIT).emitWithAck("whoami", null);

const scenarios = {
  async sockets() {
    const visitor = await home();
    const early = await connect(visitor.cookie);
    const before = await whoami(early);
    const signin = await http("POST", "/signin", {
      cookie: visitor.cookie,
      form: { csrf_token: visitor.token, email, password },
    });
    if (signin.status !== 302 || !signin.cookie) fail(`sign-in: ${signin.status} ${signin.text}`);
    await waitFor(early, "session:renew");
    await waitFor(early, "disconnect:");
    // What our client does on session:renew: reconnect, now with the new cookie.
    const renewed = await connect(signin.cookie);
    const after = await whoami(renewed);
    // socket.user is read at each event: a rename over HTTP shows on the same socket at once.
    const named = await renewed.timeout(WAIT).emitWithAck("my name", null);
    const token = (await home(signin.cookie)).token;
    const rename = await http("POST", "/rename", { cookie: signin.cookie, form: { csrf_token: token, name: "Ada L." } });
    if (rename.status !== 200) fail(`rename: ${rename.status} ${rename.text}`);
    const renamed = await renewed.timeout(WAIT).emitWithAck("my name", null);
    const page = await home(signin.cookie);
    const signout = await http("POST", "/signout", { cookie: signin.cookie, form: { csrf_token: page.token } });
    if (signout.status !== 302) fail(`sign-out: ${signout.status} ${signout.text}`);
    await waitFor(renewed, "session:end");
    const disconnected = (await waitFor(renewed, "disconnect:")).slice("disconnect:".length);
    return { before, renewed: true, after, names: [named, renamed], ended: true, disconnected };
  },

  async browser() {
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
      timeout: WAIT,
    });
    try {
      const page = await browser.newPage();
      const pageErrors = [];
      page.on("pageerror", (e) => pageErrors.push(String(e && e.message)));
      const where = () => {
        const url = new URL(page.url());
        return url.pathname + url.search;
      };
      await page.goto(baseUrl + "/private?tab=2");
      const redirectedTo = where();
      await page.fill("#email", email);
      await page.fill("#password", password);
      await Promise.all([page.waitForURL((url) => url.pathname === "/private"), page.click("#submit")]);
      const landedOn = where();
      const hello = await page.textContent("#hello");
      await page.goto(baseUrl + "/");
      await page.waitForFunction(() => window.socketUser !== undefined, null, { timeout: WAIT });
      const socketUser = await page.evaluate(() => window.socketUser);
      return { redirectedTo, landedOn, hello, socketUser, pageErrors };
    } finally {
      await browser.close();
    }
  },
};

const run = scenarios[scenario];
if (!run) fail(`unknown scenario; one of ${Object.keys(scenarios).join(", ")}`);
run().then(
  (seen) => {
    process.stdout.write(JSON.stringify(seen) + "\n");
    process.exit(0);
  },
  (err) => fail(err && err.stack ? err.stack : String(err)),
);
