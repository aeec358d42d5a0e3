// Hostile input: clear errors, no crash, no prototype pollution.
import { test } from "node:test";
import assert from "node:assert/strict";
import { testPage } from "./harness.mjs";
import { thermostat } from "./fixtures.mjs";

const { run } = testPage();

test("hostile configs and payloads are refused clearly and pollute nothing", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const attempt = (f) => { try { f(); return "accepted"; } catch (e) { return `${e.name}:${e.code}:${e.message}`; } };
    const deep = (n) => { let v = 1; for (let i = 0; i < n; i++) v = { a: v }; return v; };
    const huge = "x".repeat(10 * 1024 * 1024);
    const twin = new DigitalTwin(config);
    const results = {
      protoConfig: attempt(() => new DigitalTwin(JSON.parse(`{"id":"p","name":"P","type":"t","properties":[],"__proto__":{"polluted":true}}`))),
      protoProperty: attempt(() => new DigitalTwin({ ...config, properties: [{ name: "__proto__", type: "number" }] })),
      constructorName: attempt(() => new DigitalTwin({ ...config, properties: [{ name: "constructor", type: "number" }] })),
      hugeConfig: attempt(() => new DigitalTwin({ ...config, name: huge })),
      nanMin: attempt(() => new DigitalTwin({ ...config, properties: [{ name: "x", type: "number", min: NaN }] })),
      protoPayload: attempt(() => twin.sendCommand("x", JSON.parse(`{"__proto__":{"polluted":true}}`))),
      constructorPayload: attempt(() => twin.sendCommand("x", { constructor: { prototype: { polluted: true } } })),
      hugePayload: attempt(() => twin.sendCommand("x", { blob: huge })),
      deepPayload: attempt(() => twin.sendCommand("x", deep(1000))),
      nanDesired: attempt(() => twin.setDesired("setpoint", NaN)),
      infDesired: attempt(() => twin.setDesired("setpoint", Infinity)),
      fnDesired: attempt(() => twin.setDesired("mode", () => 1)),
      wrongTypeDesired: attempt(() => twin.setDesired("mode", { a: 1 })),
      badLimit: attempt(() => twin.getTelemetryHistory("temperature", -1)),
      badTimestamp: attempt(() => twin.ingest({ timestamp: "yesterday", values: { temperature: 1 } })),
      notAnObject: attempt(() => twin.applyReported(42)),
    };
    const errors = [];
    twin.on("error", (e) => errors.push([e.data.code, e.data.property]));
    const outcome = twin.applyReported(JSON.parse(`{"__proto__": {"polluted": true}, "temperature": 70, "humidity": null}`));
    const mixed = twin.applyReported({ temperature: NaN, humidity: Infinity, mode: "eco", isRunning: "yes", setpoint: 70, blob: { constructor: 1 } });
    const ingestMixed = twin.ingest({ timestamp: Date.now(), values: { temperature: -Infinity, humidity: 41 } });
    return {
      results, outcome, mixed, ingestMixed, errors,
      state: twin.getState(),
      polluted: ({}).polluted, protoPolluted: Object.prototype.polluted,
      stillWorks: new DigitalTwin({ ...config, id: "after" }).getState().deviceId,
    };
  }, thermostat);
  for (const [name, result] of Object.entries(r.results)) {
    assert.match(result, /^TwinError:[A-Z_]+:.+/, `${name}: ${result}`);
  }
  assert.match(r.results.protoConfig, /__proto__/);
  assert.match(r.results.hugeConfig, /longer than/);
  assert.match(r.results.deepPayload, /deeper/);
  assert.match(r.results.nanDesired, /NaN is not a finite number/);
  assert.match(r.results.wrongTypeDesired, /TYPE_MISMATCH/);
  assert.deepEqual(r.outcome.applied, ["humidity", "temperature"]);
  assert.deepEqual(r.outcome.rejected.map((x) => [x.property, x.code]), [["__proto__", "INVALID_NAME"]]);
  assert.deepEqual(r.mixed.applied.sort(), ["mode", "setpoint"]);
  assert.deepEqual(
    r.mixed.rejected.map((x) => [x.property, x.code]).sort(),
    [["blob", "INVALID_VALUE"], ["humidity", "INVALID_VALUE"], ["isRunning", "TYPE_MISMATCH"], ["temperature", "INVALID_VALUE"]],
  );
  assert.deepEqual(r.ingestMixed.applied, ["humidity"]);
  assert.equal(r.state.reported.temperature, 70, "the NaN did not replace the last good value");
  assert.equal(r.state.reported.mode, "eco");
  assert.equal(r.polluted, undefined);
  assert.equal(r.protoPolluted, undefined);
  assert.equal(r.stillWorks, "after");
  assert.ok(r.errors.some(([code, p]) => code === "INVALID_VALUE" && p === "temperature"));
  assert.ok(r.errors.some(([code, p]) => code === "INVALID_NAME" && p === "__proto__"));
});
