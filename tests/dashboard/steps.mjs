// Steps shared by the dashboard tests: the same checks run on the embedded
// fleet (dashboard.test.mjs) and on every live connection type
// (live.test.mjs). Each takes the playwright page.
import assert from "node:assert/strict";

/** Goes to a route of the single-page app and waits for its root element. */
export async function route(page, hash, selector) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector(selector);
}

/** Waits until at least `count` device rows of the overview change version. */
export async function devicesUpdate(page, count, { timeout } = {}) {
  const before = await page.$$eval("[data-device-row]", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.deviceId, r.dataset.version])));
  await page.waitForFunction(({ before, count }) => {
    const rows = [...document.querySelectorAll("[data-device-row]")];
    return rows.filter((r) => before[r.dataset.deviceId] !== r.dataset.version).length >= count;
  }, { before, count }, { timeout });
}

/**
 * On a thermostat's device page: submits a setpoint and checks the cell
 * shows pending first, then synced, with reported and desired both at the
 * new value.
 */
export async function setpointPendingThenSynced(page, deviceId, value) {
  await route(page, `#/device/${deviceId}`, "tr[data-property=setpoint] input[type=number]");
  // Record every sync state the cell shows: pending may last less than one
  // simulation step, so it is watched rather than polled.
  await page.evaluate(() => {
    window.syncStates = [];
    const cell = document.querySelector("tr[data-property=setpoint] [data-sync]");
    new MutationObserver(() => window.syncStates.push(cell.dataset.sync))
      .observe(cell, { attributes: true, attributeFilter: ["data-sync"] });
  });
  await page.fill("tr[data-property=setpoint] input[type=number]", String(value));
  await page.click("tr[data-property=setpoint] button[type=submit]");
  await page.waitForFunction(() => window.syncStates.includes("synced"));
  const states = await page.evaluate(() => window.syncStates);
  assert.equal(states[0], "pending", `states seen: ${states}`);
  assert.ok(states.indexOf("synced") > states.indexOf("pending"), `states seen: ${states}`);
  assert.equal(await page.textContent("tr[data-property=setpoint] [data-reported]"), `${value} °C`);
  assert.equal(await page.textContent("tr[data-property=setpoint] [data-desired]"), `${value} °C`);
}

/** On a device page: sends `calibrate` and waits for every lifecycle step. */
export async function commandCompletes(page) {
  await page.selectOption(".command-form select", "calibrate");
  await page.click(".command-form button[type=submit]");
  const done = await page.waitForSelector("li.command[data-name=calibrate][data-status=completed]");
  const steps = await done.$$eval(".step.done", (s) => s.map((e) => e.textContent));
  assert.deepEqual(steps, ["pending", "sent", "acknowledged", "completed"]);
}
