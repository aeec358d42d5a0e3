// The dashboard (www/, built into www/dist/ by scripts/build-dashboard.sh)
// in Debian's Chromium with its embedded simulated fleet: it loads without
// console errors, devices update, a setpoint goes pending then synced, a
// command completes, the history panel shows aggregates read back from the
// IndexedDB store and offers a CSV of a range, a fault drives a motor over
// its limit and the alert can be acknowledged. A screenshot of the device page is written to
// target/dashboard/device-page.png for review.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { after, before, test } from "node:test";
import { openPage } from "../npm/harness.mjs";
import { commandCompletes, devicesUpdate, route, setpointPendingThenSynced } from "./steps.mjs";

let ctx;
const page = () => ctx.page;

before(async () => {
  ctx = await openPage("www/index.html", () => document.querySelectorAll("[data-device-row]").length > 0);
  await ctx.page.setViewportSize({ width: 1360, height: 900 });
});
after(async () => { await ctx?.close(); });

test("the overview lists the fleet without console errors", async () => {
  const rows = await page().$$eval("[data-device-row]", (rows) => rows.map((r) => r.dataset.deviceId));
  assert.ok(rows.length >= 5, `at least 5 devices, got ${rows.join(", ")}`);
  assert.equal(await page().textContent("[data-total=devices]"), String(rows.length));
  assert.deepEqual(ctx.errors, []);
});

test("at least 5 devices update within 5 s", async () => {
  await devicesUpdate(page(), 5, { timeout: 5000 });
});

test("changing a setpoint shows pending, then synced once the device reports it", async () => {
  await setpointPendingThenSynced(page(), "thermostat-001", 24.5);
});

test("an out-of-range setpoint is refused by the input and changes nothing", async () => {
  await page().fill("tr[data-property=setpoint] input[type=number]", "99");
  await page().click("tr[data-property=setpoint] button[type=submit]");
  const valid = await page().$eval("tr[data-property=setpoint] input[type=number]", (i) => i.checkValidity());
  assert.equal(valid, false, "the input honours max");
  assert.equal(await page().textContent("tr[data-property=setpoint] [data-desired]"), "24.5 °C");
});

test("a command goes through its lifecycle to completed", async () => {
  await commandCompletes(page());
});

test("history: aggregates from the IndexedDB store and a CSV download of a range", async () => {
  // Still on thermostat-001: its telemetry has been recorded since the page loaded.
  const row = await page().waitForSelector(".history tr[data-bucket]");
  const start = Number(await row.getAttribute("data-bucket"));
  assert.equal(start % 3_600_000, 0, "hour buckets start on the hour");
  assert.ok(Number(await row.getAttribute("data-count")) >= 1);
  const [min, avg, max] = await Promise.all(["data-min", "data-avg", "data-max"].map(
    async (cell) => Number(await row.$eval(`[${cell}]`, (e) => e.textContent))));
  assert.ok(min <= avg && avg <= max, `min ${min} avg ${avg} max ${max}`);
  assert.ok(min >= 5 && max <= 35, "a thermostat's temperatures");

  await page().selectOption(".history select[name=history-resolution]", "day");
  await page().waitForFunction(() => {
    const row = document.querySelector(".history tr[data-bucket]");
    return row && Number(row.dataset.bucket) % 86_400_000 === 0;
  });

  await page().selectOption(".history select[name=csv-range]", "15");
  await page().click(".history [data-csv-prepare]");
  const link = await page().waitForSelector(".history a.csv-link");
  assert.match(await link.getAttribute("download"), /^thermostat-001-\d+-\d+\.csv$/);
  const rows = Number(await link.getAttribute("data-csv-rows"));
  const text = await page().evaluate(async (href) => (await fetch(href)).text(), await link.getAttribute("href"));
  const lines = text.split("\r\n").filter((l) => l !== "");
  assert.equal(lines[0], "timestamp,heating,temperature");
  assert.ok(rows >= 1 && lines.length === rows + 1, `${rows} rows announced, ${lines.length - 1} in the file`);
  for (const line of lines.slice(1)) {
    const [t, heating, temperature] = line.split(",");
    assert.ok(Number.isInteger(Number(t)) && Number(t) > Date.now() - 20 * 60_000, line);
    assert.ok(["true", "false", ""].includes(heating), line);
    assert.ok(temperature === "" || Number.isFinite(Number(temperature)), line);
  }
  assert.deepEqual(ctx.errors, []);
});

test("a fault drives a motor over its limit: the alert appears and can be acknowledged", async () => {
  await route(page(), "#/device/motor-002", ".command-form select");
  await page().selectOption(".command-form select", "fault");
  const payload = await page().inputValue(".command-form .payload");
  assert.deepEqual(JSON.parse(payload), { kind: "stuck", property: "temperature", value: 95 });
  await page().click(".command-form button[type=submit]");
  const alert = await page().waitForSelector(".alerts li.alert[data-property=temperature]");
  assert.match(await alert.textContent(), /above the maximum/);
  await page().waitForSelector(".chart[data-property=temperature] .marker.critical");
  await alert.$eval("button", (b) => b.click());
  await page().waitForSelector(".alerts li.alert[data-property=temperature].acknowledged");
  // Let the charts fill and the first predictions come (10 readings), then
  // keep a picture of the page.
  await page().waitForSelector(".maintenance table tr[data-property=vibration]");
  // A forecast under 50 % confidence is shown muted, never as an alarm,
  // unless the value is already past its critical level ("now").
  const rows = await page().$$eval(".maintenance tbody tr", (trs) => trs.map((tr) => {
    const cells = [...tr.querySelectorAll("td")];
    const badge = tr.querySelector(".recommendation");
    return {
      property: tr.dataset.property,
      toCritical: cells[4].textContent.trim(),
      confidence: Number(cells[5].textContent.replace("%", "").trim()),
      urgency: [...badge.classList].find((c) => c !== "recommendation"),
      text: badge.textContent,
    };
  }));
  assert.ok(rows.length > 0);
  for (const row of rows) {
    if (row.confidence === 50) continue; // rounded for display: either side
    const tentative = row.confidence < 50 && row.toCritical !== "now";
    assert.equal(row.urgency === "tentative", tentative, JSON.stringify(row));
    assert.equal(row.text.endsWith("(low confidence)"), tentative, JSON.stringify(row));
  }
  await mkdir("target/dashboard", { recursive: true });
  await page().screenshot({ path: "target/dashboard/device-page.png", fullPage: true });

  await route(page(), "#/", "[data-device-row]");
  await page().waitForFunction(() => Number(document.querySelector("[data-total=alerts]").textContent) >= 1);
  assert.deepEqual(ctx.errors, []);
});

test("the plain-JavaScript example page runs the reference's quick start", async () => {
  const example = await openPage("www/examples/plain-js.html", () => window.exampleDone !== undefined);
  try {
    const done = await example.page.evaluate(() => window.exampleDone);
    assert.equal(done.samplingRate, 1000);
    assert.deepEqual(done.delta, {});
    assert.equal(done.commandStatus, "completed");
    assert.deepEqual(done.commands, ["pending", "sent", "acknowledged", "completed"]);
    assert.ok(done.alerts.some((m) => m.includes("above the maximum 85")));
    assert.equal(done.recommendation, "Immediate maintenance required");
    assert.deepEqual(example.errors, []);
  } finally {
    await example.close();
  }
});
