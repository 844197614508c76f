//! One event as one JSON line of at most [`MAX_LINE`] bytes: a line is never split, so a
//! too-long event has its longest strings and arrays shortened instead.

use serde_json::Value;

use super::schema::RuntimeEvent;

/// The largest line written, newline included: one atomic write to a pipe (`PIPE_BUF`).
pub const MAX_LINE: usize = 4096;

/// Serialize `ev` to at most `MAX_LINE - 1` bytes, shortening its longest strings and
/// arrays (never splitting the line) when it is too long.
pub fn fit_line(ev: &RuntimeEvent) -> String {
    let line = ev.to_json();
    if line.len() < MAX_LINE {
        return line;
    }
    let Ok(mut v) = serde_json::to_value(ev) else {
        return line;
    };
    for _ in 0..64 {
        let s = v.to_string();
        if s.len() < MAX_LINE {
            return s;
        }
        let excess = s.len() + 1 - MAX_LINE;
        if !shorten_largest(&mut v, excess) {
            break;
        }
    }
    // Nothing left to shorten (should not happen with bounded envelopes): keep the
    // envelope and say so rather than write a split line.
    serde_json::json!({
        "v": ev.v, "ts_ns": ev.ts_ns, "source": "runtime", "container": truncate(&ev.container, 256),
        "stage": ev.stage.as_str(), "pid": ev.pid, "kind": ev.kind.name(), "truncated": true,
    })
    .to_string()
}

/// Shorten the biggest string or array inside `v` by at least `excess` bytes (if it can).
fn shorten_largest(v: &mut Value, excess: usize) -> bool {
    fn size(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Array(a) => a.iter().map(size).sum::<usize>() + a.len(),
            Value::Object(o) => o.iter().map(|(k, v)| k.len() + size(v)).sum(),
            _ => 8,
        }
    }
    fn largest(v: &mut Value) -> Option<&mut Value> {
        let mut best: Option<&mut Value> = None;
        let mut best_size = 0;
        let children: Vec<&mut Value> = match v {
            Value::Array(a) => a.iter_mut().collect(),
            Value::Object(o) => o.values_mut().collect(),
            _ => return None,
        };
        for c in children {
            let s = size(c);
            if matches!(c, Value::String(_) | Value::Array(_)) && s > best_size {
                best_size = s;
                best = Some(c);
            } else if let Value::Object(_) = c {
                if s > best_size {
                    best_size = s;
                    best = Some(c);
                }
            }
        }
        let b = best?;
        if let Value::Object(_) = b {
            return largest(b);
        }
        Some(b)
    }
    let Some(target) = largest(v) else {
        return false;
    };
    match target {
        Value::String(s) if s.len() > 16 => {
            let keep = s.len().saturating_sub(excess + 16).max(16);
            *s = format!("{}…", truncate(s, keep));
            true
        }
        Value::Array(a) if a.len() > 1 => {
            let total = a.len();
            let keep = (total / 2).max(1);
            a.truncate(keep);
            a.push(Value::String(format!("…(+{} more)", total - keep)));
            true
        }
        Value::Array(a) if a.len() == 1 => shorten_largest(&mut a[0], excess),
        _ => false,
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::schema::{EventKind, RuntimeSource, Stage, SCHEMA_VERSION};

    fn ev(kind: EventKind) -> RuntimeEvent {
        RuntimeEvent {
            v: SCHEMA_VERSION,
            ts_ns: 1,
            source: RuntimeSource::Runtime,
            container: "c".into(),
            exec_id: None,
            stage: Stage::Init,
            pid: 7,
            kind,
        }
    }

    #[test]
    fn long_args_are_shortened_into_one_valid_line() {
        let args: Vec<String> = (0..2000).map(|i| format!("argument-{i}")).collect();
        let line = fit_line(&ev(EventKind::Exec {
            path: "/bin/echo".into(),
            args,
        }));
        assert!(line.len() < MAX_LINE, "{}", line.len());
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kind"], "exec");
        assert_eq!(v["path"], "/bin/echo");
        assert!(v["args"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("more"));
    }

    #[test]
    fn one_huge_string_is_cut_on_a_char_boundary() {
        let message = "é".repeat(5000);
        let line = fit_line(&ev(EventKind::Error {
            step: "mount".into(),
            errno: Some(13),
            message,
        }));
        assert!(line.len() < MAX_LINE);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["step"], "mount");
        assert_eq!(v["errno"], 13);
    }
}
