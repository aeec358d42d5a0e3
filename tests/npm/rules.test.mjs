// Rules that act, safely, from JavaScript: a rule proposes, a person
// approves or rejects, cooldown and hysteresis stop flapping, and the audit
// trail says who did what.
import { test } from "node:test";
import assert from "node:assert/strict";
import { testPage } from "./harness.mjs";

const { run } = testPage();

const ROOM = {
  id: "room-1",
  name: "Room",
  type: "room",
  properties: [
    { name: "humidity", type: "number", min: 0, max: 100, telemetry: true },
    { name: "fan", type: "boolean", writable: true },
  ],
};

test("a device action waits for approval, then reaches the twin's desired state with an audit entry", async () => {
  const r = await run((config) => {
    const { DigitalTwin, RuleEngine } = window.twinkit;
    const twin = new DigitalTwin(config);
    const rules = new RuleEngine(twin);
    const heard = [];
    rules.onProposal((p) => heard.push(p.status));
    rules.addRule({ id: "humid", when: { reading: { property: "humidity", op: "above", threshold: 70 } }, actions: [{ type: "setDesired", property: "fan", value: true }], hysteresis: 5 });
    twin.applyReported({ humidity: 75 });
    const pending = rules.getPendingApproval();
    const before = twin.getState().desired.fan;
    twin.applyReported({ humidity: 76 }); // still above: no second proposal
    twin.applyReported({ humidity: 68 }); // not back past the hysteresis: still disarmed
    twin.applyReported({ humidity: 77 });
    const count = rules.getProposals().length;
    const approved = rules.approve(pending[0].id, "operator");
    let again = null;
    try { rules.approve(pending[0].id, "operator"); } catch (e) { again = e.code; }
    const audit = twin.getAudit({ target: "fan" });
    return { heard, pending, before, count, approved, again, desired: twin.getState().desired.fan, audit };
  }, ROOM);
  assert.deepEqual(r.heard, ["pendingApproval"]);
  assert.equal(r.before, undefined, "nothing reaches the device before approval");
  assert.equal(r.count, 1, "hysteresis: one proposal while humidity stays high");
  assert.equal(r.approved.status, "sent");
  assert.equal(r.approved.decidedBy, "operator");
  assert.equal(r.again, "PROPOSAL_NOT_PENDING");
  assert.equal(r.desired, true);
  assert.equal(r.audit.length, 1);
  assert.deepEqual(r.audit[0].actor, { kind: "rule", id: "humid" });
  assert.equal(r.audit[0].approvedBy, "operator");
});

test("a rejected proposal never reaches the device; alerts need no approval; bad rules are refused by field", async () => {
  const r = await run((config) => {
    const { DigitalTwin, RuleEngine } = window.twinkit;
    const twin = new DigitalTwin(config);
    const rules = new RuleEngine(twin);
    rules.addRule({ id: "humid", when: { reading: { property: "humidity", op: "above", threshold: 70 } }, actions: [{ type: "setDesired", property: "fan", value: true }, { type: "raiseAlert", severity: "warning", message: "too humid" }] });
    twin.applyReported({ humidity: 80 });
    const [pending] = rules.getPendingApproval();
    const rejected = rules.reject(pending.id, "operator", "window is open");
    let bad = null;
    try { rules.addRule({ id: "x", when: { reading: { property: "humidity", op: "sideways", threshold: 1 } }, actions: [] }); } catch (e) { bad = { code: e.code, message: e.message }; }
    let policy = null;
    try { new RuleEngine(twin, "sometimes"); } catch (e) { policy = e.message; }
    return { rejected, desired: twin.getState().desired, alerts: twin.getActiveAlerts().map((a) => a.condition), audit: twin.getAudit(), bad, policy };
  }, ROOM);
  assert.equal(r.rejected.status, "rejected");
  assert.equal(r.rejected.reason, "window is open");
  assert.deepEqual(r.desired, {});
  assert.deepEqual(r.audit, []);
  assert.deepEqual(r.alerts, ["RULE"]);
  assert.equal(r.bad.code, "INVALID_RULE");
  assert.match(r.bad.message, /op/);
  assert.match(r.policy, /sometimes/);
});

const HEATED_ROOM = {
  id: "room-2",
  name: "Heated room",
  type: "room",
  properties: [
    { name: "temperature", type: "number", telemetry: true },
    { name: "heater", type: "boolean", writable: true, telemetry: true },
  ],
};

test("dryRun 'whatif': an action that meets its goal applies with its simulation; one that falls short is blocked and audited", async () => {
  const r = await run(async (config) => {
    const { DigitalTwin, RuleEngine } = window.twinkit;
    const twin = new DigitalTwin(config);
    await twin.connect();
    // dT/dt = (10 − T)/τ + k·u, τ = 1800 s, k = 0.01 K/s: the heater
    // settles the room at 28 °C. Twelve hours, one reading a minute, the
    // heater switched every two hours; after two hours off the room is
    // near 10.6 °C when the last reading comes.
    const tau = 1800, k = 0.01, ambient = 10, minutes = 12 * 60;
    const t0 = Date.now() - minutes * 60_000;
    let temperature = 12;
    let last = temperature;
    for (let i = 0; i <= minutes; i++) {
      const heater = Math.floor(i / 120) % 2 === 0 ? 1 : 0;
      twin.ingest({ deviceId: config.id, timestamp: t0 + i * 60_000, values: { temperature, heater: heater === 1 } });
      last = temperature;
      const target = ambient + k * tau * heater;
      temperature = target + (temperature - target) * Math.exp(-60 / tau);
    }
    const rules = new RuleEngine(twin, { policy: "none", dryRun: "whatif" });
    const heat = { type: "setDesired", property: "heater", value: true };
    const goal = (threshold) => ({ property: "temperature", op: "above", threshold, within: 30 * 60_000 });
    // A script-level dry run: an answer, and nothing else happens.
    const auditBefore = twin.getAudit().length;
    const simulated = rules.simulate(heat, goal(15));
    const afterSimulate = { desired: twin.getState().desired, outbound: twin.takeOutbound(), audit: twin.getAudit().length - auditBefore, proposals: rules.getProposals().length };
    // 30 minutes of heating cannot reach 25 °C: blocked, audited, never sent.
    rules.addRule({ id: "warm-up", when: { reading: { property: "temperature", op: "below", threshold: 18 } }, actions: [heat], goal: goal(25) });
    const [blocked] = rules.evaluate();
    const afterBlocked = { desired: twin.getState().desired, outbound: twin.takeOutbound(), audit: twin.getAudit({ target: "heater" }) };
    // A script proposes the same action with a reachable goal: applied.
    const sent = rules.propose(heat, { script: "morning", goal: goal(15) });
    const outbound = twin.takeOutbound();
    let badOptions = null;
    try { new RuleEngine(twin, { dryRun: "crystal-ball" }); } catch (e) { badOptions = e.message; }
    let badModel = null;
    try { new RuleEngine(twin, { whatIfModel: "wear" }); } catch (e) { badModel = e.message; }
    return { simulated, afterSimulate, blocked, afterBlocked, sent, outbound, badOptions, badModel, last };
  }, HEATED_ROOM);
  // Analytic: T(t) = 28 − (28 − T0)·e^(−t/τ); after 30 min, 28 − (28 − T0)/e.
  const expected = 28 - (28 - r.last) / Math.E;
  assert.equal(r.simulated.model, "thermal");
  assert.ok(Math.abs(r.simulated.predicted - expected) < 0.5, `predicted ${r.simulated.predicted} vs ${expected}`);
  assert.equal(r.simulated.meetsGoal, true);
  const crossing = (r.simulated.crossingAt - (r.simulated.at - 30 * 60_000)) / 60_000;
  const expectedCrossing = (1800 * Math.log((28 - r.last) / (28 - 15))) / 60;
  assert.ok(Math.abs(crossing - expectedCrossing) < 1.5, `crosses 15 °C after ${crossing} min, expected ${expectedCrossing}`);
  assert.ok(r.simulated.trajectory.min <= r.simulated.trajectory.start + 0.1 && r.simulated.trajectory.end > 20, JSON.stringify(r.simulated.trajectory));
  assert.deepEqual(r.afterSimulate, { desired: {}, outbound: [], audit: 0, proposals: 0 }, "a simulation never reaches the device");

  assert.equal(r.blocked.status, "blocked");
  assert.equal(r.blocked.dryRun.meetsGoal, false);
  assert.ok(r.blocked.dryRun.predicted < 25);
  assert.match(r.blocked.reason, /dry run/);
  assert.deepEqual(r.afterBlocked.desired, {});
  assert.deepEqual(r.afterBlocked.outbound, []);
  assert.equal(r.afterBlocked.audit.length, 1);
  assert.equal(r.afterBlocked.audit[0].outcome, "blocked");
  assert.deepEqual(r.afterBlocked.audit[0].actor, { kind: "rule", id: "warm-up" });
  assert.match(r.afterBlocked.audit[0].detail, /dry run/);

  assert.equal(r.sent.status, "sent");
  assert.deepEqual(r.sent.actor, { kind: "script", name: "morning" });
  assert.equal(r.sent.dryRun.meetsGoal, true);
  assert.equal(r.outbound.length, 1);
  assert.equal(r.outbound[0].property, "heater");
  assert.match(r.badOptions, /dryRun/);
  assert.match(r.badModel, /whatIfModel/);
});

test("setModel: a JavaScript model decides, its failures block, and simulate() stays off the device", async () => {
  const r = await run(async (config) => {
    const { DigitalTwin, RuleEngine } = window.twinkit;
    const twin = new DigitalTwin(config);
    await twin.connect();
    const rules = new RuleEngine(twin, "none");
    const fanOn = { type: "setDesired", property: "fan", value: true };
    const goal = { property: "humidity", op: "below", threshold: 60, within: 600_000 };
    // Without a model nothing can show the goal is met.
    let noModel = null;
    try { rules.simulate(fanOn, goal); } catch (e) { noModel = { code: e.code, message: e.message }; }
    const requests = [];
    // The fan takes 1 %/min off the current humidity.
    rules.setModel((req) => {
      requests.push(req);
      const now = req.now, h = req.state.reported.humidity;
      const trajectory = [];
      for (let m = 0; m <= 10; m++) trajectory.push([now + m * 60_000, h - (req.action.value ? m : 0)]);
      return { trajectory };
    });
    twin.applyReported({ humidity: 65 });
    const enough = rules.simulate(fanOn, goal);
    const short = rules.simulate(fanOn, { ...goal, threshold: 50 });
    const proposal = rules.propose(fanOn, { goal: { ...goal, threshold: 50 } });
    rules.setModel(() => { throw new Error("sensor offline"); });
    const failed = rules.propose(fanOn, { script: "ops", goal });
    rules.setModel(() => 58);
    const plain = rules.simulate(fanOn, goal);
    let badGoal = null;
    try { rules.simulate(fanOn, { ...goal, within: "soon" }); } catch (e) { badGoal = e.message; }
    let badModel = null;
    try { rules.setModel(42); } catch (e) { badModel = e.message; }
    return { noModel, request: requests[0], enough, short, proposal, failed, plain, badGoal, badModel, outbound: twin.takeOutbound(), audit: twin.getAudit().map((a) => a.outcome), desired: twin.getState().desired };
  }, ROOM);
  assert.equal(r.noModel.code, "DRY_RUN_FAILED");
  assert.match(r.noModel.message, /no model/);
  assert.deepEqual(r.request.action, { type: "setDesired", property: "fan", value: true });
  assert.equal(r.request.state.reported.humidity, 65);
  assert.equal(r.enough.meetsGoal, true);
  assert.equal(r.enough.predicted, 55);
  assert.equal(r.enough.crossingAt - r.enough.at, -4 * 60_000, "crosses 60 % after 6 of 10 minutes");
  assert.deepEqual([r.enough.trajectory.start, r.enough.trajectory.end, r.enough.trajectory.points], [65, 55, 11]);
  assert.equal(r.short.meetsGoal, false);
  assert.equal(r.short.crossingAt, undefined);
  assert.equal(r.proposal.status, "blocked");
  assert.deepEqual(r.proposal.actor, { kind: "script", name: "script" });
  assert.equal(r.failed.status, "blocked");
  assert.match(r.failed.reason, /sensor offline/);
  assert.equal(r.plain.predicted, 58);
  assert.equal(r.plain.meetsGoal, true);
  assert.match(r.badGoal, /within/);
  assert.match(r.badModel, /function/);
  assert.deepEqual(r.outbound, [], "nothing blocked or simulated reaches the device");
  assert.deepEqual(r.desired, {});
  assert.deepEqual(r.audit, ["blocked", "blocked"]);
});
