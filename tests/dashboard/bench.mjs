// Figures of the dashboard, merged into target/bench/results.json:
// - dashboard_wasm_size: www/dist/twinkit_dashboard_bg.wasm gzip -9 beside
//   its raw size;
// - dashboard_frame_ms_median / _p95: frame time measured in the page with
//   requestAnimationFrame while 100 simulated devices each send 10 records a
//   second (the overview open: every row, reading and total live), beside
//   the same measurement on an empty page in the same browser (the display's
//   own frame interval).
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { openPage } from "../npm/harness.mjs";
import { writeResults } from "../npm/bench-results.mjs";

const ROOT = new URL("../../", import.meta.url);
const SECONDS = 5;

/** Frame intervals (ms) over `seconds`, measured with requestAnimationFrame. */
function measureFrames(seconds) {
  return new Promise((resolve) => {
    const frames = [];
    let last = performance.now();
    const end = last + seconds * 1000;
    const tick = (t) => {
      frames.push(t - last);
      last = t;
      if (t < end) requestAnimationFrame(tick);
      else resolve(frames);
    };
    requestAnimationFrame((t) => { last = t; requestAnimationFrame(tick); });
  });
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

const ctx = await openPage("www/index.html?devices=100&rate=10", () =>
  document.querySelectorAll("[data-device-row]").length === 100);
let loaded, idle, updates;
try {
  await ctx.page.setViewportSize({ width: 1360, height: 900 });
  await new Promise((r) => setTimeout(r, 2000)); // warm up: charts of history, JIT
  const versions = () => ctx.page.$$eval("[data-device-row]", (rows) =>
    rows.reduce((sum, r) => sum + Number(r.dataset.version), 0));
  const v0 = await versions();
  loaded = await ctx.page.evaluate(measureFrames, SECONDS);
  updates = ((await versions()) - v0) / SECONDS;
  await ctx.page.goto("about:blank");
  idle = await ctx.page.evaluate(measureFrames, SECONDS);
  if (ctx.errors.length) throw new Error(`console errors: ${ctx.errors.join("; ")}`);
} finally {
  await ctx.close();
}

const wasm = await readFile(new URL("www/dist/twinkit_dashboard_bg.wasm", ROOT));
const gz = gzipSync(wasm, { level: 9 }).length;
const [median, p95, idleMedian, idleP95] = [quantile(loaded, 0.5), quantile(loaded, 0.95), quantile(idle, 0.5), quantile(idle, 0.95)];
const note = `100 devices × 10 records/s, overview page; ${updates.toFixed(0)} state changes/s seen over ${loaded.length} frames; baseline: an empty page`;
const results = {
  dashboard_wasm_size: { value: gz, unit: "bytes (gzip -9)", baseline: wasm.length, ratio: gz / wasm.length, note: "baseline: raw size of www/dist/twinkit_dashboard_bg.wasm (release, wasm-opt -Oz)" },
  dashboard_frame_ms_median: { value: median, unit: "ms", baseline: idleMedian, ratio: median / idleMedian, note },
  dashboard_frame_ms_p95: { value: p95, unit: "ms", baseline: idleP95, ratio: p95 / idleP95, note },
};
await writeResults(results, { digits: 1 });
