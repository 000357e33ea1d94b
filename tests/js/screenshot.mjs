// Screenshots of pages, to look at what a person sees (not a test):
//   node screenshot.mjs OUT_PREFIX URL [URL…]
// writes OUT_PREFIX-<n>-1280.png and OUT_PREFIX-<n>-390.png per URL, full page. A URL may carry
// `#js=CODE` to run CODE in the page first (e.g. type a message), and waits for the network to
// go quiet.
import { chromium } from "playwright-core";

const [prefix, ...urls] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const context = await browser.newContext();
  for (const [n, url] of urls.entries()) {
    const [address, code] = url.split("#js=");
    for (const width of [1280, 390]) {
      const page = await context.newPage();
      await page.setViewportSize({ width, height: width === 390 ? 844 : 800 });
      await page.goto(address, { waitUntil: "networkidle", timeout: 15000 });
      if (code) {
        await page.evaluate(decodeURIComponent(code));
        await page.waitForTimeout(500); // a picture, not a test: let the page settle
      }
      await page.screenshot({ path: `${prefix}-${n}-${width}.png`, fullPage: true });
      await page.close();
    }
  }
} finally {
  await browser.close();
}
