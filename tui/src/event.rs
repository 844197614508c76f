//! One event from either source, as read from a JSONL stream.

use initscope_probe::schema::KernelEvent;
use initscope_runtime::events::schema::RuntimeEvent;

/// An event from the runtime or from the kernel (told apart by `source`).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Runtime(RuntimeEvent),
    Kernel(KernelEvent),
}

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown source {0:?} (expected \"runtime\" or \"kernel\")")]
    UnknownSource(String),
}

impl Event {
    pub fn ts_ns(&self) -> u64 {
        match self {
            Event::Runtime(e) => e.ts_ns,
            Event::Kernel(e) => e.ts_ns,
        }
    }

    /// Parse one JSONL line.
    pub fn parse_line(line: &str) -> Result<Event, ParseError> {
        let v: serde_json::Value = serde_json::from_str(line)?;
        match v.get("source").and_then(|s| s.as_str()) {
            Some("runtime") => Ok(Event::Runtime(serde_json::from_value(v)?)),
            Some("kernel") => Ok(Event::Kernel(serde_json::from_value(v)?)),
            other => Err(ParseError::UnknownSource(other.unwrap_or("").to_string())),
        }
    }

    pub fn to_json(&self) -> String {
        match self {
            Event::Runtime(e) => e.to_json(),
            Event::Kernel(e) => e.to_json(),
        }
    }
}
