// TimeSeriesStore from plain JavaScript in headless Chromium, on the real
// IndexedDB: the reference API, data surviving a reload, two pages writing
// one database, a versionchange from another page, the quota, hostile input
// and the twin `store` option. Each test uses its own database.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";
import { thermostat } from "./fixtures.mjs";

let ctx;
before(async () => { ctx = await openPage(); });
after(async () => { await ctx?.close(); });
const run = (fn, arg) => ctx.page.evaluate(fn, arg);

/** Opens the test page again as a popup: another page of the same
 * browser profile and origin, so the same IndexedDB. */
async function secondPage() {
  const [page] = await Promise.all([
    ctx.page.context().waitForEvent("page"),
    ctx.page.evaluate((url) => { window.open(url); }, ctx.page.url()),
  ]);
  await page.waitForFunction(() => window.twinkit !== undefined);
  return page;
}

const T0 = Date.UTC(2026, 0, 1);

test("reference API: store, query, aggregate, and the rest", async () => {
  const r = await run(async (T0) => {
    const { TimeSeriesStore } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "api" });
    await store.initialize();
    const first = await store.store({ deviceId: "sensor-001", timestamp: T0, values: { temperature: 23.5, humidity: 45 } });
    const batch = [];
    for (let i = 1; i < 7200; i++) {
      batch.push({ deviceId: "sensor-001", timestamp: T0 + i * 1000, values: { temperature: 20 + (i % 10), humidity: 40 + (i % 3), mode: i % 600 === 0 ? "eco" : undefined } });
    }
    // Late and out of order.
    batch.reverse();
    const stored = await store.storeBatch(batch);
    const all = await store.query("sensor-001", T0, T0 + 7200 * 1000);
    const temps = await store.query("sensor-001", T0, T0 + 10_000, "temperature");
    const hourly = await store.aggregate("sensor-001", "temperature", T0, T0 + 7199 * 1000, "hour");
    const raw = await store.aggregate("sensor-001", "temperature", T0, T0 + 7199 * 1000, "hour", { source: "raw" });
    const minutes = await store.aggregate("sensor-001", "temperature", T0, T0 + 7199 * 1000, "minute");
    const latest = await store.latest("sensor-001");
    const none = await store.latest("nobody");
    const csv = await store.exportCsv("sensor-001", T0, T0 + 2000, ["temperature", "mode"]);
    const deleted = await store.deleteRange("sensor-001", T0 + 3600 * 1000, T0 + 7199 * 1000);
    const afterDelete = await store.aggregate("sensor-001", "temperature", T0, T0 + 7199 * 1000, "hour");
    const devices = await store.devices();
    await store.flush();
    await store.close();
    let closed;
    try { await store.query("sensor-001", 0, 1); } catch (e) { closed = e.code; }
    return { first, stored, count: all.length, sorted: all.every((d, i) => i === 0 || all[i - 1].timestamp <= d.timestamp),
      record: all[600], temps, hourly, raw, minuteCount: minutes.length, latest, none, csv, deleted, afterDelete, devices, closed };
  }, T0);
  assert.deepEqual(r.first, { stored: 1, skipped: 0 });
  assert.deepEqual(r.stored, { stored: 7199, skipped: 0 });
  assert.equal(r.count, 7200);
  assert.ok(r.sorted);
  assert.deepEqual(r.record, { deviceId: "sensor-001", timestamp: T0 + 600_000, values: { humidity: 40, mode: "eco", temperature: 20 } });
  assert.equal(r.temps.length, 11);
  assert.deepEqual(Object.keys(r.temps[1].values), ["temperature"]);
  assert.equal(r.hourly.length, 2);
  assert.deepEqual(r.hourly.map((b) => [b.timestamp, b.count, b.min, b.max]), [[T0, 3600, 20, 29], [T0 + 3_600_000, 3600, 20, 29]]);
  assert.ok(Math.abs(r.hourly[1].avg - 24.5) < 1e-9);
  assert.deepEqual(r.raw.map((b) => [b.timestamp, b.count, b.min, b.max]), r.hourly.map((b) => [b.timestamp, b.count, b.min, b.max]));
  assert.equal(r.minuteCount, 120);
  assert.equal(r.latest.timestamp, T0 + 7199 * 1000);
  assert.equal(r.none, undefined);
  assert.equal(r.csv, `timestamp,temperature,mode\r\n${T0},23.5,\r\n${T0 + 1000},21,\r\n${T0 + 2000},22,\r\n`);
  assert.equal(r.deleted, 3600);
  assert.deepEqual(r.afterDelete.map((b) => b.count), [3600]);
  assert.deepEqual(r.devices, ["sensor-001"]);
  assert.equal(r.closed, "CLOSED");
});

test("hostile input is skipped and counted, or refused with a TwinError; nothing is polluted", async () => {
  const r = await run(async (T0) => {
    const { TimeSeriesStore } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "hostile" });
    const reason = async (p) => { try { await p; return "accepted"; } catch (e) { return `${e.name}:${e.code}`; } };
    const outcome = await store.storeBatch([
      { deviceId: "d", timestamp: T0, values: { a: NaN, b: Infinity, c: -Infinity, ok: 1 } },
      { deviceId: "d", timestamp: NaN, values: { ok: 2 } },
      { deviceId: "d", timestamp: 2 ** 60, values: { ok: 3 } },
      { deviceId: "d", timestamp: -1, values: { ok: 4 } },
      { deviceId: "d", timestamp: "soon", values: { ok: 5 } },
      { deviceId: 42, timestamp: T0, values: { ok: 6 } },
      { deviceId: "", timestamp: T0, values: { ok: 7 } },
      JSON.parse(`{"deviceId":"d","timestamp":${T0 + 1},"values":{"__proto__":{"polluted":true},"constructor":1,"ok":8}}`),
      { deviceId: "d", timestamp: T0 + 2, values: { obj: { x: 1 }, fn: () => 1, big: "x".repeat(70_000), ok: 9 } },
      null, 42, "text",
      { deviceId: "d", timestamp: T0 + 3, values: null },
    ]);
    const options = {};
    for (const [name, o] of Object.entries({
      unknownOption: { nope: 1 }, badRetention: { retention: { maxAge: -1 } }, protoOption: JSON.parse(`{"__proto__":{"x":1}}`),
    })) {
      try { new TimeSeriesStore(o); options[name] = "accepted"; } catch (e) { options[name] = `${e.name}:${e.code}`; }
    }
    const throwing = { deviceId: "d", timestamp: T0, get values() { throw new Error("boom"); } };
    const results = {
      notArray: await reason(store.storeBatch({ length: 1 })),
      getterThrows: await reason(store.store(throwing)),
      badDevice: await reason(store.query(42, 0, 1)),
      nanRange: await reason(store.query("d", NaN, 1)),
      badInterval: await reason(store.aggregate("d", "ok", 0, 1, "week")),
      protoProperty: await reason(store.aggregate("d", "__proto__", 0, 1, "hour")),
      badSource: await reason(store.aggregate("d", "ok", 0, 1, "hour", { source: "guess" })),
      badColumns: await reason(store.exportCsv("d", 0, 1, [1])),
      unknownEvent: (() => { try { store.on("nope", () => {}); return "accepted"; } catch (e) { return e.code; } })(),
    };
    const points = await store.query("d", 0, 2 ** 53);
    const stats = store.stats();
    await store.close();
    return { outcome, options, results, points, stats, polluted: ({}).polluted };
  }, T0);
  // ok:1, ok:8, ok:9 stored; 3 non-finite, 4 bad timestamps, 2 bad devices,
  // __proto__ + constructor names, obj + fn + big values, 5 empty records
  // (null, 42, "text", values null... and the record whose values went).
  assert.equal(r.outcome.stored, 3);
  assert.equal(r.stats.skipped.nonFinite, 3);
  assert.equal(r.stats.skipped.badTimestamps, 4);
  assert.equal(r.stats.skipped.badDevices, 5);
  assert.equal(r.stats.skipped.badNames, 2);
  assert.equal(r.stats.skipped.badValues, 3);
  assert.equal(r.outcome.skipped, r.stats.skipped.total);
  assert.deepEqual(r.points.map((p) => p.values), [{ ok: 1 }, { ok: 8 }, { ok: 9 }]);
  assert.deepEqual(r.options, { unknownOption: "TwinError:INVALID_CONFIG", badRetention: "TwinError:INVALID_CONFIG", protoOption: "TwinError:INVALID_INPUT" });
  assert.deepEqual(r.results, {
    notArray: "TwinError:INVALID_INPUT", getterThrows: "TwinError:INVALID_INPUT", badDevice: "TwinError:INVALID_INPUT",
    nanRange: "TwinError:INVALID_INPUT", badInterval: "TwinError:INVALID_INPUT", protoProperty: "TwinError:INVALID_INPUT",
    badSource: "TwinError:INVALID_INPUT", badColumns: "TwinError:INVALID_INPUT", unknownEvent: "UNKNOWN_EVENT",
  });
  assert.equal(r.polluted, undefined);
});

test("committed data is all there after a reload", async () => {
  const written = await run(async (T0) => {
    const { TimeSeriesStore } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "reload", chunkPoints: 64 });
    const writes = [];
    for (let i = 0; i < 500; i++) writes.push(store.store({ deviceId: "r", timestamp: T0 + i * 250, values: { v: i } }));
    const results = await Promise.all(writes);
    return results.reduce((n, x) => n + x.stored, 0);
  }, T0);
  assert.equal(written, 500);
  await ctx.page.reload();
  await ctx.page.waitForFunction(() => window.twinkit !== undefined);
  const r = await run(async (T0) => {
    const { TimeSeriesStore } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "reload" });
    const points = await store.query("r", T0, T0 + 10 ** 6);
    const minutes = await store.aggregate("r", "v", T0, T0 + 10 ** 6, "minute");
    await store.close();
    return { n: points.length, sum: points.reduce((s, p) => s + p.values.v, 0), count: minutes.reduce((s, b) => s + b.count, 0) };
  }, T0);
  assert.deepEqual(r, { n: 500, sum: (499 * 500) / 2, count: 500 });
});

test("two pages writing the same database at once lose nothing", async () => {
  const other = await secondPage();
  const write = (page, offset) => page.evaluate(async ({ T0, offset }) => {
    const { TimeSeriesStore } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "shared", chunkPoints: 100, flushDelay: 0 });
    const writes = [];
    for (let i = 0; i < 2000; i++) {
      writes.push(store.store({ deviceId: "shared", timestamp: T0 + offset + i * 2000, values: { v: 1 } }));
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    await Promise.all(writes);
    await store.close();
  }, { T0, offset });
  await Promise.all([write(ctx.page, 0), write(other, 1000)]);
  await other.close();
  const r = await run(async (T0) => {
    const { TimeSeriesStore } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "shared" });
    const points = await store.query("shared", 0, 2 ** 53);
    const hours = await store.aggregate("shared", "v", T0, T0 + 10 ** 7, "hour");
    await store.close();
    return { n: points.length, distinct: new Set(points.map((p) => p.timestamp)).size, count: hours.reduce((s, b) => s + b.count, 0) };
  }, T0);
  assert.deepEqual(r, { n: 4000, distinct: 4000, count: 4000 });
});

test("a versionchange from another page closes the connection, which reopens", async () => {
  await run(async () => {
    const { TimeSeriesStore } = window.twinkit;
    window.vcStore = new TimeSeriesStore({ databaseName: "versionchange" });
    await window.vcStore.store({ deviceId: "v", timestamp: 1, values: { x: 1 } });
  });
  const other = await secondPage();
  const version = await other.evaluate(() => new Promise((resolve, reject) => {
    const request = indexedDB.open("versionchange", 3);
    request.onupgradeneeded = () => request.result.createObjectStore("extra");
    request.onsuccess = () => { const v = request.result.version; request.result.close(); resolve(v); };
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error("blocked: the first connection did not close"));
  }));
  await other.close();
  assert.equal(version, 3);
  const r = await run(async () => {
    const s = window.vcStore;
    await s.store({ deviceId: "v", timestamp: 2, values: { x: 2 } });
    const points = await s.query("v", 0, 10);
    await s.close();
    return points.map((p) => p.values.x);
  });
  assert.deepEqual(r, [1, 2]);
});

test("QuotaExceededError: an error event, retention applied, rollups intact", async () => {
  // A browser of its own: Chromium applies a quota override to an origin
  // only before the origin's storage is first used.
  const own = await openPage();
  const run = (fn, arg) => own.page.evaluate(fn, arg);
  const cdp = await own.page.context().newCDPSession(own.page);
  const origin = new URL(own.page.url()).origin;
  // A 2 MB quota: room for the first 20,000 points, not for 200,000 more.
  await cdp.send("Storage.overrideQuotaForOrigin", { origin, quotaSize: 2_000_000 });
  await run(async () => {
    const { TimeSeriesStore } = window.twinkit;
    const s = new TimeSeriesStore({ databaseName: "quota", retention: { maxPointsPerDevice: 20_000 } });
    const batch = [];
    for (let i = 0; i < 20_000; i++) batch.push({ deviceId: "q", timestamp: 1e12 + i * 1000, values: { x: i % 100, y: i } });
    await s.storeBatch(batch);
    await s.close();
  });
  try {
    const r = await run(async () => {
      const { TimeSeriesStore } = window.twinkit;
      const s = new TimeSeriesStore({ databaseName: "quota", retention: { maxPointsPerDevice: 20_000 } });
      const events = [];
      s.on("error", (e) => events.push(e.code));
      const batch = [];
      for (let i = 0; i < 200_000; i++) batch.push({ deviceId: "q", timestamp: 2e12 + i * 1000, values: { x: i % 100, y: Math.random() } });
      let outcome;
      try { outcome = await s.storeBatch(batch); } catch (e) { outcome = e.code; }
      const rollup = await s.aggregate("q", "x", 0, 3e12, "day");
      const raw = await s.aggregate("q", "x", 0, 3e12, "day", { source: "raw" });
      await s.close();
      return { events, outcome, rollup: rollup.map((b) => [b.timestamp, b.count, b.min, b.max]), raw: raw.map((b) => [b.timestamp, b.count, b.min, b.max]) };
    });
    assert.ok(r.events.includes("QUOTA_EXCEEDED"), JSON.stringify(r));
    assert.equal(r.outcome, "QUOTA_EXCEEDED");
    assert.deepEqual(r.rollup, r.raw);
    // What was committed before is whole: no partial chunk or bucket.
    assert.equal(r.raw.reduce((n, b) => n + b[1], 0), 20_000);
  } finally {
    await own.close();
  }
});

test("a twin's `store` option persists its telemetry, and restore() rebuilds its history after a reload", async () => {
  const r1 = await run(async (config) => {
    const { DigitalTwin, TimeSeriesStore } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "twin" });
    const twin = new DigitalTwin(config, { store });
    const t = Date.now() - 100 * 60_000;
    for (let i = 0; i < 100; i++) twin.ingest({ deviceId: config.id, timestamp: t + i * 60_000, values: { temperature: 60 + i * 0.2, humidity: 40 } });
    await store.flush();
    const points = await store.query(config.id, 0, Date.now());
    await store.close();
    let bad;
    try { new DigitalTwin(config, { store: { __twinkitStoreId: 9999 } }); } catch (e) { bad = e.code; }
    return { n: points.length, first: points[0].values, bad };
  }, thermostat);
  assert.equal(r1.n, 100);
  assert.deepEqual(r1.first, { humidity: 40, temperature: 60 });
  assert.equal(r1.bad, "INVALID_CONFIG");
  await ctx.page.reload();
  await ctx.page.waitForFunction(() => window.twinkit !== undefined);
  const r2 = await run(async (config) => {
    const { DigitalTwin, TimeSeriesStore, PredictiveMaintenance } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "twin" });
    const twin = new DigitalTwin(config, { store });
    const fed = await store.restore(twin);
    await store.flush();
    const stored = (await store.query(config.id, 0, Date.now())).length;
    const pm = new PredictiveMaintenance(twin);
    pm.setThreshold("temperature", 85, 95);
    const [prediction] = pm.analyze();
    await store.close();
    return { fed, history: twin.getTelemetryHistory("temperature").length, stored, current: prediction.currentValue };
  }, thermostat);
  // Restored records are not stored a second time.
  assert.deepEqual({ ...r2, current: Math.round(r2.current * 10) / 10 }, { fed: 100, history: 100, stored: 100, current: 79.8 });
});

// ---- The journal: sync records, audit entries, lifecycle events ------------

/** The lifecycle state of each device, from the fleet's status counts and
 * the last event of each device in its log. */
const LIFECYCLE_OF = () => {
  window.lifecycleOf = (fleet) => {
    const states = {};
    for (const e of fleet.getLifecycleLog()) {
      if (e.type === "removed") delete states[e.deviceId];
      else states[e.deviceId] = e.type === "transition" ? e.to : e.state;
    }
    return { states, counts: fleet.getFleetStatus().lifecycle };
  };
};

test("journal: desired values, a command and lifecycle transitions survive a reload, and a fresh fleet is rebuilt from them", async () => {
  const first = await run(async (config) => {
    const { TimeSeriesStore, FleetManager } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "journal" });
    const fleet = new FleetManager();
    store.persistFleetJournal(fleet);
    const a = fleet.addDevice({ ...config, id: "j-a" });
    fleet.addDevice({ ...config, id: "j-b" });
    fleet.addDevice({ ...config, id: "j-c" });
    await a.connect();
    a.setDesired("setpoint", 70);
    a.takeOutbound();
    const command = a.sendCommand("reboot", { delay: 1 });
    a.takeOutbound();
    a.handleCommandResponse({ commandId: command.commandId, status: "completed", result: { ok: true } });
    a.applyReported({ setpoint: 70 });
    fleet.setLifecycle("j-b", "suspended", "unpaid");
    fleet.setLifecycle("j-c", "maintenance");
    fleet.setLifecycle("j-c", "decommissioned");
    await store.flush();
    const journal = await store.queryJournal("j-a");
    await store.close();
    return { audit: a.getAudit(), sync: a.getSyncHistory(), status: fleet.getFleetStatus().lifecycle, journal };
  }, thermostat);
  assert.deepEqual(first.audit.map((e) => [e.action.kind, e.outcome]), [["desired", "reached"], ["command", "completed"]]);
  assert.deepEqual(first.sync.map((s) => s.direction), ["sent", "received"]);
  // Each step of each audit entry was appended, in order, never rewritten.
  const audit = first.journal.filter((r) => r.kind === "audit");
  assert.deepEqual(audit.map((r) => [r.body.id, r.body.outcome]),
    [[1, "queued"], [1, "sent"], [2, "queued"], [2, "sent"], [2, "completed"], [1, "reached"]]);
  assert.ok(first.journal.every((r, i) => i === 0 || first.journal[i - 1].timestamp <= r.timestamp));
  assert.deepEqual(first.journal.filter((r) => r.kind === "lifecycle").map((r) => r.body.type), ["added"]);

  await ctx.page.reload();
  await ctx.page.waitForFunction(() => window.twinkit !== undefined);
  await run(LIFECYCLE_OF);
  const second = await run(async (config) => {
    const { TimeSeriesStore, FleetManager } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "journal" });
    const lifecycle = await store.queryJournal("j-b", { kind: "lifecycle" });
    const fleet = new FleetManager();
    const a = fleet.addDevice({ ...config, id: "j-a" });
    const b = fleet.addDevice({ ...config, id: "j-b" });
    fleet.addDevice({ ...config, id: "j-c" });
    const before = window.lifecycleOf(fleet);
    const rebuilt = await store.restoreLifecycle(fleet);
    store.persistFleetJournal(fleet);
    await store.restore(a);
    let suspended = null;
    try { b.sendCommand("reboot", {}); } catch (e) { suspended = e.code; }
    const after = window.lifecycleOf(fleet);
    const csv = await store.exportJournal("j-a", { kind: "audit" });
    const json = JSON.parse(await store.exportJournal("j-a", { format: "json", limit: 2 }));
    // A second session moves on: b is active again.
    fleet.setLifecycle("j-b", "active", "paid");
    await store.flush();
    await store.close();
    return { lifecycle, before, rebuilt, after, suspended, audit: a.getAudit(), sync: a.getSyncHistory(), csv, json,
      next: a.setDesired("setpoint", 71).auditId };
  }, thermostat);
  assert.deepEqual(second.lifecycle.map((r) => r.body.type), ["added", "transition"]);
  assert.equal(second.lifecycle[1].body.reason, "unpaid");
  assert.deepEqual(second.before.counts, { provisioned: 0, active: 3, maintenance: 0, suspended: 0, decommissioned: 0 });
  const want = { "j-a": "active", "j-b": "suspended", "j-c": "decommissioned" };
  assert.deepEqual(second.rebuilt.states, want);
  assert.deepEqual(second.rebuilt.restored.sort(), ["j-b", "j-c"]);
  assert.deepEqual(second.rebuilt.missing, []);
  assert.deepEqual(second.after.states, want);
  assert.deepEqual(second.after.counts, { provisioned: 0, active: 1, maintenance: 0, suspended: 1, decommissioned: 1 });
  assert.equal(second.suspended, "LIFECYCLE", "the restored state is enforced");
  // The twin's audit and sync history are back as they were, and new
  // entries are numbered after them.
  assert.deepEqual(second.audit, first.audit);
  assert.deepEqual(second.sync, first.sync);
  assert.equal(second.next, 3);
  assert.equal(second.csv.split("\r\n")[0], "deviceId,kind,timestamp,seq,body");
  assert.equal(second.csv.trim().split("\r\n").length, 7);
  assert.equal(second.json.length, 2);

  await ctx.page.reload();
  await ctx.page.waitForFunction(() => window.twinkit !== undefined);
  await run(LIFECYCLE_OF);
  const third = await run(async (config) => {
    const { TimeSeriesStore, FleetManager } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "journal" });
    const fleet = new FleetManager();
    for (const id of ["j-a", "j-b", "j-c"]) fleet.addDevice({ ...config, id });
    const rebuilt = await store.restoreLifecycle(fleet);
    await store.close();
    return { rebuilt, after: window.lifecycleOf(fleet) };
  }, thermostat);
  assert.deepEqual(third.after.states, { "j-a": "active", "j-b": "active", "j-c": "decommissioned" });
  assert.deepEqual(third.rebuilt.restored, ["j-c"]);
});

test("journal: read-only through the API, bounded by retention, hostile input refused with a clear error", async () => {
  const r = await run(async (config) => {
    const { TimeSeriesStore, DigitalTwin } = window.twinkit;
    const store = new TimeSeriesStore({ databaseName: "journal-hostile", journal: { maxRecords: 5 } });
    const errors = [];
    store.on("error", (e) => errors.push(e));
    const twin = new DigitalTwin({ ...config, id: "h-1" }, { store });
    await twin.connect();
    for (let i = 0; i < 20; i++) { twin.setDesired("setpoint", 60 + i); twin.takeOutbound(); }
    // Large bodies within the twin's limits are journaled whole; larger
    // ones never get that far (the twin refuses them, naming the limit).
    const big = "y".repeat(60_000);
    const command = twin.sendCommand("reboot", { notes: [big, big, big] });
    let tooLarge = null;
    try { twin.sendCommand("reboot", { notes: [big, big, big, big, big] }); } catch (e) { tooLarge = e.code; }
    twin.takeOutbound();
    twin.handleCommandResponse({ commandId: command.commandId, status: "failed", error: "z".repeat(60_000) });
    window.tooLarge = tooLarge;
    await store.flush();
    const kinds = {};
    for (const rec of await store.queryJournal("h-1")) kinds[rec.kind] = (kinds[rec.kind] ?? 0) + 1;
    const commands = (await store.queryJournal("h-1", { kind: "audit" })).filter((rec) => rec.body.action.kind === "command");
    const newest = await store.queryJournal("h-1", { kind: "audit", limit: 1 });
    const refused = {};
    const attempt = async (name, fn) => { try { await fn(); refused[name] = "accepted"; } catch (e) { refused[name] = `${e.code}: ${e.message}`; } };
    await attempt("proto", () => store.queryJournal("__proto__"));
    await attempt("kind", () => store.queryJournal("h-1", { kind: "telemetry" }));
    await attempt("limit", () => store.queryJournal("h-1", { limit: -1 }));
    await attempt("option", () => store.queryJournal("h-1", { __proto__: { evil: 1 }, nonsense: 1 }));
    await attempt("format", () => store.exportJournal("h-1", { format: "xml" }));
    await attempt("maxRecords", () => new TimeSeriesStore({ journal: { maxRecords: 0 } }));
    // Nothing edits or deletes one record: a returned record is a copy.
    newest[0].body.outcome = "tampered";
    const again = await store.queryJournal("h-1", { kind: "audit", limit: 1 });
    const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(store)).filter((m) => /journal/i.test(m)).sort();
    await store.close();
    return { kinds, errors, refused, again: again[0].body.outcome, methods, polluted: {}.evil, tooLarge: window.tooLarge,
      kept: twin.getAudit({ target: "reboot" }).at(-1),
      commands: commands.map((c) => [c.body.outcome, c.body.action.payload.notes.join("").length, c.body.detail?.length ?? 0]) };
  }, thermostat);
  // At most 5 records per device and kind: the newest.
  assert.deepEqual(r.kinds, { audit: 5, sync: 5 });
  assert.equal(r.tooLarge, "VALUE_TOO_LARGE");
  assert.deepEqual(r.commands.at(-1), ["failed", 180_000, r.kept.detail.length]);
  assert.equal(r.kept.action.payload.notes.join("").length, 180_000);
  assert.deepEqual(r.errors, []);
  assert.match(r.refused.proto, /^INVALID_INPUT: deviceId/);
  assert.match(r.refused.kind, /^INVALID_INPUT: kind `telemetry`/);
  assert.match(r.refused.limit, /^INVALID_INPUT: limit/);
  assert.match(r.refused.option, /^INVALID_INPUT: unknown journal query option `nonsense`/);
  assert.match(r.refused.format, /^INVALID_INPUT: format/);
  assert.match(r.refused.maxRecords, /^INVALID_CONFIG: journal.maxRecords/);
  assert.notEqual(r.again, "tampered");
  assert.deepEqual(r.methods, ["exportJournal", "persistFleetJournal", "persistJournal", "queryJournal", "restoreJournal"]);
  assert.equal(r.polluted, undefined);
});
