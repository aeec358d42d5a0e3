// Two pages edit the same property of one device through mosquitto at the
// same moment. The device ends up with one value; the page whose edit lost
// is never told "synced": its delta stays and a DESIRED_NOT_REACHED alert
// says so, while the winner's delta empties.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "../npm/harness.mjs";
import { freePort, startMosquitto, startSim } from "./services.mjs";

let broker;
let sim;
const pages = [];

const THERMOSTAT = {
  id: "thermostat-001",
  name: "Thermostat",
  type: "thermostat",
  telemetryInterval: 200,
  properties: [
    { name: "temperature", type: "number", min: 5, max: 35, telemetry: true },
    { name: "heating", type: "boolean", telemetry: true },
    { name: "setpoint", type: "number", min: 5, max: 30, writable: true },
    { name: "mode", type: "string", writable: true },
  ],
};

before(async () => {
  broker = await startMosquitto();
  const http = await freePort();
  sim = await startSim(["--mqtt", `127.0.0.1:${broker.ports.tcp}`, "--http", `127.0.0.1:${http}`, "--devices", "1", "--interval", "200"], [http]);
  for (let i = 0; i < 2; i++) {
    const page = await openPage();
    await page.page.evaluate(async ({ config }) => {
      const { DigitalTwin } = window.twinkit;
      window.twin = new DigitalTwin(config, { divergenceTimeout: 2_000 });
      window.alerts = [];
      window.twin.on("alert", (e) => window.alerts.push(e.data));
      await window.twin.connect();
    }, { config: { ...THERMOSTAT, connectionType: "mqtt", connectionConfig: { url: `ws://127.0.0.1:${broker.ports.ws}`, reconnectInterval: 200 } } });
    pages.push(page);
  }
});

after(async () => {
  for (const page of pages) await page.close();
  await sim?.stop();
  await broker?.stop();
});

test("a lost concurrent edit is noticed by its page; the winner's edit is synced", { timeout: 60_000 }, async () => {
  const [a, b] = pages;
  await Promise.all([
    a.page.evaluate(() => window.twin.setDesired("setpoint", 22)),
    b.page.evaluate(() => window.twin.setDesired("setpoint", 26)),
  ]);
  // Wait until both pages have seen the device settle and the loser's
  // divergence alert has had time to fire.
  const deadline = Date.now() + 20_000;
  let states;
  for (;;) {
    states = await Promise.all(pages.map((p) => p.page.evaluate(() => ({
      reported: window.twin.getState().reported.setpoint,
      delta: window.twin.getState().delta,
      alerts: window.alerts.filter((x) => x.condition === "DESIRED_NOT_REACHED" && x.status === "active").length,
    }))));
    const settled = states[0].reported !== undefined && states[0].reported === states[1].reported;
    const noticed = states.some((s) => s.alerts > 0);
    if (settled && noticed) break;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const [sa, sb] = states;
  assert.equal(sa.reported, sb.reported, "both pages see the device's one value");
  assert.ok([22, 26].includes(sa.reported), `device at ${sa.reported}`);
  const [winner, loser] = sa.reported === 22 ? [sa, sb] : [sb, sa];
  assert.deepEqual(winner.delta, {}, "the winner's edit is synced");
  assert.equal(loser.delta.setpoint, sa.reported === 22 ? 26 : 22, "the loser still shows its edit as pending");
  assert.ok(loser.alerts >= 1, "the loser is told its desired value was not reached");
  assert.equal(winner.alerts, 0);
});
