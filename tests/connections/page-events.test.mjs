// The page events an MQTT twin reacts to, in headless Chromium against
// mosquitto on 127.0.0.1: a tab becoming visible checks a quiet connection
// with a PINGREQ at once (its timers may have been throttled while hidden)
// and redials a dropped one at once; the browser coming back `online`
// redials at once too. The reconnect interval is long (first retry 10 to
// 20 s), so a reconnection within a few seconds is the event's doing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "../npm/harness.mjs";
import { startMosquitto } from "./services.mjs";

let broker;
let page;

const SENSOR = {
  id: "sensor-visible-1",
  name: "Sensor",
  type: "sensor",
  properties: [{ name: "temperature", type: "number", telemetry: true }],
};

before(async () => {
  broker = await startMosquitto();
  page = await openPage();
  await page.page.evaluate(async (config) => {
    // Records what the page's WebSockets send (the real sockets; only
    // observed), and lets the test say whether the tab is visible.
    window.sent = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      window.sent.push(typeof data === "string" ? data : Array.from(new Uint8Array(data.buffer ?? data, data.byteOffset ?? 0, data.byteLength)));
      return send.call(this, data);
    };
    window.visibility = "visible";
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => window.visibility });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => window.visibility === "hidden" });
    window.setVisibility = (state) => {
      window.visibility = state;
      document.dispatchEvent(new Event("visibilitychange"));
    };
    const { DigitalTwin } = window.twinkit;
    const twin = new DigitalTwin(config);
    window.connections = [];
    twin.on("connected", () => window.connections.push({ up: true, at: Date.now() }));
    twin.on("disconnected", (e) => window.connections.push({ up: false, at: Date.now(), reason: e.data?.reason }));
    window.twin = twin;
    await twin.connect();
  }, { ...SENSOR, connectionType: "mqtt", connectionConfig: { url: `ws://127.0.0.1:${broker.ports.ws}`, reconnectInterval: 20_000 } });
});

after(async () => {
  await page?.close();
  await broker?.stop();
});

async function waitFor(what, predicate, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const PINGREQ = [0xc0, 0x00];
const pings = () => page.page.evaluate((ping) => window.sent.filter((f) => f.length === 2 && f[0] === ping[0] && f[1] === ping[1]).length, PINGREQ);
const connected = () => page.page.evaluate(() => window.twin.isConnected);

test("a tab becoming visible pings a quiet connection at once; hiding it does not", { timeout: 30_000 }, async (t) => {
  assert.ok(await connected());
  // Quiet for longer than the wake-up check's 5 s; the keepalive (120 s,
  // PINGREQ after 60 s) is far off, so any PINGREQ is the event's.
  await new Promise((resolve) => setTimeout(resolve, 5_500));
  assert.equal(await pings(), 0, "no keepalive ping yet");
  await page.page.evaluate(() => window.setVisibility("hidden"));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(await pings(), 0, "becoming hidden checks nothing");
  const shown = Date.now();
  await page.page.evaluate(() => window.setVisibility("visible"));
  await waitFor("a PINGREQ", async () => (await pings()) === 1, 2_000);
  const pingMs = Date.now() - shown;
  // Answered: still connected after the PINGRESP wait would have run out.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.ok(await connected());
  await page.page.evaluate(() => window.setVisibility("visible"));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(await pings(), 1, "heard from the broker just now: no second check");
  t.diagnostic(`PINGREQ ${pingMs} ms after visibilitychange`);
});

async function dropAndRestore(dispatch) {
  await broker.stop();
  await waitFor("the disconnected event", async () => !(await connected()));
  await broker.start();
  // The schedule waits at least 10 s (reconnectInterval 20 s, jitter 0.5).
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(await connected(), false, "not yet: the retry is seconds away");
  const at = Date.now();
  await page.page.evaluate(dispatch);
  await waitFor("reconnection", connected, 5_000);
  return Date.now() - at;
}

test("the browser coming back online redials at once", { timeout: 60_000 }, async (t) => {
  const ms = await dropAndRestore(() => {
    window.dispatchEvent(new Event("offline"));
    window.dispatchEvent(new Event("online"));
  });
  assert.ok(ms < 3_000, `reconnected ${ms} ms after online`);
  t.diagnostic(`reconnected ${ms} ms after the online event`);
});

test("a tab becoming visible redials a dropped connection at once", { timeout: 60_000 }, async (t) => {
  const ms = await dropAndRestore(() => window.setVisibility("visible"));
  assert.ok(ms < 3_000, `reconnected ${ms} ms after visibilitychange`);
  const log = await page.page.evaluate(() => window.connections);
  assert.deepEqual(log.map((c) => c.up), [true, false, true, false, true], JSON.stringify(log));
  t.diagnostic(`reconnected ${ms} ms after visibilitychange`);
});
