// Live connections in headless Chromium against real peers on 127.0.0.1:
// mosquitto (MQTT over WebSocket) fed by the twinkit-sim simulator, and the
// simulator's own WebSocket JSON and HTTP servers. For each connection
// type: telemetry arrives, a desired value reaches the device and the delta
// empties, a command completes, a command nobody answers times out.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { openPage } from "../npm/harness.mjs";
import { MQTT_PASSWORD, MQTT_USER, freePort, startMosquitto, startSim } from "./services.mjs";

let broker;
let sim;
let page;
const ports = {};
/** An HTTP server that accepts connections and never answers. */
const silent = createServer(() => {});

before(async () => {
  await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
  broker = await startMosquitto();
  ports.ws = await freePort();
  ports.http = await freePort();
  sim = await startSim(
    ["--mqtt", `127.0.0.1:${broker.ports.tcp}`, "--ws", `127.0.0.1:${ports.ws}`, "--http", `127.0.0.1:${ports.http}`,
      "--devices", "9", "--prefix", "twinkit", "--interval", "250"],
    [ports.ws, ports.http],
  );
  page = await openPage();
});

after(async () => {
  silent.closeAllConnections();
  silent.close();
  await page?.close();
  await sim?.stop();
  await broker?.stop();
});

const THERMOSTAT = {
  id: "thermostat-001",
  name: "Thermostat",
  type: "thermostat",
  telemetryInterval: 250,
  properties: [
    { name: "temperature", type: "number", unit: "°C", min: 5, max: 35, telemetry: true },
    { name: "setpoint", type: "number", unit: "°C", min: 5, max: 30, writable: true },
    { name: "mode", type: "string", writable: true },
    { name: "heating", type: "boolean", telemetry: true },
  ],
};

/**
 * Runs the whole lifecycle of one connection type in the page, on its own
 * simulated thermostat. The command nobody answers goes to `ghost`: a device
 * the server does not know (MQTT, WebSocket) or a server that never answers
 * (HTTP).
 */
async function lifecycle(connectionType, connectionConfig, deviceId, ghost) {
  return page.page.evaluate(async ({ base, connectionType, connectionConfig, deviceId, ghost }) => {
    const { DigitalTwin } = window.twinkit;
    const waitFor = async (what, predicate, ms = 10_000) => {
      const deadline = Date.now() + ms;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    const config = { ...base, id: deviceId, connectionType, connectionConfig };
    const twin = new DigitalTwin(config, { commandTimeout: 5_000 });
    const errors = [];
    twin.on("error", (e) => errors.push(e.data));
    await twin.connect();
    await waitFor("telemetry", () => twin.getTelemetryHistory("temperature").length >= 2);
    twin.setDesired("setpoint", 24);
    const pending = twin.getState().delta.setpoint;
    await waitFor("setpoint reported", () => twin.getState().reported.setpoint === 24);
    const delta = twin.getState().delta;
    const command = twin.sendCommand("calibrate", {});
    await waitFor("command completed", () => twin.getCommand(command.commandId).status === "completed");
    const calibrate = twin.getCommand(command.commandId);

    const silent = new DigitalTwin({ ...config, id: ghost.id, connectionConfig: { ...connectionConfig, ...ghost.connectionConfig } }, { commandTimeout: 1_500 });
    silent.connect().catch(() => {});
    const lost = silent.sendCommand("reboot", {});
    await waitFor("command timeout", () => silent.getCommand(lost.commandId).status === "failed", 8_000);
    const timedOut = silent.getCommand(lost.commandId);
    twin.dispose();
    silent.dispose();
    return { pending, delta, calibrate, timedOut, errors };
  }, { base: THERMOSTAT, connectionType, connectionConfig, deviceId, ghost });
}

function check(r) {
  assert.equal(r.pending, 24, "desired shows in the delta until reported");
  assert.deepEqual(r.delta, {}, "the delta empties once reported catches up");
  assert.equal(r.calibrate.status, "completed");
  assert.equal(r.timedOut.status, "failed");
  assert.match(r.timedOut.error, /time/i);
}

test("mqtt: telemetry, desired, commands and timeouts through mosquitto", { timeout: 60_000 }, async () => {
  const r = await lifecycle("mqtt", { url: `ws://127.0.0.1:${broker.ports.ws}`, topic: "twinkit", reconnectInterval: 200 }, "thermostat-001", { id: "thermostat-999" });
  check(r);
  assert.deepEqual(r.errors, []);
});

test("websocket: telemetry, desired, commands and timeouts through the JSON protocol", { timeout: 60_000 }, async () => {
  const r = await lifecycle("websocket", { url: `ws://127.0.0.1:${ports.ws}/`, reconnectInterval: 200 }, "thermostat-004", { id: "thermostat-999" });
  check(r);
});

test("http: telemetry, desired, commands and timeouts by polling the REST shape", { timeout: 60_000 }, async () => {
  const r = await lifecycle("http", { url: `http://127.0.0.1:${ports.http}`, reconnectInterval: 200 }, "thermostat-007", {
    id: "thermostat-007",
    connectionConfig: { url: `http://127.0.0.1:${silent.address().port}` },
  });
  check(r);
});

test("mqtt: wrong credentials give a clear reason, back off, and never show the password", { timeout: 60_000 }, async () => {
  const r = await page.page.evaluate(async ({ base, url, user }) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin({ ...base, connectionType: "mqtt", connectionConfig: { url, username: user, password: "wrong-password", reconnectInterval: 300 } });
    const errors = [];
    twin.on("error", (e) => errors.push({ ...e.data, at: Date.now() }));
    twin.connect().catch(() => {});
    const deadline = Date.now() + 10_000;
    while (errors.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    twin.dispose();
    return errors;
  }, { base: THERMOSTAT, url: `ws://127.0.0.1:${broker.ports.wsAuth}`, user: MQTT_USER });
  assert.ok(r.length >= 3, `only ${r.length} attempts`);
  for (const e of r) {
    assert.equal(e.code, "CONNECT_FAILED");
    assert.match(e.message, /not authori[sz]ed|bad user name or password/i);
    assert.doesNotMatch(e.message, /wrong-password/);
  }
  // Backoff: the second wait is longer than the first (jitter is at most half).
  const gaps = [r[1].at - r[0].at, r[2].at - r[1].at];
  assert.ok(gaps[1] > gaps[0] * 0.9, `gaps ${gaps}`);
});

test("mqtt: correct credentials on the authenticated listener connect", { timeout: 60_000 }, async () => {
  const connected = await page.page.evaluate(async ({ base, url, user, password }) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin({ ...base, connectionType: "mqtt", connectionConfig: { url, username: user, password, reconnect: false } });
    await twin.connect();
    const state = twin.isConnected;
    twin.dispose();
    return state;
  }, { base: THERMOSTAT, url: `ws://127.0.0.1:${broker.ports.wsAuth}`, user: MQTT_USER, password: MQTT_PASSWORD });
  assert.equal(connected, true);
});
