// The dashboard in live mode (`?live=mqtt&broker=…`) in Debian's Chromium,
// against a real mosquitto fed by the twinkit-sim binary, both started here
// on 127.0.0.1 (tests/connections/services.mjs; the binary is built by
// scripts/test.sh): the twins connect over MQTT, devices update, a setpoint
// goes pending then synced once the simulator reports it, a command
// completes, and the page logs no error. The same page over the simulator's
// WebSocket JSON server connects and updates, and over its HTTP server
// (polling) connects, updates, syncs a setpoint and completes a command.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { openPage } from "../npm/harness.mjs";
import { freePort, startMosquitto, startSim } from "../connections/services.mjs";
import { commandCompletes, devicesUpdate, setpointPendingThenSynced } from "./steps.mjs";

const DEVICES = 5;
let broker;
let sim;
let wsPort;
let httpPort;
let ctx;
const page = () => ctx.page;

before(async () => {
  broker = await startMosquitto();
  wsPort = await freePort();
  httpPort = await freePort();
  sim = await startSim(
    ["--mqtt", `127.0.0.1:${broker.ports.tcp}`, "--ws", `127.0.0.1:${wsPort}`, "--http", `127.0.0.1:${httpPort}`,
      "--devices", String(DEVICES), "--interval", "250", "--prefix", "twinkit"],
    [wsPort, httpPort],
  );
  const query = `live=mqtt&broker=${encodeURIComponent(`ws://127.0.0.1:${broker.ports.ws}`)}&devices=${DEVICES}&rate=4`;
  ctx = await openPage(`www/index.html?${query}`, () => document.querySelectorAll("[data-device-row]").length > 0);
});

after(async () => {
  await ctx?.close();
  await sim?.stop();
  await broker?.stop();
});

test("live mode over MQTT: every twin connects to the broker", async () => {
  assert.equal(await page().getAttribute("[data-live-status]", "data-live-kind"), "mqtt");
  await page().waitForSelector("[data-live-status=connected]");
  assert.match(await page().textContent("[data-live-status]"), new RegExp(`mqtt ${DEVICES}/${DEVICES} connected`));
  assert.equal(await page().textContent("[data-total=connected]"), String(DEVICES));
  const ids = await page().$$eval("[data-device-row]", (rows) => rows.map((r) => r.dataset.deviceId));
  assert.deepEqual(ids, ["thermostat-001", "motor-002", "sensor-003", "thermostat-004", "motor-005"]);
});

test("at least 3 devices update from the simulator's telemetry", async () => {
  await devicesUpdate(page(), 3);
});

test("a setpoint change goes pending, then synced when the simulator reports it", async () => {
  await setpointPendingThenSynced(page(), "thermostat-001", 23.5);
});

test("a command sent over MQTT reaches completed", async () => {
  await commandCompletes(page());
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

describe("live mode over HTTP", () => {
  let http;
  before(async () => {
    http = await openPage(`www/index.html?live=http&url=${encodeURIComponent(`http://127.0.0.1:${httpPort}`)}&devices=${DEVICES}&rate=4&history=off`,
      () => document.querySelectorAll("[data-device-row]").length > 0);
  });
  after(async () => { await http?.close(); });

  test("every twin connects to the simulator's HTTP server", async () => {
    await http.page.waitForSelector("[data-live-status=connected]", { timeout: 30_000 });
    assert.equal(await http.page.getAttribute("[data-live-status]", "data-live-kind"), "http");
    assert.match(await http.page.textContent("[data-live-status]"), new RegExp(`http ${DEVICES}/${DEVICES} connected`));
  });

  test("at least 3 devices update by polling", async () => {
    await devicesUpdate(http.page, 3);
  });

  test("a setpoint change goes pending, then synced when a poll brings the report", async () => {
    // Another thermostat and value than the MQTT test's: the simulator is shared.
    await setpointPendingThenSynced(http.page, "thermostat-004", 21.5);
  });

  test("a command posted over HTTP reaches completed, and the page logs no error", async () => {
    await commandCompletes(http.page);
    assert.deepEqual(http.errors, []);
  });
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
