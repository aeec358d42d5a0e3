// FleetManager and PredictiveMaintenance from plain JavaScript in headless Chromium.
import { test } from "node:test";
import assert from "node:assert/strict";
import { testPage } from "./harness.mjs";
import { thermostat } from "./fixtures.mjs";

const { run } = testPage();

test("fleet: add, get, all, remove, status, events with deviceId", async () => {
  const r = await run(async (config) => {
    const { FleetManager, DigitalTwin } = window.twinkit;
    const fleet = new FleetManager();
    const events = [];
    const off = fleet.onEvent((e) => events.push([e.deviceId, e.type]));
    const a = fleet.addDevice({ ...config, id: "a" });
    fleet.addDevice({ ...config, id: "b" });
    fleet.addDevice({ ...config, id: "c" });
    let dup = null;
    try { fleet.addDevice({ ...config, id: "a" }); } catch (e) { dup = e.code; }
    let invalid = null;
    try { fleet.addDevice({ ...config, id: "d", properties: [{ name: "x", type: "float" }] }); } catch (e) { invalid = e.code; }
    const ids = fleet.getAllDevices().map((t) => t.id);
    const empty = fleet.getFleetStatus();
    await fleet.connectAll();
    fleet.getDevice("b").applyReported({ temperature: 150 });
    const status = fleet.getFleetStatus();
    const removed = fleet.removeDevice("c");
    const removedAgain = fleet.removeDevice("c");
    const afterRemove = fleet.getFleetStatus();
    off();
    fleet.disconnectAll();
    return {
      isTwin: a instanceof DigitalTwin, ids, dup, invalid, empty, status, removed, removedAgain, afterRemove,
      missing: fleet.getDevice("zzz") === undefined, sameTwin: fleet.getDevice("a").getState().deviceId,
      events, final: fleet.getFleetStatus(),
    };
  }, thermostat);
  assert.ok(r.isTwin);
  assert.deepEqual(r.ids, ["a", "b", "c"]);
  assert.equal(r.dup, "DUPLICATE_DEVICE");
  assert.equal(r.invalid, "INVALID_CONFIG");
  assert.deepEqual(r.empty, {
    total: 3, connected: 0, disconnected: 3, connecting: 0, alerts: 0,
    lifecycle: { provisioned: 0, active: 3, maintenance: 0, suspended: 0, decommissioned: 0 },
  });
  assert.deepEqual(r.status, {
    total: 3, connected: 3, disconnected: 0, connecting: 0, alerts: 1,
    lifecycle: { provisioned: 0, active: 3, maintenance: 0, suspended: 0, decommissioned: 0 },
  });
  assert.equal(r.removed, true);
  assert.equal(r.removedAgain, false);
  assert.equal(r.afterRemove.total, 2);
  assert.ok(r.missing);
  assert.equal(r.sameTwin, "a");
  assert.deepEqual(r.events, [
    ["a", "connected"], ["b", "connected"], ["c", "connected"],
    ["b", "stateChange"], ["b", "telemetry"], ["b", "alert"],
    ["c", "disconnected"],
  ]);
  assert.equal(r.final.connected, 0);
});

test("predictive maintenance on a synthetic rising series", async () => {
  const r = await run((config) => {
    const { DigitalTwin, PredictiveMaintenance } = window.twinkit;
    const hour = 3_600_000;
    const make = (slope, n) => {
      const twin = new DigitalTwin({ ...config, id: `motor-${slope}-${n}` });
      const now = Date.now();
      for (let i = 0; i < n; i++) {
        twin.ingest({ timestamp: now - (n - 1 - i) * hour, values: { temperature: 40 + slope * i } });
      }
      return twin;
    };
    const rising = new PredictiveMaintenance(make(0.5, 24));
    rising.setThreshold("temperature", 60, 80);
    const predictions = rising.analyze();
    const fast = new PredictiveMaintenance(make(2, 24));
    fast.setThreshold("temperature", 60, 100);
    const falling = new PredictiveMaintenance(make(-0.5, 24));
    falling.setThreshold("temperature", 60, 80);
    const few = new PredictiveMaintenance(make(0.5, 9));
    few.setThreshold("temperature", 60, 80);
    let invalid = null;
    try { rising.setThreshold("temperature", 5, 5); } catch (e) { invalid = e.code; }
    return {
      predictions, byName: rising.getPrediction("temperature"), none: rising.getPrediction("humidity"),
      fast: fast.analyze()[0], falling: falling.analyze()[0], few: few.analyze(), invalid,
    };
  }, thermostat);
  // Last point 40 + 0.5·23 = 51.5 °F, rising 0.5 °F/h.
  const p = r.predictions[0];
  assert.equal(r.predictions.length, 1);
  assert.equal(p.property, "temperature");
  assert.equal(p.currentValue, 51.5);
  const near = (actual, expected) => assert.ok(Math.abs(actual - expected) <= Math.abs(expected) * 0.01, `${actual} vs ${expected}`);
  near(p.timeToWarning, (60 - 51.5) / 0.5);
  near(p.timeToCritical, (80 - 51.5) / 0.5);
  near(p.predictedValue, 51.5 + 0.5 * 24);
  assert.ok(p.confidence > 0.5 && p.confidence <= 1, `${p.confidence}`);
  assert.equal(p.recommendation, "Schedule maintenance within this week");
  assert.deepEqual(r.byName, p);
  assert.equal(r.none, undefined);
  // 2 °F/h from 86: critical 100 in 7 h.
  near(r.fast.timeToCritical, (100 - 86) / 2);
  assert.equal(r.fast.timeToWarning, 0);
  assert.equal(r.fast.recommendation, "Immediate maintenance required");
  assert.equal(r.falling.timeToWarning, Infinity);
  assert.equal(r.falling.timeToCritical, Infinity);
  assert.equal(r.falling.recommendation, "Monitor closely, plan maintenance");
  assert.deepEqual(r.few, []);
  assert.equal(r.invalid, "INVALID_THRESHOLD");
});

test("lifecycle: a suspended device takes no commands, a decommissioned twin is read-only, the log replays", async () => {
  const r = await run((config) => {
    const { FleetManager } = window.twinkit;
    const fleet = new FleetManager();
    const twin = fleet.addDevice({ ...config, id: "life-1" });
    twin.connect();
    const inFlight = twin.sendCommand("reboot", {});
    fleet.setLifecycle("life-1", "suspended", "maintenance window");
    const failed = twin.getCommand(inFlight.commandId).status;
    let refused = null;
    try { twin.sendCommand("reboot", {}); } catch (e) { refused = e.code; }
    let invalid = null;
    try { fleet.setLifecycle("life-1", "provisioned"); } catch (e) { invalid = e.code; }
    let unknown = null;
    try { fleet.setLifecycle("life-1", "retired"); } catch (e) { unknown = e.message; }
    fleet.setLifecycle("life-1", "active");
    fleet.setLifecycle("life-1", "decommissioned");
    let readOnly = null;
    try { twin.setDesired("setpoint", 70); } catch (e) { readOnly = e.code; }
    return { failed, refused, invalid, unknown, readOnly, status: fleet.getFleetStatus().lifecycle, log: fleet.getLifecycleLog().map((e) => e.type === "transition" ? `${e.from}->${e.to}` : e.type) };
  }, thermostat);
  assert.equal(r.failed, "failed", "in-flight commands fail on suspension");
  assert.equal(r.refused, "LIFECYCLE");
  assert.equal(r.invalid, "INVALID_TRANSITION");
  assert.match(r.unknown, /retired/);
  assert.equal(r.readOnly, "LIFECYCLE");
  assert.equal(r.status.decommissioned, 1);
  assert.deepEqual(r.log, ["added", "active->suspended", "suspended->active", "active->decommissioned"]);
});
