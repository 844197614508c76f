//! Structured events: the schema every stage speaks, and flag naming shared with the probe;
//! the per-process emitter and the live sinks.

pub mod emitter;
mod fit;
pub mod flags;
pub mod schema;
pub mod sink;
