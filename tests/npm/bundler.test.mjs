// The package through a bundler: Vite builds an app that imports "twinkit"
// by its bare name (the exports map), and the built app runs in Chromium.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rm, symlink } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { openPage } from "./harness.mjs";

const app = new URL("../bundler/", import.meta.url);

test("a Vite build of an app importing twinkit runs in the browser", async () => {
  const modules = new URL("node_modules/", app);
  await rm(modules, { recursive: true, force: true });
  await mkdir(modules);
  await symlink(fileURLToPath(new URL("../../pkg", import.meta.url)), fileURLToPath(new URL("twinkit", modules)), "dir");
  await build({ configFile: fileURLToPath(new URL("vite.config.mjs", app)) });

  const ctx = await openPage("tests/bundler/dist/index.html", () => window.result);
  try {
    const result = await ctx.page.evaluate(() => window.result);
    assert.deepEqual(result, { reported: { temperature: 60 }, alerts: ["critical"] });
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});
