//! IndexedDB backend (rexie).
