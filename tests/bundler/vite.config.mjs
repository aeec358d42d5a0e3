// Builds the bundler test app. `twinkit` resolves through
// tests/bundler/node_modules/twinkit -> pkg/ (made by the test), so the
// package's exports map is what the bundler reads.
import { defineConfig } from "vite";

export default defineConfig({
  root: new URL(".", import.meta.url).pathname,
  logLevel: "warn",
  // Relative asset URLs: the test serves dist/ below the repository root.
  base: "./",
  // The package loads its module with top-level await: ES2022 and later.
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
});
