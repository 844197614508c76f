//! One event from either source, as read from a JSONL stream.

use initscope_probe::schema::{KernelEvent, KernelKind};
use initscope_runtime::events::schema::{EventKind, RuntimeEvent};

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
    #[error("not UTF-8 text (an invalid byte after {0} good ones)")]
    NotUtf8(usize),
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
        let Pairs(pairs) = serde_json::from_str(line)?;
        let first = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let source = first("source").and_then(|s| s.as_str()).unwrap_or("");
        let source = match source {
            "runtime" | "kernel" => source.to_string(),
            other => return Err(ParseError::UnknownSource(other.to_string())),
        };
        // A kind may have a field with an envelope field's name (`mount`'s `source`,
        // `cgroup_join`'s `pid`): the line then holds the key twice, envelope first.
        // Each side gets its own occurrence.
        let mut envelope = serde_json::Map::new();
        let mut kind = serde_json::Map::new();
        let mut clash = false;
        for (k, v) in pairs {
            if envelope.contains_key(&k) {
                clash = true;
                kind.insert(k, v);
            } else {
                envelope.insert(k.clone(), v.clone());
                kind.insert(k, v);
            }
        }
        if source == "runtime" {
            if !clash {
                return match serde_json::from_value(envelope.clone().into()) {
                    Ok(e) => Ok(Event::Runtime(e)),
                    // A kind whose fields this reader does not understand (a newer
                    // runtime): keep the event, as `other`, rather than lose it.
                    Err(err) => {
                        envelope.insert("kind".into(), "other".into());
                        serde_json::from_value(envelope.into())
                            .map(Event::Runtime)
                            .map_err(|_| err.into())
                    }
                };
            }
            let k: EventKind = serde_json::from_value(kind.into())?;
            envelope.insert("kind".into(), "other".into());
            let mut e: RuntimeEvent = serde_json::from_value(envelope.into())?;
            e.kind = k;
            Ok(Event::Runtime(e))
        } else {
            if !clash {
                return match serde_json::from_value(envelope.clone().into()) {
                    Ok(e) => Ok(Event::Kernel(e)),
                    Err(err) => {
                        envelope.insert("kind".into(), "other".into());
                        serde_json::from_value(envelope.into())
                            .map(Event::Kernel)
                            .map_err(|_| err.into())
                    }
                };
            }
            let k: KernelKind = serde_json::from_value(kind.into())?;
            envelope.insert("kind".into(), "other".into());
            let mut e: KernelEvent = serde_json::from_value(envelope.into())?;
            e.kind = k;
            Ok(Event::Kernel(e))
        }
    }

    pub fn to_json(&self) -> String {
        match self {
            Event::Runtime(e) => e.to_json(),
            Event::Kernel(e) => e.to_json(),
        }
    }
}

/// The `kind` a line carries, for events read as `other` (a kind this reader lacks).
pub fn raw_kind(line: &str) -> Option<String> {
    fields(line)
        .into_iter()
        .find(|(k, _)| k == "kind")
        .and_then(|(_, v)| v.as_str().map(str::to_string))
}

/// Is this an event of a kind this reader does not know?
pub fn is_other(ev: &Event) -> bool {
    match ev {
        Event::Runtime(e) => matches!(e.kind, EventKind::Other),
        Event::Kernel(e) => matches!(e.kind, KernelKind::Other),
    }
}

/// The members of a JSON line in their order, duplicates kept (for the details pane).
pub fn fields(line: &str) -> Vec<(String, serde_json::Value)> {
    serde_json::from_str::<Pairs>(line)
        .map(|p| p.0)
        .unwrap_or_default()
}

/// A JSON object's members in order, duplicates kept (serde_json's map keeps one).
struct Pairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Pairs, A::Error> {
                let mut out = Vec::with_capacity(16);
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use initscope_runtime::events::schema::{RuntimeSource, Stage, SCHEMA_VERSION};

    #[test]
    fn kinds_whose_fields_repeat_envelope_names_read_back() {
        // `mount` has its own `source`, `cgroup_join` its own `pid`.
        for kind in [
            EventKind::Mount {
                source: "proc".into(),
                destination: "/proc".into(),
                fstype: "proc".into(),
                flags: vec![],
                data: String::new(),
            },
            EventKind::CgroupJoin {
                path: "/x".into(),
                pid: 77,
                mode: "v2".into(),
            },
        ] {
            let e = Event::Runtime(RuntimeEvent {
                v: SCHEMA_VERSION,
                ts_ns: 9,
                source: RuntimeSource::Runtime,
                container: "c".into(),
                exec_id: None,
                stage: Stage::Init,
                pid: 5,
                kind,
            });
            assert_eq!(Event::parse_line(&e.to_json()).unwrap(), e);
        }
        assert!(matches!(
            Event::parse_line(r#"{"source":"x"}"#),
            Err(ParseError::UnknownSource(_))
        ));
        assert!(matches!(Event::parse_line("[1]"), Err(ParseError::Json(_))));
    }
}
