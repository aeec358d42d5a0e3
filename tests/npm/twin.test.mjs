// DigitalTwin from plain JavaScript in headless Chromium.
import { test } from "node:test";
import assert from "node:assert/strict";
import { testPage } from "./harness.mjs";
import { thermostat } from "./fixtures.mjs";

const { run } = testPage();

test("state, metadata and plain objects", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    const before = twin.getState();
    twin.applyReported({ temperature: 70.5, isRunning: true });
    const state = twin.getState();
    return {
      before,
      state,
      json: JSON.parse(JSON.stringify(state)),
      proto: Object.getPrototypeOf(state) === Object.prototype,
      temp: twin.getProperty("temperature"),
      missing: twin.getProperty("nope"),
      id: twin.id,
      password: JSON.stringify(twin.getConfig()),
    };
  }, { ...thermostat, connectionType: "websocket", connectionConfig: { url: "ws://127.0.0.1:1/ws", password: "hunter2" } });
  assert.equal(r.before.version, 0);
  assert.equal(r.state.deviceId, "device-001");
  assert.equal(r.state.reported.temperature, 70.5);
  assert.equal(r.state.reported.isRunning, true);
  assert.equal(r.state.version, 2);
  assert.equal(r.state.metadata.temperature.source, "device");
  assert.equal(r.state.metadata.temperature.version, 1);
  assert.ok(r.state.metadata.temperature.lastUpdated > 1.7e12);
  assert.deepEqual(r.json, r.state);
  assert.ok(r.proto);
  assert.equal(r.temp, 70.5);
  assert.equal(r.missing, undefined);
  assert.equal(r.id, "device-001");
  assert.ok(!r.password.includes("hunter2"), r.password);
});

test("setDesired: delta, clearing, and distinct errors that change nothing", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    twin.setDesired("setpoint", 72);
    const delta = twin.getState().delta;
    twin.applyReported({ setpoint: 72 });
    const caughtUp = twin.getState().delta;
    const snapshot = JSON.stringify(twin.getState());
    const errors = [];
    for (const [p, v] of [["nope", 1], ["temperature", 50], ["setpoint", "72"], ["setpoint", 90], ["setpoint", 54], ["mode", 3]]) {
      try { twin.setDesired(p, v); errors.push(null); }
      catch (e) { errors.push({ name: e.name, code: e.code, message: e.message, isError: e instanceof Error }); }
    }
    const unchanged = JSON.stringify(twin.getState()) === snapshot;
    twin.setDesired("setpoint", null);
    return { delta, caughtUp, errors, unchanged, desired: twin.getState().desired };
  }, thermostat);
  assert.deepEqual(r.delta, { setpoint: 72 });
  assert.deepEqual(r.caughtUp, {});
  assert.deepEqual(r.errors.map((e) => e.code), ["UNKNOWN_PROPERTY", "NOT_WRITABLE", "TYPE_MISMATCH", "OUT_OF_RANGE", "OUT_OF_RANGE", "TYPE_MISMATCH"]);
  for (const e of r.errors) {
    assert.equal(e.name, "TwinError");
    assert.ok(e.isError);
  }
  assert.match(r.errors[0].message, /`nope`/);
  assert.match(r.errors[3].message, /setpoint.*90.*\[55, 85\]/);
  assert.ok(r.unchanged);
  assert.deepEqual(r.desired, {});
});

test("an invalid config throws a TwinError naming the field", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const attempt = (c) => { try { new DigitalTwin(c); return null; } catch (e) { return { name: e.name, code: e.code, message: e.message }; } };
    return [
      attempt({ ...config, id: "" }),
      attempt({ ...config, properties: [{ name: "x", type: "float" }] }),
      attempt({ ...config, properties: [{ name: "x", type: "number", min: 5, max: 1 }] }),
      attempt({ ...config, connectionType: "pigeon" }),
      attempt({ ...config, properties: [{ name: "x", type: "number", min: "low" }] }),
      attempt("not a config"),
    ];
  }, thermostat);
  assert.ok(r.every((e) => e && e.name === "TwinError" && e.code === "INVALID_CONFIG"), JSON.stringify(r));
  assert.match(r[0].message, /`id`/);
  assert.match(r[1].message, /properties\[0\]\.type/);
  assert.match(r[2].message, /min 5 is greater than max 1/);
  assert.match(r[3].message, /connectionType/);
  assert.match(r[4].message, /properties\[0\]\.min/);
});

test("commands: lifecycle through an in-process device, with events", async () => {
  const r = await run(async (config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    const statuses = [];
    twin.on("command", (e) => statuses.push(e.data.status));
    const connected = [];
    twin.on("connected", (e) => connected.push(e.deviceId));
    await twin.connect();
    const cmd = twin.sendCommand("calibrate", { reference: 25.0 });
    const out = twin.takeOutbound();
    twin.handleCommandResponse({ commandId: cmd.commandId, status: "acknowledged" });
    twin.handleCommandResponse({ commandId: cmd.commandId, status: "completed", result: { offset: 0.1 } });
    let late = null;
    try { twin.handleCommandResponse({ commandId: cmd.commandId, status: "completed" }); } catch (e) { late = e.code; }
    let unknown = null;
    try { twin.handleCommandResponse({ commandId: "nope", status: "completed" }); } catch (e) { unknown = e.code; }
    return { cmd, out, statuses, final: twin.getCommand(cmd.commandId), late, unknown, connected, isConnected: twin.isConnected };
  }, thermostat);
  assert.equal(r.cmd.status, "pending");
  assert.match(r.cmd.commandId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(r.cmd.payload, { reference: 25 });
  assert.equal(r.out.length, 1);
  assert.equal(r.out[0].type, "command");
  assert.equal(r.out[0].status, "sent");
  assert.deepEqual(r.statuses, ["pending", "sent", "acknowledged", "completed"]);
  assert.equal(r.final.status, "completed");
  assert.deepEqual(r.final.result, { offset: 0.1 });
  assert.equal(r.late, "LATE_COMMAND_RESPONSE");
  assert.equal(r.unknown, "UNKNOWN_COMMAND");
  assert.deepEqual(r.connected, ["device-001"]);
  assert.equal(r.isConnected, true);
});

test("commands time out on the page's clock", async () => {
  const r = await run(async (config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config, { commandTimeout: 50 });
    const events = [];
    twin.on("command", (e) => events.push(e.data));
    const cmd = twin.sendCommand("restart", { delay: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { events, final: twin.getCommand(cmd.commandId) };
  }, thermostat);
  assert.equal(r.final.status, "failed");
  assert.match(r.final.error, /timed out after 50 ms/);
  assert.deepEqual(r.events.map((e) => e.status), ["pending", "failed"]);
});

test("telemetry history with property and limit, and telemetry events", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    const seen = [];
    twin.on("telemetry", (e) => seen.push(e.data.values));
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 20; i++) {
      twin.ingest({ deviceId: "device-001", timestamp: t0 + i * 1000, values: { temperature: 60 + i, humidity: 40, setpoint: 70 } });
    }
    return {
      all: twin.getTelemetryHistory(),
      temp: twin.getTelemetryHistory("temperature"),
      last3: twin.getTelemetryHistory("temperature", 3),
      none: twin.getTelemetryHistory("setpoint"),
      seen: seen.length,
      first: seen[0],
    };
  }, thermostat);
  assert.equal(r.all.length, 20);
  assert.deepEqual(Object.keys(r.all[0].values).sort(), ["humidity", "temperature"]);
  assert.equal(r.temp.length, 20);
  assert.deepEqual(r.last3.map((d) => d.values.temperature), [77, 78, 79]);
  assert.ok(r.last3[0].timestamp < r.last3[2].timestamp);
  assert.equal(r.last3[0].deviceId, "device-001");
  assert.deepEqual(r.none, []);
  assert.equal(r.seen, 20);
  assert.deepEqual(r.first, { humidity: 40, temperature: 60 });
});

test("alerts on threshold crossings: one per condition, escalation, clear, acknowledge", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    const alerts = [];
    twin.on("alert", (e) => alerts.push(e.data));
    for (const t of [99, 101, 100.5, 101, 108]) twin.applyReported({ temperature: t });
    const active = twin.getActiveAlerts();
    const acked = twin.acknowledgeAlert(active[0].id);
    twin.applyReported({ temperature: 90 });
    let unknown = null;
    try { twin.acknowledgeAlert("nope"); } catch (e) { unknown = e.code; }
    return { alerts, active, acked, after: twin.getActiveAlerts(), unknown };
  }, thermostat);
  assert.deepEqual(r.alerts.map((a) => [a.severity, a.status]), [
    ["warning", "active"], ["critical", "active"], ["critical", "active"], ["critical", "cleared"],
  ]);
  assert.equal(r.active.length, 1);
  assert.equal(r.active[0].condition, "ABOVE_MAX");
  assert.equal(r.active[0].deviceId, "device-001");
  assert.match(r.active[0].message, /temperature is 108 fahrenheit, above the maximum 100 fahrenheit/);
  assert.equal(r.acked.acknowledged, true);
  assert.deepEqual(r.after, []);
  assert.equal(r.unknown, "UNKNOWN_ALERT");
});

test("unsubscribe stops delivery; a throwing handler does not stop the others; handlers may call the twin", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    let a = 0, b = 0;
    const versions = [];
    const errors = [];
    const off = twin.on("stateChange", () => { a++; });
    twin.on("stateChange", () => { throw new Error("handler bug"); });
    twin.on("stateChange", (e) => { b++; versions.push(twin.getState().version === e.data.version); });
    twin.on("error", (e) => errors.push(e.data.code));
    twin.applyReported({ temperature: 70 });
    off();
    off();
    twin.applyReported({ temperature: 71 });
    let badEvent = null;
    try { twin.on("nonsense", () => {}); } catch (e) { badEvent = e.code; }
    return { a, b, versions, errors, badEvent };
  }, thermostat);
  assert.equal(r.a, 1);
  assert.equal(r.b, 2);
  assert.deepEqual(r.versions, [true, true]);
  assert.deepEqual(r.errors, ["HANDLER_FAILED", "HANDLER_FAILED"]);
  assert.equal(r.badEvent, "UNKNOWN_EVENT");
});

test("connect: in-process at once; a refused network connection fails clearly without credentials; dispose", async () => {
  const r = await run(async (config) => {
    const { DigitalTwin } = window.twinkit;
    const ws = new DigitalTwin({
      ...config,
      connectionType: "websocket",
      connectionConfig: { url: "ws://operator:hunter2@127.0.0.1:9/ws?token=hunter2", password: "hunter2", reconnect: false },
    });
    const errors = [];
    ws.on("error", (e) => errors.push(e.data));
    let refused = null;
    try { await ws.connect(); } catch (e) { refused = { code: e.code, message: e.message }; }
    const http = new DigitalTwin({ ...config, connectionType: "http", connectionConfig: { url: "http://127.0.0.1:9/", password: "hunter2", reconnect: false } });
    let httpRefused = null;
    try { await http.connect(); } catch (e) { httpRefused = { code: e.code, message: e.message }; }
    const mqtt = new DigitalTwin({ ...config, connectionType: "mqtt", connectionConfig: { url: "ws://127.0.0.1:9/", username: "operator", password: "hunter2", reconnect: false } });
    let mqttRefused = null;
    try { await mqtt.connect(); } catch (e) { mqttRefused = e.code; }
    const twin = new DigitalTwin(config);
    await twin.connect();
    let calls = 0;
    twin.on("stateChange", () => calls++);
    const cmd = twin.sendCommand("x", 1);
    twin.dispose();
    let after = null;
    try { twin.setDesired("setpoint", 70); } catch (e) { after = e.code; }
    return { refused, errors, httpRefused, mqttRefused, state: ws.connectionState, cmd: twin.getCommand(cmd.commandId).status, after, calls, connected: twin.isConnected, readable: twin.getState().deviceId };
  }, thermostat);
  assert.equal(r.refused.code, "NOT_CONNECTED");
  assert.match(r.refused.message, /could not connect to ws:\/\/127\.0\.0\.1:9\/ws/);
  assert.equal(r.errors[0].code, "CONNECT_FAILED");
  assert.doesNotMatch(JSON.stringify(r), /hunter2|operator/);
  assert.equal(r.state, "disconnected");
  assert.equal(r.httpRefused.code, "NOT_CONNECTED");
  assert.match(r.httpRefused.message, /could not connect to http:\/\/127\.0\.0\.1:9\//);
  assert.equal(r.mqttRefused, "NOT_CONNECTED");
  assert.equal(r.cmd, "failed");
  assert.equal(r.after, "DISPOSED");
  assert.equal(r.connected, false);
  assert.equal(r.readable, "device-001");
});
