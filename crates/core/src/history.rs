//! Bounded per-property telemetry history.
