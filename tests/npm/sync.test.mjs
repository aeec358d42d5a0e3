// Sync you can trust from JavaScript: versioned edits and conflicts,
// divergence, sync history and the audit trail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { testPage } from "./harness.mjs";
import { thermostat } from "./fixtures.mjs";

const { run } = testPage();

test("two editors on one base version: the second gets CONFLICT with the winner, never a silent overwrite", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    const base = twin.getState().version;
    const first = twin.setDesired("setpoint", 70, { baseVersion: base });
    let conflict = null;
    try { twin.setDesired("setpoint", 72, { baseVersion: base }); } catch (e) { conflict = { name: e.name, code: e.code, message: e.message, details: e.conflict }; }
    const fresh = twin.setDesired("setpoint", 72, { baseVersion: twin.getState().version });
    return { first, conflict, fresh, desired: twin.getState().desired.setpoint };
  }, thermostat);
  assert.equal(r.first.value, 70);
  assert.equal(r.conflict.code, "CONFLICT");
  assert.equal(r.conflict.name, "TwinError");
  assert.equal(r.conflict.details.winner, 70);
  assert.equal(r.conflict.details.attempted, 72);
  assert.equal(r.conflict.details.state.desired.setpoint, 70);
  assert.equal(r.fresh.value, 72, "an edit based on the current version goes through");
  assert.equal(r.desired, 72);
});

test("lastWriterWins reports what it replaced", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config, { conflictStrategy: "lastWriterWins" });
    const base = twin.getState().version;
    twin.setDesired("setpoint", 70, { baseVersion: base });
    return twin.setDesired("setpoint", 72, { baseVersion: base });
  }, thermostat);
  assert.equal(r.value, 72);
  assert.equal(r.overwritten, 70);
});

test("divergence, sync history and an audit trail that exports as CSV", async () => {
  const r = await run((config) => {
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    twin.connect();
    twin.setDesired("setpoint", 70);
    const diverging = twin.getDivergences();
    const sent = twin.takeOutbound();
    twin.sendCommand("reboot", { delay: 1 });
    twin.takeOutbound();
    twin.applyReported({ setpoint: 70 });
    const entries = twin.getAudit();
    const csv = twin.getAudit({ target: "setpoint" }, "csv");
    let bad = null;
    try { twin.getAudit({ nonsense: true }); } catch (e) { bad = e.message; }
    entries[0].outcome = "tampered";
    return { diverging, sent, after: twin.getDivergences(), history: twin.getSyncHistory("setpoint"), entries, again: twin.getAudit()[0].outcome, csv, bad };
  }, thermostat);
  assert.equal(r.diverging.length, 1);
  assert.equal(r.diverging[0].property, "setpoint");
  assert.deepEqual(r.after, []);
  assert.deepEqual(r.history.map((h) => h.direction), ["sent", "received"]);
  assert.equal(r.entries.length, 2);
  assert.deepEqual(r.entries.map((e) => e.action.kind), ["desired", "command"]);
  assert.equal(r.entries[0].actor.kind, "user");
  assert.equal(r.again, "reached", "a copy changed in JavaScript leaves the trail alone");
  assert.match(r.csv.split("\n")[0], /timestamp/);
  assert.equal(r.csv.trim().split("\n").length, 2);
  assert.match(r.bad, /nonsense/);
});
