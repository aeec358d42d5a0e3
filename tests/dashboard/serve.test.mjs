// scripts/serve.mjs as `npm start` runs it: serves www/ and pkg/, prints
// the URL, keeps requests inside them, and stops cleanly on Ctrl-C.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";

test("the demo server serves the dashboard and pkg/, and stops on SIGINT", async () => {
  const server = spawn(process.execPath, ["scripts/serve.mjs", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  server.stdout.on("data", (chunk) => { out += chunk; });
  while (!/http:\/\/127\.0\.0\.1:\d+\//.test(out)) await once(server.stdout, "data");
  const origin = out.match(/(http:\/\/127\.0\.0\.1:\d+)\//)[1];
  const status = async (path) => (await fetch(origin + path)).status;
  try {
    const index = await fetch(`${origin}/`);
    assert.equal(index.status, 200);
    assert.match(await index.text(), /dist\/twinkit_dashboard\.js/);
    assert.equal(await status("/dist/twinkit_dashboard_bg.wasm"), 200);
    assert.equal(await status("/pkg/index.js"), 200);
    assert.equal(await status("/examples/plain-js.html"), 200);
    // Dot segments, plain or encoded, never leave the served folders: the
    // repository's own Cargo.toml (the workspace) is out of reach.
    for (const path of ["/%2e%2e/Cargo.toml", "/..%2F..%2FCargo.toml", "/dist/..%2f..%2f..%2fCargo.toml"]) {
      const res = await fetch(origin + path);
      assert.doesNotMatch(await res.text(), /\[workspace\]/, path);
    }
    assert.equal(await status("/no-such-file"), 404);
  } finally {
    server.kill("SIGINT");
  }
  const [code] = await once(server, "exit");
  assert.equal(code, 0);
});

test("a bad port is refused with a clear message", async () => {
  const server = spawn(process.execPath, ["scripts/serve.mjs", "--port", "http"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  server.stderr.on("data", (chunk) => { err += chunk; });
  const [code] = await once(server, "exit");
  assert.equal(code, 2);
  assert.match(err, /invalid port "http"/);
});
