//! `--log FILE --log-format text|json`: where clients (conmon, containerd's shim) read
//! the runtime's errors. The error is always the last line written, in logrus's format,
//! as runc writes it.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// `--log` and `--log-format` read straight from the raw arguments, for a command line
/// clap refused: the client still expects the error as the last line of its log.
/// Unknown formats fall back to text (`--log-format=xml` is itself the usage error).
pub fn target_from_args(args: &[OsString]) -> Option<(PathBuf, LogFormat)> {
    let mut log = None;
    let mut format = LogFormat::Text;
    let mut it = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        if name != "--log" && name != "--log-format" {
            continue;
        }
        let Some(value) = inline.or_else(|| it.next()) else {
            break;
        };
        if name == "--log" {
            log = Some(PathBuf::from(value));
        } else if value == "json" {
            format = LogFormat::Json;
        } else {
            format = LogFormat::Text;
        }
    }
    log.map(|l| (l, format))
}

/// clap's error as one line for a log: its first line without the `error: ` prefix.
pub fn usage_line(rendered: &str) -> String {
    // clap's message may go on over a few lines (`…were not provided:` / `  <ID>`) before
    // its usage block: keep those, drop the tips and the usage.
    let mut parts = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() || line.starts_with("tip:") {
            continue;
        }
        parts.push(line.strip_prefix("error: ").unwrap_or(line));
    }
    let msg = if parts.is_empty() {
        "invalid command line".to_string()
    } else {
        parts.join(" ")
    };
    format!("{msg} (see `initscope-runtime --help`)")
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

    fn args(a: &[&str]) -> Vec<OsString> {
        std::iter::once("initscope-runtime")
            .chain(a.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn log_target_in_every_spelling_clients_use() {
        let t = target_from_args(&args(&["--log-format=json", "--log", "/x/l", "bogus"]));
        assert_eq!(t, Some((PathBuf::from("/x/l"), LogFormat::Json)));
        let t = target_from_args(&args(&["--log=/y", "--log-format", "json", "ps", "x"]));
        assert_eq!(t, Some((PathBuf::from("/y"), LogFormat::Json)));
        let t = target_from_args(&args(&["pause", "--log", "/z", "x"]));
        assert_eq!(t, Some((PathBuf::from("/z"), LogFormat::Text)));
        assert_eq!(target_from_args(&args(&["pause", "x"])), None);
        assert_eq!(target_from_args(&args(&["--log"])), None);
        // After `--` it is the container's business.
        assert_eq!(
            target_from_args(&args(&["exec", "x", "--", "--log", "/q"])),
            None
        );
    }

    #[test]
    fn usage_line_is_one_line() {
        let l = usage_line("error: unrecognized subcommand 'ps'\n\nUsage: x\n");
        assert_eq!(
            l,
            "unrecognized subcommand 'ps' (see `initscope-runtime --help`)"
        );
    }
}
