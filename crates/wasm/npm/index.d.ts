export * from "./twinkit.js";
export { default as init, initSync } from "./twinkit.js";
