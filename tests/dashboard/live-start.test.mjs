// `npm start -- --live` after its builds (scripts/live.mjs): mosquitto and
// twinkit-sim start, the printed live URL shows the simulator's devices
// connected over MQTT, and SIGINT (Ctrl-C) stops the server, the simulator
// and the broker, so nothing listens on their ports afterwards.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "../npm/harness.mjs";

const listening = (port) => new Promise((resolve) => {
  const socket = connect(port, "127.0.0.1");
  socket.once("connect", () => { socket.destroy(); resolve(true); });
  socket.once("error", () => resolve(false));
});

test("npm start -- --live: broker, simulator and dashboard start, the live URL works, Ctrl-C stops all three", async () => {
  const child = spawn(process.execPath, ["scripts/live.mjs", "--live", "--port", "0", "--devices", "3", "--interval", "500"],
    { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (chunk) => { out += chunk; });
  const exited = once(child, "exit");
  let browser;
  try {
    while (!out.includes("Ctrl-C stops")) {
      await Promise.race([once(child.stdout, "data"), exited.then(() => { throw new Error(`exited early:\n${out}`); })]);
    }
    const url = out.match(/live over MQTT: (\S+)/)[1];
    assert.match(url, /\?live=mqtt&broker=ws:\/\/127\.0\.0\.1:\d+&devices=3&rate=2$/);
    const ports = [...out.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    for (const port of ports) assert.ok(await listening(port), `port ${port} listens`);

    browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    const errors = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(url);
    await page.waitForSelector("[data-live-status=connected]");
    assert.match(await page.textContent("[data-live-status]"), /mqtt 3\/3 connected/);
    await page.waitForFunction(() => [...document.querySelectorAll("[data-device-row]")].every((r) => Number(r.dataset.version) > 0));
    assert.deepEqual(errors, []);
    await browser.close();
    browser = undefined;

    child.kill("SIGINT");
    const [code] = await exited;
    assert.equal(code, 0);
    assert.match(out, /stopping the server, the simulator and mosquitto/);
    for (const port of ports) assert.equal(await listening(port), false, `port ${port} is closed`);
  } finally {
    await browser?.close();
    // SIGTERM also stops the simulator and the broker.
    if (child.exitCode === null) { child.kill("SIGTERM"); await exited; }
  }
});
