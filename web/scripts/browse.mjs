// Drives headless Chromium (the system's, never a downloaded one) through a list of pages for
// the Rust integration tests, and prints what a person would see as JSON on stdout.
//
// Usage: node scripts/browse.mjs PLAN.json
// PLAN: { "visits": [ { "url": "...", "screenshot": "path.png" (optional),
//                       "waitFor": "CSS selector" (optional), "timeoutMs": 15000 (optional) } ] }
// Output: [ { "url", "status", "title", "text", "hrefs": [absolute URLs], "console": [...] } ]
//
// Chromium: $RELREG_CHROMIUM, else /usr/bin/chromium.

import { mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { chromium } from "playwright-core";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const executablePath = process.env.RELREG_CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "relreg-chromium-"));

const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1100, height: 800 },
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const results = [];
try {
  for (const visit of plan.visits) {
    const page = await context.newPage();
    const messages = [];
    page.on("console", (m) => messages.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => messages.push(`pageerror: ${e.message}`));
    page.on("requestfailed", (r) => messages.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
    const timeout = visit.timeoutMs ?? 15000;
    const response = await page.goto(visit.url, { waitUntil: "load", timeout });
    let waited = null;
    if (visit.waitFor) {
      try {
        await page.waitForSelector(visit.waitFor, { timeout });
        waited = true;
      } catch (e) {
        waited = false;
        messages.push(`waitFor ${visit.waitFor} failed: ${e.message}`);
      }
    }
    if (visit.screenshot) {
      mkdirSync(dirname(visit.screenshot), { recursive: true });
      await page.screenshot({ path: visit.screenshot, fullPage: true });
    }
    const hrefs = await page.$$eval("a[href]", (links) => links.map((a) => a.href));
    results.push({
      url: visit.url,
      finalUrl: page.url(),
      status: response ? response.status() : 0,
      title: await page.title(),
      text: await page.evaluate(() => document.body.innerText),
      hrefs,
      waited,
      console: messages,
    });
    await page.close();
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(results));
