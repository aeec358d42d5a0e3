// Serves the repository on 127.0.0.1 (scripts/serve.mjs) and opens
// tests/npm/page.html (which imports pkg/ as an npm user's page would) in
// Debian's Chromium, driven by playwright-core.
import { after, before } from "node:test";
import { chromium } from "playwright-core";
import { serve as serveStatic } from "../../scripts/serve.mjs";

/** A static file server over the repository, on a free loopback port. */
export function serve() {
  return serveStatic();
}

/** Chromium flags for a root user on a machine with a closed network. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--js-flags=--expose-gc",
];

/**
 * Opens the test page with twinkit loaded as `window.twinkit`. Console
 * errors are collected in `errors` (handlers that throw log there).
 */
export async function openPage(file = "tests/npm/page.html", ready = () => window.twinkit !== undefined) {
  const { server, origin } = await serve();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(`${origin}/${file}`);
  await Promise.race([
    page.waitForFunction(ready),
    page.waitForFunction(() => window.loadError !== undefined).then(async () => {
      throw new Error(`twinkit failed to load: ${await page.evaluate(() => window.loadError)}`);
    }),
  ]);
  return {
    page,
    errors,
    origin,
    async close() {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Opens the page before a test file's tests and closes it after them;
 * `run(fn, arg)` evaluates `fn(arg)` in the page.
 */
export function testPage() {
  let ctx;
  before(async () => { ctx = await openPage(); });
  after(async () => { await ctx?.close(); });
  return { run: (fn, arg) => ctx.page.evaluate(fn, arg) };
}
