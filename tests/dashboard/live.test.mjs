// The dashboard in live mode (`?live=mqtt&broker=…`) in Debian's Chromium,
// against a real mosquitto fed by the twinkit-sim binary, both started here
// on 127.0.0.1 (tests/connections/services.mjs; the binary is built by
// scripts/test.sh): the twins connect over MQTT, devices update, a setpoint
// goes pending then synced once the simulator reports it, a command
// completes, and the page logs no error. The same page over the simulator's
// WebSocket JSON server connects and updates too.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { openPage } from "../npm/harness.mjs";
import { freePort, startMosquitto, startSim } from "../connections/services.mjs";

const DEVICES = 5;
let broker;
let sim;
let wsPort;
let ctx;
const page = () => ctx.page;

before(async () => {
  broker = await startMosquitto();
  wsPort = await freePort();
  sim = await startSim(
    ["--mqtt", `127.0.0.1:${broker.ports.tcp}`, "--ws", `127.0.0.1:${wsPort}`,
      "--devices", String(DEVICES), "--interval", "250", "--prefix", "twinkit"],
    [wsPort],
  );
  const query = `live=mqtt&broker=${encodeURIComponent(`ws://127.0.0.1:${broker.ports.ws}`)}&devices=${DEVICES}&rate=4`;
  ctx = await openPage(`www/index.html?${query}`, () => document.querySelectorAll("[data-device-row]").length > 0);
});

after(async () => {
  await ctx?.close();
  await sim?.stop();
  await broker?.stop();
});

async function route(hash, selector) {
  await page().evaluate((h) => { location.hash = h; }, hash);
  await page().waitForSelector(selector);
}

test("live mode over MQTT: every twin connects to the broker", async () => {
  assert.equal(await page().getAttribute("[data-live-status]", "data-live-kind"), "mqtt");
  await page().waitForSelector("[data-live-status=connected]");
  assert.match(await page().textContent("[data-live-status]"), new RegExp(`mqtt ${DEVICES}/${DEVICES} connected`));
  assert.equal(await page().textContent("[data-total=connected]"), String(DEVICES));
  const ids = await page().$$eval("[data-device-row]", (rows) => rows.map((r) => r.dataset.deviceId));
  assert.deepEqual(ids, ["thermostat-001", "motor-002", "sensor-003", "thermostat-004", "motor-005"]);
});

test("at least 3 devices update from the simulator's telemetry", async () => {
  const before = await page().$$eval("[data-device-row]", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.deviceId, r.dataset.version])));
  await page().waitForFunction((before) => {
    const rows = [...document.querySelectorAll("[data-device-row]")];
    return rows.filter((r) => before[r.dataset.deviceId] !== r.dataset.version).length >= 3;
  }, before);
});

test("a setpoint change goes pending, then synced when the simulator reports it", async () => {
  await route("#/device/thermostat-001", "tr[data-property=setpoint] input[type=number]");
  await page().evaluate(() => {
    window.syncStates = [];
    const cell = document.querySelector("tr[data-property=setpoint] [data-sync]");
    new MutationObserver(() => window.syncStates.push(cell.dataset.sync))
      .observe(cell, { attributes: true, attributeFilter: ["data-sync"] });
  });
  await page().fill("tr[data-property=setpoint] input[type=number]", "23.5");
  await page().click("tr[data-property=setpoint] button[type=submit]");
  await page().waitForFunction(() => window.syncStates.includes("synced"));
  const states = await page().evaluate(() => window.syncStates);
  assert.equal(states[0], "pending", `states seen: ${states}`);
  assert.equal(await page().textContent("tr[data-property=setpoint] [data-reported]"), "23.5 °C");
});

test("a command sent over MQTT reaches completed", async () => {
  await page().selectOption(".command-form select", "calibrate");
  await page().click(".command-form button[type=submit]");
  const done = await page().waitForSelector("li.command[data-name=calibrate][data-status=completed]");
  const steps = await done.$$eval(".step.done", (s) => s.map((e) => e.textContent));
  assert.deepEqual(steps, ["pending", "sent", "acknowledged", "completed"]);
  assert.deepEqual(ctx.errors, []);
});

test("live mode over WebSocket JSON: the twins connect to the simulator and update", async () => {
  const ws = await openPage(`www/index.html?live=websocket&url=${encodeURIComponent(`ws://127.0.0.1:${wsPort}/`)}&devices=${DEVICES}&rate=4&history=off`,
    () => document.querySelectorAll("[data-device-row]").length > 0);
  try {
    await ws.page.waitForSelector("[data-live-status=connected]");
    assert.equal(await ws.page.getAttribute("[data-live-status]", "data-live-kind"), "websocket");
    await ws.page.waitForFunction(() =>
      [...document.querySelectorAll("[data-device-row]")].filter((r) => Number(r.dataset.version) > 1).length >= 3);
    assert.deepEqual(ws.errors, []);
  } finally {
    await ws.close();
  }
});

test("unusable live parameters show an error instead of a fleet", async () => {
  const bad = await openPage("www/index.html?live=carrier-pigeon&broker=ws://127.0.0.1:1",
    () => document.querySelector("[data-start-error]") !== null);
  try {
    assert.match(await bad.page.textContent("[data-start-error]"), /not a connection type: use mqtt, websocket or http/);
    assert.equal(await bad.page.$$eval("[data-device-row]", (r) => r.length), 0);
  } finally {
    await bad.close();
  }
});
