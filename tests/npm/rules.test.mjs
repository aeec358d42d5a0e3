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
