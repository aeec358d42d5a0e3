// A twin in AWS IoT Device Shadow mode (connectionConfig.topicScheme
// 'aws-shadow'), in headless Chromium against mosquitto on 127.0.0.1, with
// tests/connections/shadow-service.mjs answering as the shadow service
// would: the twin loads the shadow on connect, follows reported state and
// other writers' desired values, writes desired values as versioned update
// requests, and turns a version conflict into a CONFLICT error.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "../npm/harness.mjs";
import { startMosquitto } from "./services.mjs";
import { startShadowService } from "./shadow-service.mjs";

let broker;
let service;
let page;
const THING = "thermostat-aws-1";

const THERMOSTAT = {
  id: THING,
  name: "Thermostat",
  type: "thermostat",
  properties: [
    { name: "temperature", type: "number", unit: "°C", telemetry: true },
    { name: "setpoint", type: "number", min: 5, max: 30, writable: true },
    { name: "mode", type: "string", writable: true },
  ],
};

before(async () => {
  broker = await startMosquitto();
  service = await startShadowService(broker.ports.tcp);
  // The shadow exists before the twin: the device reported, someone set a
  // setpoint the device has not reached.
  service.update(THING, { reported: { temperature: 19.5, setpoint: 18, mode: "heat" } });
  service.update(THING, { desired: { setpoint: 21 } });
  page = await openPage();
  await page.page.evaluate(async (config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    window.errors = [];
    twin.on("error", (e) => window.errors.push(e.data));
    window.twin = twin;
    await twin.connect();
  }, { ...THERMOSTAT, connectionType: "mqtt", connectionConfig: { url: `ws://127.0.0.1:${broker.ports.ws}`, topicScheme: "aws-shadow" } });
});

after(async () => {
  await page?.close();
  await service?.close();
  await broker?.stop();
});

async function waitFor(what, predicate, ms = 10_000) {
  const deadline = Date.now() + ms;
  let last;
  while (!(last = await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return last;
}

const state = () => page.page.evaluate(() => window.twin.getState());

test("connecting loads the shadow: reported state, desired state and delta", { timeout: 20_000 }, async () => {
  const s = await waitFor("the shadow's state", async () => {
    const s = await state();
    return s.reported.temperature === 19.5 && s.desired.setpoint === 21 && s;
  });
  assert.equal(s.reported.mode, "heat");
  assert.deepEqual(s.delta, { setpoint: 21 });
  assert.deepEqual(service.requests.filter((r) => r.topic === "get").map((r) => r.thing), [THING]);
});

test("the device reporting through the shadow updates the twin and empties the delta", { timeout: 20_000 }, async () => {
  service.update(THING, { reported: { temperature: 20.25, setpoint: 21 } });
  const s = await waitFor("the report", async () => {
    const s = await state();
    return s.reported.temperature === 20.25 && s;
  });
  assert.deepEqual(s.delta, {});
  const history = await page.page.evaluate(() => window.twin.getTelemetryHistory("temperature").map((r) => r.values.temperature));
  assert.deepEqual(history.slice(-2), [19.5, 20.25], "telemetry comes from state.reported");
});

test("setDesired is a versioned update request; another writer's desired value and delta reach the twin", { timeout: 20_000 }, async () => {
  const version = service.shadow(THING).version;
  await page.page.evaluate(() => window.twin.setDesired("setpoint", 23));
  await waitFor("the shadow to take 23", () => service.shadow(THING).desired.setpoint === 23);
  const request = service.requests.filter((r) => r.topic === "update").at(-1).request;
  assert.deepEqual(request.state, { desired: { setpoint: 23 } });
  assert.equal(request.version, version, "the version the twin last saw");
  assert.match(request.clientToken, /^twinkit-/);
  assert.ok(request.clientToken.length <= 64);
  assert.deepEqual((await state()).delta, { setpoint: 23 });

  // A dashboard elsewhere sets the mode.
  service.update(THING, { desired: { mode: "eco" } });
  const s = await waitFor("the other writer's value", async () => {
    const s = await state();
    return s.desired.mode === "eco" && s;
  });
  assert.deepEqual(s.delta, { setpoint: 23, mode: "eco" });
  assert.equal(s.metadata.mode?.source, "cloud", JSON.stringify(s.metadata));
  assert.deepEqual(await page.page.evaluate(() => window.errors), []);
});

test("a version conflict: retried when only the version moved, a CONFLICT error when someone wrote the property", { timeout: 20_000 }, async () => {
  // The device reported, and its messages have not reached the twin: the
  // twin's next request carries an old version. Nobody touched the
  // setpoint, so the twin sends it again on the new version.
  service.updateUnseen(THING, { reported: { temperature: 20.5 } });
  await page.page.evaluate(() => window.twin.setDesired("setpoint", 24));
  await waitFor("the retried request to land", () => service.shadow(THING).desired.setpoint === 24);
  const sent = service.requests.filter((r) => r.topic === "update" && r.request.state?.desired?.setpoint === 24);
  assert.equal(sent.length, 2, "refused (409), then sent again");
  assert.equal(sent[1].request.version, sent[0].request.version + 1);
  assert.deepEqual(await page.page.evaluate(() => window.errors), []);

  // Someone else set the setpoint, unseen yet: the twin's 26 loses.
  service.updateUnseen(THING, { desired: { setpoint: 25 } });
  await page.page.evaluate(() => window.twin.setDesired("setpoint", 26));
  const errors = await waitFor("a CONFLICT error", async () => {
    const errors = await page.page.evaluate(() => window.errors);
    return errors.length > 0 && errors;
  });
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.equal(errors[0].code, "CONFLICT");
  assert.equal(errors[0].property, "setpoint");
  assert.match(errors[0].message, /25/);
  const s = await state();
  assert.equal(s.desired.setpoint, 25, "the twin shows the winner");
  assert.equal(service.shadow(THING).desired.setpoint, 25, "the loser was not written");
  const updates = service.requests.filter((r) => r.topic === "update" && r.request.state?.desired?.setpoint === 26);
  assert.equal(updates.length, 1, "not retried: someone did write the setpoint");
});

test("a command fails at once with the reason: the shadow carries no commands", { timeout: 20_000 }, async () => {
  const r = await page.page.evaluate(async () => {
    window.errors = [];
    const command = window.twin.sendCommand("reboot", {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { command: window.twin.getCommand(command.commandId), errors: window.errors };
  });
  assert.equal(r.command.status, "failed", JSON.stringify(r.command));
  assert.match(r.command.error, /no commands/);
  assert.deepEqual(r.errors.map((e) => e.code), ["SEND_FAILED"]);
});
