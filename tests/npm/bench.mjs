// Browser benchmarks of the npm package (run by `npm run bench` after the
// build): calls per second of getState() and of ingest() with 10 properties
// in headless Chromium, each beside a plain-JavaScript baseline doing the
// same work in the same page, and the size of pkg/*.wasm. Figures are
// merged into target/bench/results.json.
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { openPage } from "./harness.mjs";
import { writeResults } from "./bench-results.mjs";

const ROOT = new URL("../../", import.meta.url);
const config = {
  id: "bench",
  name: "Bench",
  type: "bench",
  properties: Array.from({ length: 10 }, (_, i) => ({ name: `p${i}`, type: "number", min: 0, max: 100, telemetry: true })),
};

const ctx = await openPage();
const figures = await ctx.page.evaluate(async (config) => {
  const { DigitalTwin } = window.twinkit;
  const { rate, PlainTwin } = await import("/tests/npm/bench-page.mjs");
  const values = (i) => Object.fromEntries(config.properties.map((p, j) => [p.name, 50 + ((i + j) % 7)]));

  const twin = new DigitalTwin(config);
  const t0 = Date.now();
  const ingest = rate((i) => twin.ingest({ deviceId: "bench", timestamp: t0 + i, values: values(i) }));
  const getState = rate(() => twin.getState());

  // Baseline: the same bookkeeping in plain JavaScript objects.
  const js = new PlainTwin();
  const jsIngestRate = rate((i) => js.ingest({ deviceId: "bench", timestamp: t0 + i, values: values(i) }));
  const jsState = rate(() => structuredClone({ deviceId: "bench", reported: js.reported, desired: {}, metadata: js.metadata, version: js.version }));

  // Anomaly detection as telemetry arrives: the same ingest with an
  // AnomalyDetector watching all 10 properties, beside the plain ingest.
  const { AnomalyDetector } = window.twinkit;
  const plain = new DigitalTwin({ ...config, id: "bench" });
  const watched = new DigitalTwin({ ...config, id: "bench" });
  new AnomalyDetector(watched);
  const noisy = (i) => Object.fromEntries(config.properties.map((p, j) => [p.name, 50 + Math.sin(i / 10 + j) * 5]));
  const t1 = Date.now();
  const plainRate = rate((i) => plain.ingest({ deviceId: "bench", timestamp: t1 + i, values: noisy(i) }));
  const detectRate = rate((i) => watched.ingest({ deviceId: "bench", timestamp: t1 + i, values: noisy(i) }));
  return { ingest, getState, jsIngestRate, jsState, plainRate, detectRate };
}, config);
await ctx.close();

const wasm = await readFile(new URL("pkg/twinkit_bg.wasm", ROOT));
const gz = gzipSync(wasm, { level: 9 }).length;
const results = {
  js_ingest_10_props: { value: figures.ingest, unit: "calls/s", baseline: figures.jsIngestRate, ratio: figures.ingest / figures.jsIngestRate, note: "baseline: the same bookkeeping in plain JavaScript objects" },
  js_get_state_10_props: { value: figures.getState, unit: "calls/s", baseline: figures.jsState, ratio: figures.getState / figures.jsState, note: "baseline: structuredClone of the same state held as plain JavaScript objects" },
  js_ingest_with_anomaly_detection_points: { value: figures.detectRate * 10, unit: "points/s", baseline: figures.plainRate * 10, ratio: figures.detectRate / figures.plainRate, note: "10-property records through ingest() with an AnomalyDetector (all four detectors) vs without" },
  pkg_wasm_size: { value: gz, unit: "bytes (gzip -9)", baseline: wasm.length, ratio: gz / wasm.length, note: "baseline: raw size of pkg/twinkit_bg.wasm" },
};
await writeResults(results);
