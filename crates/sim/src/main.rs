//! The `twinkit-sim` binary (its servers land in the next commit).
fn main() {}
