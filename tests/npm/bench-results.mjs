// What every browser benchmark does last (the JavaScript side of the
// twinkit-bench crate): print its figures as a table and merge them into
// target/bench/results.json as
// `{"name": {"value", "unit", "baseline", "ratio", "note"}}`, keeping the
// other benchmarks' entries.
import { mkdir, readFile, writeFile } from "node:fs/promises";

const ROOT = new URL("../../", import.meta.url);

/** One line per figure: value, unit, baseline and ratio. */
export function printTable(results, { digits = 0, ratioDigits = 3 } = {}) {
  const width = Math.max(...Object.keys(results).map((name) => name.length));
  for (const [name, r] of Object.entries(results)) {
    console.log(`${name.padEnd(width)} ${r.value.toFixed(digits).padStart(12)} ${r.unit.padEnd(16)} baseline ${r.baseline.toFixed(digits).padStart(12)}  ratio ${r.ratio.toFixed(ratioDigits)}`);
  }
}

/** Prints `results` and merges them into target/bench/results.json. */
export async function writeResults(results, table) {
  printTable(results, table);
  const dir = new URL("target/bench/", ROOT);
  await mkdir(dir, { recursive: true });
  const path = new URL("results.json", dir);
  let all = {};
  try { all = JSON.parse(await readFile(path, "utf8")); } catch {}
  await writeFile(path, JSON.stringify({ ...all, ...results }, null, 2));
}
