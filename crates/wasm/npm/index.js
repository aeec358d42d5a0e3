// Entry point of the twinkit npm package: loads the WebAssembly module once
// (top-level await), then exposes the classes. Works from a bundler and from
// a plain <script type="module"> on a static server.
import init, { initSync } from "./twinkit.js";

await init({ module_or_path: new URL("./twinkit_bg.wasm", import.meta.url) });

export * from "./twinkit.js";
export { init, initSync };
