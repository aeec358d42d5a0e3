// MQTT faults in headless Chromium, on a broker and simulator of their own:
// QoS 1 telemetry across a broker restart (persistence on) arrives exactly
// once, in order, with no gap; a malformed payload is an error event and
// leaves the twin's state intact.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "../npm/harness.mjs";
import { freePort, startMosquitto, startSim } from "./services.mjs";

let broker;
let sim;
let page;
let httpPort;

const MOTOR = {
  id: "thermostat-001",
  name: "Thermostat",
  type: "thermostat",
  telemetryInterval: 100,
  properties: [
    { name: "temperature", type: "number", min: 5, max: 35, telemetry: true },
    { name: "heating", type: "boolean", telemetry: true },
    { name: "setpoint", type: "number", min: 5, max: 30, writable: true },
    { name: "mode", type: "string", writable: true },
    { name: "seq", type: "number", telemetry: true },
  ],
};

before(async () => {
  broker = await startMosquitto();
  page = await openPage();
  // The twin subscribes before the simulator publishes its first record.
  await page.page.evaluate(async ({ config }) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config, { historyCapacity: 100_000 });
    window.errors = [];
    twin.on("error", (e) => window.errors.push(e.data));
    window.twin = twin;
    await twin.connect();
  }, { config: { ...MOTOR, connectionType: "mqtt", connectionConfig: { url: `ws://127.0.0.1:${broker.ports.ws}`, reconnectInterval: 100 } } });
  httpPort = await freePort();
  sim = await startSim(
    ["--mqtt", `127.0.0.1:${broker.ports.tcp}`, "--http", `127.0.0.1:${httpPort}`, "--devices", "1", "--seq", "--interval", "100"],
    [httpPort],
  );
});

after(async () => {
  await page?.close();
  await sim?.stop();
  await broker?.stop();
});

const seqs = () => page.page.evaluate(() => window.twin.getTelemetryHistory("seq").map((r) => r.values.seq));

async function waitFor(what, predicate, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("a malformed payload is an error event and the state stays intact", { timeout: 60_000 }, async () => {
  await waitFor("telemetry", async () => (await seqs()).length >= 5);
  const before = await page.page.evaluate(() => window.twin.getState().reported);
  await page.page.evaluate(() => window.twin.sendCommand("fault", { kind: "malformed", count: 2 }));
  await waitFor("error events", () => page.page.evaluate(() => window.errors.length >= 2));
  const r = await page.page.evaluate(() => ({ errors: window.errors, state: window.twin.getState().reported }));
  for (const e of r.errors.slice(0, 2)) {
    assert.match(e.code, /INVALID|MALFORMED|JSON/);
    assert.match(e.message, /telemetry/);
  }
  assert.equal(typeof r.state.temperature, "number");
  assert.equal(r.state.setpoint, before.setpoint);
});

test("QoS 1 telemetry across a broker restart arrives exactly once, in order, without gaps", { timeout: 90_000 }, async (t) => {
  await waitFor("telemetry", async () => (await seqs()).length >= 10);
  const atRestart = (await seqs()).at(-1);
  const down = Date.now();
  await broker.restart();
  await waitFor("reconnection", () => page.page.evaluate(() => window.twin.isConnected));
  const reconnectMs = Date.now() - down;
  await waitFor("telemetry after the restart", async () => (await seqs()).at(-1) >= atRestart + 30, 30_000);
  // What the device says it sent so far, then everything up to there must
  // have reached the twin once, in order.
  const response = await fetch(`http://127.0.0.1:${httpPort}/devices/thermostat-001/telemetry?limit=1000`);
  assert.equal(response.status, 200);
  const sent = (await response.json()).records.map((r) => r.values.seq);
  const last = sent.at(-1);
  assert.ok(last >= atRestart + 30, `device sent ${last} records`);
  assert.deepEqual(sent, sent.map((_, i) => i + 1), "the device's own record is complete");
  await waitFor("every record sent", async () => (await seqs()).at(-1) >= last);
  const received = (await seqs()).filter((seq) => seq <= last);
  assert.deepEqual(received, sent, "every record the simulator sent, once each, in order");
  t.diagnostic(`reconnect after broker restart: ${reconnectMs} ms (restart included)`);
});
