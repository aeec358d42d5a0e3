// Two pages edit the same property of one device through mosquitto at the
// same moment. Every twin follows the device's `/desired` topic, which the
// broker delivers to the device and to both pages in one order: the device
// takes the later edit, the page whose edit came first sees the winner's
// value and gets a CONFLICT error naming it, and nobody's overwrite is
// silent. A dry run on one page never reaches the broker: the other page,
// which would see any desired message, sees none.
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
      window.errors = [];
      window.desiredSeen = [];
      window.twin.on("alert", (e) => window.alerts.push(e.data));
      window.twin.on("error", (e) => window.errors.push(e.data));
      window.twin.on("stateChange", (e) => window.desiredSeen.push(e.data.desired.setpoint));
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

const snapshot = (p) => p.page.evaluate(() => ({
  reported: window.twin.getState().reported.setpoint,
  desired: window.twin.getState().desired.setpoint,
  delta: window.twin.getState().delta,
  deviceVersion: window.twin.getState().deviceVersion,
  conflicts: window.errors.filter((e) => e.code === "CONFLICT"),
  notReached: window.alerts.filter((x) => x.condition === "DESIRED_NOT_REACHED" && x.status === "active").length,
  audit: window.twin.getAudit({ target: "setpoint" }).map((a) => ({ value: a.action.value, outcome: a.outcome, detail: a.detail })),
}));

test("a lost concurrent edit: the loser sees the winner's value and a CONFLICT error; the device and both pages agree", { timeout: 60_000 }, async () => {
  const [a, b] = pages;
  const versions = await Promise.all(pages.map((p) => p.page.evaluate(() => window.twin.getState().version)));
  await Promise.all([
    a.page.evaluate(() => window.twin.setDesired("setpoint", 22)),
    b.page.evaluate(() => window.twin.setDesired("setpoint", 26)),
  ]);
  const deadline = Date.now() + 20_000;
  let states;
  for (;;) {
    states = await Promise.all(pages.map(snapshot));
    const [sa, sb] = states;
    const settled = sa.reported !== undefined && sa.reported === sb.reported
      && sa.desired === sa.reported && sb.desired === sb.reported;
    if (settled && states.some((s) => s.conflicts.length > 0)) break;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const [sa, sb] = states;
  assert.equal(sa.reported, sb.reported, "both pages see the device's one value");
  assert.ok([22, 26].includes(sa.reported), `device at ${sa.reported}`);
  const final = sa.reported;
  const [winner, loser, loserPage, loserValue] = final === 22 ? [sa, sb, b, 26] : [sb, sa, a, 22];
  // Nobody shows a value the device did not take.
  assert.equal(winner.desired, final);
  assert.equal(loser.desired, final, "the loser shows the winner's value");
  assert.deepEqual(winner.delta, {});
  assert.deepEqual(loser.delta, {});
  // The loser is told, with the winner's value; the winner has nothing to hear.
  assert.equal(loser.conflicts.length, 1, JSON.stringify(loser.conflicts));
  assert.equal(loser.conflicts[0].property, "setpoint");
  assert.match(loser.conflicts[0].message, new RegExp(`property \`setpoint\` was set to ${final} by another client at version \\d+, replacing this twin's pending edit \\(${loserValue}`));
  assert.equal(winner.conflicts.length, 0);
  assert.equal(loser.notReached + winner.notReached, 0, "no divergence left behind");
  // The loser's audit trail: its edit was superseded by another client, or
  // (when the device took it for a moment before the winner's edit
  // arrived) reached — the CONFLICT error above says it was then lost.
  assert.equal(loser.audit.length, 1);
  assert.equal(loser.audit[0].value, loserValue);
  assert.ok(["superseded", "reached"].includes(loser.audit[0].outcome), loser.audit[0].outcome);
  if (loser.audit[0].outcome === "superseded") assert.match(loser.audit[0].detail, /another client/);
  assert.deepEqual(winner.audit.map((e) => [e.value, e.outcome]), [[final, "reached"]]);
  // The device's own version came with its reports, the same on both pages
  // once both have its last report.
  assert.ok(sa.deviceVersion > 0 && sb.deviceVersion > 0);
  // Editing again on the version read before the race: refused as stale,
  // with the winner.
  const stale = await loserPage.page.evaluate((base) => {
    try { window.twin.setDesired("setpoint", 18, { baseVersion: base }); return null; } catch (e) { return { code: e.code, winner: e.conflict?.winner }; }
  }, versions[pages.indexOf(loserPage)]);
  assert.deepEqual(stale, { code: "CONFLICT", winner: final });
});

test("a later edit by one page is followed by the other without a conflict", { timeout: 30_000 }, async () => {
  const [a, b] = pages;
  const before = await snapshot(b);
  await a.page.evaluate(() => window.twin.setDesired("setpoint", 19));
  const deadline = Date.now() + 10_000;
  let sb;
  for (;;) {
    sb = await snapshot(b);
    if ((sb.desired === 19 && sb.reported === 19) || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(sb.desired, 19, "page B follows page A's edit");
  assert.equal(sb.reported, 19);
  assert.equal(sb.conflicts.length, before.conflicts.length, "nothing of B's was pending: no conflict");
});

test("a dry run and a blocked proposal never reach the broker", { timeout: 30_000 }, async () => {
  const [a, b] = pages;
  const seenBefore = await b.page.evaluate(() => window.desiredSeen.length);
  const r = await a.page.evaluate(() => {
    const { RuleEngine } = window.twinkit;
    const rules = new RuleEngine(window.twin, "none");
    rules.setModel(() => 20);
    const action = { type: "setDesired", property: "setpoint", value: 27 };
    const simulated = rules.simulate(action, { property: "temperature", op: "above", threshold: 21, within: 60_000 });
    const blocked = rules.propose(action, { script: "test", goal: { property: "temperature", op: "above", threshold: 21, within: 60_000 } });
    return { simulated, blocked, desired: window.twin.getState().desired.setpoint };
  });
  assert.equal(r.simulated.meetsGoal, false);
  assert.equal(r.blocked.status, "blocked");
  assert.equal(r.desired, 19);
  // Page B would adopt any desired value published on the device's topic.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const sb = await snapshot(b);
  const seen = await b.page.evaluate(() => window.desiredSeen);
  assert.equal(sb.desired, 19);
  assert.notEqual(sb.reported, 27, "the device never got 27");
  assert.ok(!seen.slice(seenBefore).includes(27), "no desired 27 ever reached page B");
});

test("two twins of one device on one page share the connection and tell their edits apart", { timeout: 60_000 }, async () => {
  const page = pages[0].page;
  const url = `ws://127.0.0.1:${broker.ports.ws}`;
  await page.evaluate(async ({ config }) => {
    const { DigitalTwin } = window.twinkit;
    window.pair = [new DigitalTwin(config), new DigitalTwin(config)].map((twin) => {
      const seen = { twin, errors: [], commands: [] };
      twin.on("error", (e) => seen.errors.push(e.data));
      twin.on("command", (e) => seen.commands.push(e.data.status));
      return seen;
    });
    await Promise.all(window.pair.map((s) => s.twin.connect()));
  }, { config: { ...THERMOSTAT, connectionType: "mqtt", connectionConfig: { url, reconnectInterval: 200 } } });
  const read = () => page.evaluate(() => window.pair.map(({ twin, errors, commands }) => ({
    readings: twin.getTelemetryHistory("temperature").length,
    reported: twin.getState().reported.setpoint,
    desired: twin.getState().desired.setpoint,
    sent: twin.getAudit({ target: "setpoint" }).map((a) => a.action.value),
    delta: twin.getState().delta,
    conflicts: errors.filter((e) => e.code === "CONFLICT").length,
    otherErrors: errors.filter((e) => e.code !== "CONFLICT").map((e) => `${e.code}: ${e.message}`),
    commands,
  })));
  const until = async (done, what) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const states = await read();
      if (done(states)) return states;
      assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify(states)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  // Both twins receive the device's reports (before, the second replaced
  // the first on the shared connection and the first heard nothing more).
  await until((s) => s.every((t) => t.readings >= 2), "both twins hear the device");
  // One twin's edit is, to its sibling, another writer's: followed, no conflict.
  await page.evaluate(() => window.pair[0].twin.setDesired("setpoint", 24));
  let states = await until((s) => s.every((t) => t.desired === 24 && t.reported === 24), "the sibling follows the edit");
  assert.deepEqual(states.map((t) => t.sent), [[24], []], "the sibling took it as another writer's, sent nothing");
  assert.deepEqual(states.map((t) => t.conflicts), [0, 0]);
  // Both edit at once: the device takes the later one, both twins show it,
  // and the earlier writer alone is told of the conflict.
  await page.evaluate(() => { window.pair[0].twin.setDesired("setpoint", 16); window.pair[1].twin.setDesired("setpoint", 17); });
  states = await until((s) => s.every((t) => t.reported === 17 && t.desired === 17) && s[0].conflicts === 1, "the race settles");
  assert.deepEqual(states.map((t) => t.conflicts), [1, 0]);
  assert.deepEqual(states.map((t) => t.delta), [{}, {}]);
  // A command's answers go to the twin that sent it, and nowhere else.
  await page.evaluate(() => window.pair[1].twin.sendCommand("calibrate", {}));
  states = await until((s) => s[1].commands.includes("completed"), "the command completes");
  assert.deepEqual(states[0].commands, []);
  assert.deepEqual(states.map((t) => t.otherErrors), [[], []]);
  await page.evaluate(() => window.pair.forEach(({ twin }) => { twin.dispose(); twin.free(); }));
});
