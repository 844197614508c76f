//! `--log FILE --log-format text|json`: where clients (conmon, containerd's shim) read
//! the runtime's errors. The error is always the last line written, in logrus's format,
//! as runc writes it.

use std::io::Write;
use std::path::Path;

use super::LogFormat;
use crate::timefmt::now_rfc3339;

/// One log line in `format`.
pub fn format_line(format: LogFormat, level: &str, msg: &str) -> String {
    let time = now_rfc3339();
    match format {
        LogFormat::Json => {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        }
        LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}"),
    }
}

/// Append one line to `path` (best effort: a log that cannot be written must not hide
/// the error, which also goes to stderr).
pub fn append(path: &Path, format: LogFormat, level: &str, msg: &str) {
    let line = format_line(format, level, msg) + "\n";
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_have_level_msg_time() {
        let l = format_line(LogFormat::Json, "error", "container \"x\" does not exist");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        let t = format_line(LogFormat::Text, "error", "a \"b\"");
        assert!(t.contains("level=error msg=\"a \\\"b\\\"\""), "{t}");
    }
}
