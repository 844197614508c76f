//! Structured events: the schema every stage speaks, and flag naming shared with the probe.

pub mod flags;
pub mod schema;
