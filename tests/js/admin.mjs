// The Admin UI in Chromium, two admins side by side:
//   node admin.mjs <baseUrl>
// Ada signs in, creates a post with an author (relationship picker, keyboard), edits it
// (a category, markdown preview, state), and Grace's open list page follows live; Grace's
// open edit page warns of Ada's newer save and her own save asks before overwriting; Ada
// deletes the post; Grace signs out in another tab and her open page's socket is let go;
// Ada, in Tokyo, enters a datetime in her time zone and it is stored in UTC.
// Prints "admin.mjs: ok" and exits 0, or says what failed on stderr and exits 1.
import { chromium } from "playwright-core";

const [base] = process.argv.slice(2);
const WAIT = 10000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const step = (what) => console.log("step:", what);
try {
  const signIn = async (email, password, options = {}) => {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    await page.goto(base + "/keystone/");
    await page.waitForURL(/\/keystone\/signin/, { timeout: WAIT });
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(base + "/keystone/", { timeout: WAIT });
    return { context, page };
  };
  step("sign in");
  const ada = await signIn("admin@example.com", "admin-password");
  const grace = await signIn("grace@example.com", "grace-password");
  await grace.page.goto(base + "/keystone/Post");
  await grace.page.waitForSelector("body[data-live=watching]", { timeout: WAIT });

  step("create with an author chosen by keyboard");
  const a = ada.page;
  await a.goto(base + "/keystone/Post/new");
  await a.getByLabel("Title").fill("Browser post");
  await a.locator("#field-author-search").fill("Ada");
  await a.waitForSelector("#field-author-options li[role=option]", { timeout: WAIT });
  await a.locator("#field-author-search").press("Enter");
  await a.waitForSelector("[data-name=author] .chip >> text=Ada Admin", { timeout: WAIT });
  await a.getByRole("button", { name: "Create" }).click();
  await a.waitForSelector(".flash-success >> text=Created Post", { timeout: WAIT });
  const itemUrl = a.url();

  step("Grace's list page shows it without a reload");
  await grace.page.waitForSelector("#results >> text=Browser post", { timeout: WAIT });

  step("edit: a category, markdown preview, state");
  await a.locator("#field-categories-search").fill("New");
  await a.waitForSelector("#field-categories-options li[role=option] >> text=News", { timeout: WAIT });
  await a.click("#field-categories-options li[role=option] >> text=News");
  await a.locator("#field-brief").fill("Some **bold** words");
  await a.getByRole("tab", { name: "Preview" }).click();
  await a.waitForSelector("[data-markdown] .preview strong >> text=bold", { timeout: WAIT });
  await a.getByRole("tab", { name: "Write" }).click();
  await a.selectOption("#field-state", "published");
  await a.locator(".form-actions button[type=submit]").click();
  await a.waitForSelector(".flash-success >> text=Saved", { timeout: WAIT });
  await a.waitForSelector("[data-name=categories] .chip >> text=News", { timeout: WAIT });
  await grace.page.waitForSelector("#results td >> text=published", { timeout: WAIT });

  step("conflict warning");
  const g = grace.page;
  await g.goto(itemUrl);
  await g.waitForSelector("body[data-live=watching]", { timeout: WAIT });
  await a.reload();
  await a.getByLabel("Title").fill("Ada's title");
  await a.locator(".form-actions button[type=submit]").click();
  await a.waitForSelector(".flash-success >> text=Saved", { timeout: WAIT });
  await g.waitForSelector("#changed-banner:not([hidden])", { timeout: WAIT });
  await g.getByLabel("Title").fill("Grace's title");
  await g.locator(".form-actions button[type=submit]").click();
  await g.waitForSelector("#form-error >> text=Someone saved this item after you opened it", { timeout: WAIT });
  if ((await g.getByLabel("Title").inputValue()) !== "Grace's title") throw new Error("Grace's changes were lost");
  await g.getByRole("button", { name: "Save mine anyway" }).click();
  await g.waitForSelector(".flash-success >> text=Saved “Grace's title”", { timeout: WAIT });

  step("delete with confirmation");
  await a.goto(itemUrl + "/delete");
  await a.getByRole("button", { name: "Delete" }).click();
  await a.waitForSelector(".flash-success >> text=Deleted", { timeout: WAIT });
  if (await a.locator("#results >> text=Grace's title").count()) throw new Error("the post is still listed");

  step("sign-out in another tab lets the open page's socket go");
  await g.goto(base + "/keystone/Post");
  await g.waitForSelector("body[data-live=watching]", { timeout: WAIT });
  const other = await grace.context.newPage();
  await other.goto(base + "/keystone/");
  await other.getByRole("button", { name: "Sign out" }).click();
  await other.waitForURL(/\/keystone\/signin/, { timeout: WAIT });
  await g.waitForSelector("body[data-live=ended], body[data-live=disconnected]", { timeout: WAIT });
  const refused = await g.evaluate(async () => (await fetch(location.href, { redirect: "manual" })).type);
  if (refused !== "opaqueredirect") throw new Error("still signed in after sign-out: " + refused);
  step("datetimes in the reader's time zone, stored in UTC");
  const tokyo = (await signIn("admin@example.com", "admin-password", { timezoneId: "Asia/Tokyo" })).page;
  await tokyo.goto(base + "/keystone/Post/new");
  await tokyo.getByLabel("Title").fill("Tokyo morning");
  await tokyo.getByRole("button", { name: "Create" }).click();
  await tokyo.waitForSelector(".flash-success >> text=Created Post", { timeout: WAIT });
  const zoneNote = await tokyo.locator("#field-published_at ~ .zone-note").textContent();
  if (zoneNote !== "Asia/Tokyo") throw new Error("the datetime field names the zone: " + zoneNote);
  await tokyo.locator("#field-published_at").fill("2024-03-01T09:30");
  await tokyo.locator(".form-actions button[type=submit]").click();
  await tokyo.waitForSelector(".flash-success >> text=Saved", { timeout: WAIT });
  const shown = await tokyo.locator("#field-published_at").inputValue();
  if (shown !== "2024-03-01T09:30") throw new Error("the saved time reads back in Tokyo time: " + shown);
  const raw = await (await tokyo.request.get(tokyo.url())).text();
  if (!raw.includes('value="2024-03-01T00:30"')) throw new Error("stored as 00:30 UTC (09:30 in Tokyo)");
  await tokyo.goto(base + "/keystone/Post");
  const cell = tokyo.locator("tr", { hasText: "Tokyo morning" }).locator("time.local-time");
  const cellText = await cell.textContent();
  if (cellText !== "2024-03-01 09:30") throw new Error("the list shows Tokyo time: " + cellText);
  // 08:00 on 1 March in Tokyo is still 29 February in UTC: a filter from 1 March (Tokyo's
  // midnight) finds it, where one from UTC's midnight would not.
  await tokyo.goBack();
  await tokyo.locator("#field-published_at").fill("2024-03-01T08:00");
  await tokyo.locator(".form-actions button[type=submit]").click();
  await tokyo.waitForSelector(".flash-success >> text=Saved", { timeout: WAIT });
  await tokyo.goto(base + "/keystone/Post");
  await tokyo.locator("details.filters summary").click();
  await tokyo.locator("#f-published_at").fill("2024-03-01");
  await tokyo.getByRole("button", { name: "Apply filters" }).click();
  await tokyo.waitForURL(/f\.published_at=2024-02-29T15%3A00%3A00\.000Z/, { timeout: WAIT });
  if (!(await tokyo.locator("#results >> text=Tokyo morning").count())) throw new Error("the filter from Tokyo's 1 March missed the post");
  const day = await tokyo.locator("#f-published_at").inputValue();
  if (day !== "2024-03-01") throw new Error("the filter shows Tokyo's day: " + day);

  console.log("admin.mjs: ok");
} catch (err) {
  console.error("admin.mjs:", err.message);
  process.exitCode = 1;
} finally {
  await browser.close();
}
