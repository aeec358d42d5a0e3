// Creating and disposing twins does not grow WebAssembly memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { testPage } from "./harness.mjs";
import { thermostat } from "./fixtures.mjs";

const { run } = testPage();

test("10,000 twins created, used and disposed: memory stops growing after warm-up", async () => {
  const r = await run((config) => {
    const { DigitalTwin, FleetManager, wasmMemoryBytes } = window.twinkit;
    const cycle = (i) => {
      const twin = new DigitalTwin({ ...config, id: `t${i}` });
      const off = twin.on("telemetry", () => {});
      twin.on("alert", () => {});
      twin.applyReported({ temperature: 60 + (i % 50), humidity: 40 });
      twin.sendCommand("ping", { i });
      twin.setDesired("setpoint", 70);
      if (i % 2) off();
      twin.dispose();
      twin.free();
      const fleet = new FleetManager();
      const member = fleet.addDevice({ ...config, id: `f${i}` });
      fleet.dispose();
      member.free();
      fleet.free();
    };
    for (let i = 0; i < 1000; i++) cycle(i);
    const warm = wasmMemoryBytes();
    for (let i = 1000; i < 10_000; i++) cycle(i);
    return { warm, end: wasmMemoryBytes() };
  }, thermostat);
  assert.equal(r.end, r.warm, `wasm memory grew from ${r.warm} to ${r.end} bytes`);
});

test("twins left to the garbage collector are released too (weak refs)", async () => {
  const r = await run(async (config) => {
    const { DigitalTwin, wasmMemoryBytes } = window.twinkit;
    const settle = async () => {
      for (let k = 0; k < 5; k++) {
        window.gc();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const batch = (b) => {
      for (let i = 0; i < 2000; i++) {
        const twin = new DigitalTwin({ ...config, id: `g${b}-${i}` });
        twin.on("stateChange", () => {});
        twin.applyReported({ temperature: 70 });
        twin.dispose();
      }
    };
    const sizes = [];
    for (let b = 0; b < 6; b++) {
      batch(b);
      await settle();
      sizes.push(wasmMemoryBytes());
    }
    return sizes;
  }, thermostat);
  // After the first batches have sized the heap, later ones reuse it.
  assert.equal(r[5], r[2], `wasm memory kept growing: ${r.join(", ")}`);
});
