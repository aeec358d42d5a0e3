// Browser benchmarks of TimeSeriesStore (run by `npm run bench` after the
// build), each beside a baseline in the same headless Chromium: writes and
// range reads against Dexie (npm `dexie`) with one record per point, writes
// against one IndexedDB transaction per record, hourly aggregates from the
// rollups against recomputing them from the raw points, and bytes stored per
// point. One run; figures are merged into target/bench/results.json.
import { openPage } from "./harness.mjs";
import { writeResults } from "./bench-results.mjs";

const T0 = Date.UTC(2026, 0, 1);

// Shared in-page helpers, passed as source.
const HELPERS = `
  // Sensor-like readings with two decimals: a slow wave plus seeded noise
  // (values that repeat would flatter storage compression).
  window.points = (devices, n, t0) => {
    const out = new Array(devices * n);
    let seed = 12345, k = 0;
    const noise = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
    const round = (x) => Math.round(x * 100) / 100;
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < devices; d++) {
        out[k++] = { deviceId: "dev-" + d, timestamp: t0 + i * 1000, values: { temperature: round(20 + 5 * Math.sin(i / 600 + d) + noise()), humidity: round(45 + 10 * Math.cos(i / 900 + d) + 2 * noise()) } };
      }
    }
    return out;
  };
  window.dexieDb = async (name) => {
    const db = new Dexie(name);
    db.version(1).stores({ points: "[deviceId+timestamp]" });
    await db.open();
    return db;
  };
  window.median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
  // The estimate lags behind writes: read it until it holds still.
  window.idbUsage = async () => {
    const read = async () => { const e = await navigator.storage.estimate(); return e.usageDetails?.indexedDB ?? e.usage; };
    let last = await read();
    for (let same = 0; same < 3;) {
      await new Promise((r) => setTimeout(r, 300));
      const now = await read();
      same = now === last ? same + 1 : 0;
      last = now;
    }
    return last;
  };
`;
/** Runs `body(arg)` in a fresh browser (fresh profile, so storage
 * estimates start from nothing) with Dexie and the helpers loaded. */
async function bench(body, arg) {
  const ctx = await openPage();
  try {
    await ctx.page.evaluate(async (helpers) => {
      window.Dexie = (await import("/node_modules/dexie/dist/dexie.mjs")).default;
      (0, eval)(helpers);
    }, HELPERS);
    return await ctx.page.evaluate(body, arg);
  } finally {
    await ctx.close();
  }
}
const write = await bench(async (T0) => {
  const { TimeSeriesStore } = window.twinkit;
  const data = points(10, 10_000, T0);
  // Warm-up of both sides (JIT and WebAssembly tiers), in databases of
  // their own: twinkit twice on the full batch, Dexie on a tenth of it.
  for (let round = 0; round < 2; round++) {
    const warmStore = new TimeSeriesStore({ databaseName: "bench-warm-" + round });
    await warmStore.storeBatch(data);
    await Promise.all(data.slice(0, 10_000).map((d) => warmStore.store(d)));
    await warmStore.close();
  }
  const warmDb = await dexieDb("bench-dexie-warm");
  await warmDb.points.bulkPut(data.slice(0, 10_000));
  warmDb.close();
  // twinkit, storeBatch: resolves when committed.
  let usage0 = await idbUsage();
  const store = new TimeSeriesStore({ databaseName: "bench-write" });
  await store.initialize();
  let t = performance.now();
  await store.storeBatch(data);
  const batchMs = performance.now() - t;
  await store.close();
  const twinkitBytes = (await idbUsage()) - usage0;
  // twinkit, one store() call per record, all awaited.
  const store2 = new TimeSeriesStore({ databaseName: "bench-write-2" });
  await store2.initialize();
  t = performance.now();
  await Promise.all(data.map((d) => store2.store(d)));
  const storeMs = performance.now() - t;
  await store2.close();
  // Dexie bulkPut, one record per point.
  usage0 = await idbUsage();
  const db = await dexieDb("bench-dexie-write");
  t = performance.now();
  await db.points.bulkPut(data);
  const dexieMs = performance.now() - t;
  db.close();
  const dexieBytes = (await idbUsage()) - usage0;
  // One transaction per record (the naive approach), on 10,000 records.
  const raw = await new Promise((resolve, reject) => {
    const r = indexedDB.open("bench-naive", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("points", { keyPath: ["deviceId", "timestamp"] });
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const naiveN = 10_000;
  t = performance.now();
  await Promise.all(data.slice(0, naiveN).map((d) => new Promise((resolve, reject) => {
    const tx = raw.transaction("points", "readwrite");
    tx.objectStore("points").put(d);
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  })));
  const naiveMs = ((performance.now() - t) * data.length) / naiveN;
  raw.close();
  return { batchMs, storeMs, dexieMs, naiveMs, twinkitBytes, dexieBytes, n: data.length };
}, T0);

// 2. Range query: 100,000 points of one device.
const read = await bench(async (T0) => {
  const { TimeSeriesStore } = window.twinkit;
  const data = points(1, 100_000, T0);
  const store = new TimeSeriesStore({ databaseName: "bench-read" });
  await store.storeBatch(data);
  const db = await dexieDb("bench-dexie-read");
  await db.points.bulkPut(data);
  const end = T0 + 100_000 * 1000;
  const tw = [], dx = [];
  let nTw = 0, nDx = 0;
  for (let round = 0; round < 5; round++) {
    let t = performance.now();
    nTw = (await store.query("dev-0", T0, end)).length;
    tw.push(performance.now() - t);
    t = performance.now();
    nDx = (await db.points.where("[deviceId+timestamp]").between(["dev-0", T0], ["dev-0", end], true, true).toArray()).length;
    dx.push(performance.now() - t);
  }
  await store.close();
  db.close();
  return { twinkitMs: median(tw), dexieMs: median(dx), nTw, nDx };
}, T0);

// 3. Hourly aggregate over 30 days of 1 Hz data (2,592,000 points).
const agg = await bench(async (T0) => {
  const { TimeSeriesStore } = window.twinkit;
  const store = new TimeSeriesStore({ databaseName: "bench-agg" });
  const n = 30 * 86_400;
  let t = performance.now();
  for (let start = 0; start < n; start += 100_000) {
    const batch = [];
    for (let i = start; i < Math.min(n, start + 100_000); i++) {
      batch.push({ deviceId: "pump", timestamp: T0 + i * 1000, values: { temperature: 50 + 10 * Math.sin(i / 3600) } });
    }
    await store.storeBatch(batch);
  }
  const setupMs = performance.now() - t;
  const end = T0 + n * 1000 - 1;
  const roll = [], raw = [];
  let a, b;
  for (let round = 0; round < 3; round++) {
    t = performance.now();
    a = await store.aggregate("pump", "temperature", T0, end, "hour");
    roll.push(performance.now() - t);
    t = performance.now();
    b = await store.aggregate("pump", "temperature", T0, end, "hour", { source: "raw" });
    raw.push(performance.now() - t);
  }
  await store.close();
  const same = a.length === b.length && a.every((x, i) => x.count === b[i].count && x.min === b[i].min && x.max === b[i].max && Math.abs(x.sum - b[i].sum) < 1e-6 * Math.abs(x.sum));
  return { rollupMs: median(roll), rawMs: median(raw), buckets: a.length, same, setupMs, points: n };
}, T0);

if (read.nTw !== 100_000 || read.nDx !== 100_000) throw new Error(`range query returned ${read.nTw} / ${read.nDx} points`);
if (agg.buckets !== 720 || !agg.same) throw new Error(`aggregate: ${agg.buckets} buckets, same as raw: ${agg.same}`);

const results = {
  store_write_100k_storeBatch_vs_dexie: { value: write.batchMs, unit: "ms", baseline: write.dexieMs, ratio: write.dexieMs / write.batchMs, note: "100,000 points (10 devices, 2 properties, 1 s apart) until committed: storeBatch vs Dexie bulkPut of per-point records; ratio = times faster" },
  store_write_100k_store_calls_vs_dexie: { value: write.storeMs, unit: "ms", baseline: write.dexieMs, ratio: write.dexieMs / write.storeMs, note: "the same through 100,000 store() calls, all awaited" },
  store_write_100k_vs_tx_per_record: { value: write.batchMs, unit: "ms", baseline: write.naiveMs, ratio: write.naiveMs / write.batchMs, note: "baseline: one IndexedDB transaction per record, measured on 10,000 records and scaled to 100,000" },
  store_query_100k_vs_dexie: { value: read.twinkitMs, unit: "ms", baseline: read.dexieMs, ratio: read.dexieMs / read.twinkitMs, note: "100,000 points of one device as TelemetryData vs Dexie where('[deviceId+timestamp]').between().toArray(); median of 5" },
  store_aggregate_hourly_30d_vs_raw_scan: { value: agg.rollupMs, unit: "ms", baseline: agg.rawMs, ratio: agg.rawMs / agg.rollupMs, note: `720 hourly buckets over 30 days of 1 Hz data (${agg.points} points, written in ${Math.round(agg.setupMs)} ms): rollups vs recomputing from the raw points (source: 'raw'); median of 3` },
  store_bytes_per_point_vs_dexie: { value: write.twinkitBytes / write.n, unit: "bytes/point", baseline: write.dexieBytes / write.n, ratio: write.dexieBytes / write.twinkitBytes, note: "navigator.storage.estimate() IndexedDB usage before and after writing the 100,000 points; ratio = times smaller" },
};
await writeResults(results, { digits: 1, ratioDigits: 1 });
