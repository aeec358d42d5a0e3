// Analytics from JavaScript: anomaly detection and health as telemetry
// arrives, detailed predictions with intervals, what-if scenarios.
import { test } from "node:test";
import assert from "node:assert/strict";
import { testPage } from "./harness.mjs";

const { run } = testPage();

const ROOM = {
  id: "room-1",
  name: "Room",
  type: "room",
  telemetryInterval: 60_000,
  properties: [
    { name: "temperature", type: "number", min: -20, max: 80, telemetry: true },
    { name: "heater", type: "number", min: 0, max: 1, telemetry: true, writable: true },
  ],
};

test("AnomalyDetector: a spike in steady noise is detected once, health is reported, handlers can unsubscribe", async () => {
  const r = await run((config) => {
    const { DigitalTwin, AnomalyDetector } = window.twinkit;
    const twin = new DigitalTwin(config);
    const detector = new AnomalyDetector(twin);
    const seen = [];
    const off = detector.onDetection((d) => seen.push(d));
    const t0 = Date.now() - 200 * 60_000;
    let seed = 7;
    const noise = () => { seed = (seed * 16807) % 2147483647; return (seed / 2147483647 - 0.5) * 0.4; };
    for (let i = 0; i < 150; i++) {
      const value = i === 120 ? 45 : 21 + noise();
      twin.ingest({ deviceId: "room-1", timestamp: t0 + i * 60_000, values: { temperature: value, heater: 0 } });
    }
    off();
    const heard = seen.length;
    // A sensor that switches to a new level: detected, but not heard.
    for (let i = 151; i < 200; i++) {
      twin.ingest({ deviceId: "room-1", timestamp: t0 + i * 60_000, values: { heater: i > 160 ? 1 : 0 } });
    }
    const health = detector.getHealth("temperature");
    return { seen: seen.filter((d) => d.property === "temperature"), heard, after: seen.length, all: detector.getDetections(), kept: detector.getDetections("temperature"), health };
  }, ROOM);
  const spikes = r.seen.filter((d) => d.type === "SPIKE");
  assert.equal(spikes.length, 1, JSON.stringify(r.seen));
  assert.equal(spikes[0].value, 45);
  assert.ok(spikes[0].expectedRange.max < 45);
  assert.deepEqual(r.kept, r.seen, "getDetections keeps what handlers heard");
  assert.equal(r.after, r.heard, "no handler runs after unsubscribing");
  assert.equal(r.health.length, 1);
  assert.ok(["HEALTHY", "DEGRADED", "FAILED"].includes(r.health[0].status));
  assert.ok(r.health[0].readings > 0 && r.health[0].score >= 0 && r.health[0].score <= 100, JSON.stringify(r.health[0]));
});

test("AnomalyDetector: a stuck sensor is detected; bad settings are refused by name", async () => {
  const r = await run((config) => {
    const { DigitalTwin, AnomalyDetector } = window.twinkit;
    const twin = new DigitalTwin(config);
    const detector = new AnomalyDetector(twin, { stuckReadings: 10 });
    const t0 = Date.now() - 100 * 60_000;
    for (let i = 0; i < 60; i++) {
      const value = i < 30 ? 20 + (i % 5) * 0.3 : 22.5;
      twin.ingest({ deviceId: "room-1", timestamp: t0 + i * 60_000, values: { temperature: value } });
    }
    let refused = null;
    try { new AnomalyDetector(twin, { window: "big" }); } catch (e) { refused = { name: e.name, code: e.code, message: e.message }; }
    let unknown = null;
    try { new AnomalyDetector(twin, { bogus: 1 }); } catch (e) { unknown = e.message; }
    return { types: detector.getDetections().map((d) => d.type), refused, unknown };
  }, ROOM);
  assert.ok(r.types.includes("STUCK"), JSON.stringify(r.types));
  assert.equal(r.refused.name, "TwinError");
  assert.match(r.refused.message, /window/);
  assert.match(r.unknown, /bogus/);
});

test("analyzeDetailed: both trends with intervals that bracket the estimate", async () => {
  const r = await run((config) => {
    const { DigitalTwin, PredictiveMaintenance } = window.twinkit;
    const twin = new DigitalTwin(config);
    const now = Date.now();
    for (let i = 0; i < 48; i++) {
      const hoursAgo = 47 - i;
      const value = 30 + 0.5 * i + ((i * 37) % 7 - 3) * 0.1;
      twin.ingest({ deviceId: "room-1", timestamp: now - hoursAgo * 3_600_000, values: { temperature: value } });
    }
    const pm = new PredictiveMaintenance(twin);
    pm.setThreshold("temperature", 60, 70);
    return pm.analyzeDetailed({ confidenceLevel: 0.9 });
  }, ROOM);
  assert.equal(r.length, 1);
  const p = r[0];
  assert.equal(p.property, "temperature");
  for (const trend of [p.leastSquares, p.theilSen]) {
    assert.ok(Math.abs(trend.slopePerHour - 0.5) < 0.05, `${trend.method} slope ${trend.slopePerHour}`);
    const { estimate, lower, upper } = trend.timeToCritical;
    assert.ok(lower <= estimate && estimate <= upper, JSON.stringify(trend.timeToCritical));
    // 70 is reached (70 − 53.5) / 0.5 ≈ 33 h after the last reading.
    assert.ok(Math.abs(estimate - 33) < 2, `estimate ${estimate}`);
  }
});

test("whatIf: a thermal model fitted from history predicts when the heater brings the room to a level", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    // dT/dt = (10 − T)/τ + k·u with τ = 1800 s, k = 0.01 K/s: heater on
    // settles at 10 + 0.01·1800 = 28 °C. One reading a minute, heater
    // switched every 2 h.
    const tau = 1800, k = 0.01, ambient = 10;
    const minutes = 12 * 60;
    const t0 = Date.now() - minutes * 60_000;
    let temperature = 12;
    for (let i = 0; i <= minutes; i++) {
      const heater = Math.floor(i / 120) % 2 === 0 ? 1 : 0;
      twin.ingest({ deviceId: "room-1", timestamp: t0 + i * 60_000, values: { temperature, heater } });
      const target = ambient + k * tau * heater;
      temperature = target + (temperature - target) * Math.exp(-60 / tau);
    }
    const outcome = twin.whatIf({ property: "temperature", actuator: "heater", value: 1, level: 25 }, "thermal");
    let refused = null;
    try { twin.whatIf({ property: "temperature", actuator: "heater", value: 1, level: 25, surprise: true }); } catch (e) { refused = e.message; }
    let badModel = null;
    try { twin.whatIf({ property: "temperature", actuator: "heater", value: 1, level: 25 }, "magic"); } catch (e) { badModel = e.message; }
    return { outcome, last: temperature, refused, badModel, state: twin.getState().desired };
  }, ROOM);
  const { outcome } = r;
  assert.ok(Math.abs(outcome.settlesAt - 28) < 0.5, `settles at ${outcome.settlesAt}`);
  // Analytic crossing from the last reading: t = τ·ln((28 − T0)/(28 − 25)).
  const expected = (1800 * Math.log((28 - r.last) / 3)) / 3600;
  assert.ok(outcome.crossing.estimate > 0);
  assert.ok(Math.abs(outcome.crossing.estimate - expected) < 0.1 + 0.1 * expected, `crossing ${outcome.crossing.estimate} vs ${expected}`);
  assert.ok(outcome.trajectory.length > 10);
  assert.match(r.refused, /surprise/);
  assert.match(r.badModel, /magic/);
  assert.deepEqual(r.state, {}, "a simulation never sets desired state");
});

test("freeing a detector resolves the alerts it raised; the twin's own alerts stay", async () => {
  const r = await run((config) => {
    const { DigitalTwin, AnomalyDetector } = window.twinkit;
    const twin = new DigitalTwin(config);
    const detector = new AnomalyDetector(twin, { stuckReadings: 10 });
    const t0 = Date.now() - 100 * 60_000;
    let i = 0;
    const feed = (value) => twin.ingest({ deviceId: "room-1", timestamp: t0 + 60_000 * i++, values: { temperature: value } });
    for (let k = 0; k < 40; k++) feed(20 + (k % 5) * 0.3);
    for (let k = 0; k < 30; k++) feed(99);
    const during = twin.getActiveAlerts().map((a) => a.condition).sort();
    detector.free();
    const after = twin.getActiveAlerts().map((a) => a.condition).sort();
    feed(99);
    return { during, after, still: twin.getActiveAlerts().map((a) => a.condition).sort() };
  }, ROOM);
  assert.ok(r.during.includes("STUCK"), JSON.stringify(r.during));
  assert.ok(!r.after.includes("STUCK"), JSON.stringify(r.after));
  // The threshold alert (99 is above max) is the twin's, not the detector's.
  assert.ok(r.after.some((c) => c !== "STUCK"), JSON.stringify(r.after));
  assert.deepEqual(r.still, r.after, "a freed detector raises nothing more");
});

test("detections become twin alerts, one per property and anomaly, resolved when the detector lets go", async () => {
  const r = await run((config) => {
    const { DigitalTwin, AnomalyDetector } = window.twinkit;
    const twin = new DigitalTwin(config);
    new AnomalyDetector(twin, { stuckReadings: 10 });
    const events = [];
    twin.on("alert", (e) => events.push({ condition: e.data.condition, status: e.data.status }));
    const t0 = Date.now() - 400 * 60_000;
    let i = 0;
    const feed = (value) => twin.ingest({ deviceId: "room-1", timestamp: t0 + 60_000 * i++, values: { temperature: value } });
    for (let k = 0; k < 40; k++) feed(20 + (k % 5) * 0.3);
    for (let k = 0; k < 30; k++) feed(22.5);
    const during = twin.getActiveAlerts().map((a) => a.condition);
    for (let k = 0; k < 200; k++) feed(20 + (k % 7) * 0.3);
    return { during, events, after: twin.getActiveAlerts().map((a) => a.condition) };
  }, ROOM);
  assert.deepEqual(r.during, ["STUCK"]);
  assert.equal(r.events.filter((e) => e.condition === "STUCK" && e.status === "active").length, 1, JSON.stringify(r.events));
  assert.ok(r.events.some((e) => e.condition === "STUCK" && e.status === "cleared"), JSON.stringify(r.events));
  assert.ok(!r.after.includes("STUCK"));
});
