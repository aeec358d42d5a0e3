// In-page helpers of the browser benchmarks, imported by the page
// (`await import("/tests/npm/bench-page.mjs")` inside page.evaluate).

/** The median of some numbers. */
export function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/** Calls per second of `fn(i)`: the median of 7 rounds of 150 ms. */
export function rate(fn) {
  const samples = [];
  for (let round = 0; round < 7; round++) {
    let n = 0;
    const start = performance.now();
    while (performance.now() - start < 150) {
      for (let k = 0; k < 100; k++) fn(n++);
    }
    samples.push((n * 1000) / (performance.now() - start));
  }
  return median(samples);
}

/**
 * The baseline twin: the bookkeeping of a twin's `ingest()` in plain
 * JavaScript objects (type check, reported value, metadata, a bounded
 * array history with push/shift, version), without events or alerts.
 */
export class PlainTwin {
  constructor(historyCapacity = 86_400) {
    this.reported = {};
    this.metadata = {};
    this.history = {};
    this.version = 0;
    this.historyCapacity = historyCapacity;
  }

  /** Applies a `{deviceId, timestamp, values}` record. */
  ingest(record) {
    for (const [name, value] of Object.entries(record.values)) {
      if (typeof value !== "number" || !Number.isFinite(value)) throw new TypeError(name);
      const meta = this.metadata[name];
      this.reported[name] = value;
      this.metadata[name] = { lastUpdated: record.timestamp, version: (meta ? meta.version : 0) + 1, source: "device" };
      const history = (this.history[name] ??= []);
      history.push([record.timestamp, value]);
      if (history.length > this.historyCapacity) history.shift();
      this.version++;
    }
  }
}
