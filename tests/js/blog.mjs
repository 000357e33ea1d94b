// The blog scaffold's live posts, in a real Chromium: posts published, edited and archived
// while the blog index or the home page is open reach it without a reload.
//
//   node blog.mjs <pageUrl>
//
// Prints one JSON line per step, then waits for one line on stdin (the caller's change):
//   {"step":"ready"}      page loaded          → caller publishes a new post, sends a line
//   {"step":"shown",…}    bar clicked, shown   → caller renames a post on the page
//   {"step":"edited",…}   the title changed    → caller archives a post on the page
//   {"step":"withdrawn",…} its card left
// On a post page (/blog/post/…) the same three changes, where the post shown is the one
// renamed, then archived:
//   {"step":"ready"} → {"step":"shown", notice} (another post came out: no notice)
//   → {"step":"edited", notice, href} → {"step":"withdrawn", notice, href, reloaded, errors}
// Failure: a message on stderr, exit 1. Every wait is bounded; the browser is always closed.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const WAIT_MS = 10000;
const [pageUrl] = process.argv.slice(2);
setTimeout(() => {
  console.error("blog.mjs: hung");
  process.exit(1);
}, 60000).unref();

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function handOver(step, details = {}) {
  console.log(JSON.stringify({ step, ...details }));
  const next = await lines.next();
  if (next.done) throw new Error(`stdin closed after step ${step}`);
}

const titles = () => [...document.querySelectorAll("#posts .post-card h2 a")].map((a) => a.textContent);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
let status = 0;
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e && e.message)));
  await page.goto(pageUrl, { waitUntil: "load", timeout: WAIT_MS });
  // Gone if the page reloads.
  await page.evaluate(() => { window.__marker = "same page"; });
  const reloaded = async () => (await page.evaluate(() => window.__marker)) !== "same page";

  await handOver("ready");
  if (new URL(pageUrl).pathname.startsWith("/blog/post/")) await postPage(page, reloaded, errors);
  else await indexPage(page, reloaded, errors);
} catch (err) {
  console.error(`blog.mjs: ${err && err.stack ? err.stack : err}`);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);

/** The index's story: new posts wait under a bar, shown ones follow their edits and leave. */
async function indexPage(page, reloaded, errors) {
  await page.waitForSelector("#new-posts:not([hidden])", { timeout: WAIT_MS });
  const bar = await page.textContent("#new-posts button");
  await page.click("#new-posts button");
  await page.waitForSelector("#posts .post-card.is-new", { timeout: WAIT_MS });
  const first = await page.evaluate(() => {
    const card = document.querySelector("#posts .post-card");
    const link = card.querySelector("h2 a");
    return {
      first: link.textContent,
      href: link.getAttribute("href"),
      brief: card.querySelector(".brief").innerHTML,
      cards: document.querySelectorAll("#posts .post-card").length,
    };
  });
  const focused = await page.evaluate(() => document.activeElement.classList.contains("is-new"));
  // What the page shows before the caller's next change.
  const before = await page.evaluate(titles);
  await handOver("shown", { bar, ...first, focused, reloaded: await reloaded() });

  const changed = await page.waitForFunction(
    (before) => {
      const now = [...document.querySelectorAll("#posts .post-card h2 a")].map((a) => a.textContent);
      return now.length === before.length && now.find((t) => !before.includes(t));
    },
    before,
    { timeout: WAIT_MS },
  );
  const count = (await page.evaluate(titles)).length;
  await handOver("edited", { title: await changed.jsonValue(), reloaded: await reloaded() });

  await page.waitForFunction(
    (count) => document.querySelectorAll("#posts .post-card").length === count - 1,
    count,
    { timeout: WAIT_MS },
  );
  const bar_hidden = await page.evaluate(() => document.getElementById("new-posts").hidden);
  console.log(JSON.stringify({ step: "withdrawn", reloaded: await reloaded(), bar_hidden, errors }));
}

/** The post page's story: a notice when its post changes or is taken down, never a reload. */
async function postPage(page, reloaded, errors) {
  const notice = () => page.evaluate(() => {
    const bar = document.getElementById("post-changed");
    return { hidden: bar.hidden, text: bar.querySelector("p").textContent, href: bar.querySelector("a").getAttribute("href") };
  });
  // Another post came out: this page has nothing to say about it.
  await handOver("shown", { notice: await notice() });
  await page.waitForSelector("#post-changed:not([hidden])", { timeout: WAIT_MS });
  await handOver("edited", { notice: await notice() });
  await page.waitForFunction(() => /taken down/.test(document.querySelector("#post-changed p").textContent),
    null, { timeout: WAIT_MS });
  console.log(JSON.stringify({ step: "withdrawn", notice: await notice(), reloaded: await reloaded(), errors }));
}
