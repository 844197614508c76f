//! Looking for one event in a container's `events.jsonl` from its end: `start` asks whether
//! init logged its `exec` (its last event, written just before execve), which sits in the
//! last batches of a log that a bootstrap has grown to ~20 KiB. Reading the tail first saves
//! reading and scanning the whole log on every `start`; when the tail does not have it, the
//! whole log is read, so the answer is the same as a full scan.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How much of the end is read first: four batches' worth (a batch is ≤ `PIPE_BUF`).
const TAIL: u64 = 16 * 1024;

/// Whether some whole line of the log at `path` satisfies `matches` (false when the log
/// cannot be read).
pub fn any_line(path: &Path, matches: impl Fn(&str) -> bool) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut text = Vec::new();
    if len > TAIL {
        if file.seek(SeekFrom::Start(len - TAIL)).is_ok() && file.read_to_end(&mut text).is_ok() {
            // The first line is cut unless the tail begins right after a newline.
            let whole = text
                .iter()
                .position(|&b| b == b'\n')
                .map_or(&[][..], |nl| &text[nl + 1..]);
            if scan(whole, &matches) {
                return true;
            }
        }
        text.clear();
        if file.seek(SeekFrom::Start(0)).is_err() {
            return false;
        }
    }
    file.read_to_end(&mut text).is_ok() && scan(&text, &matches)
}

fn scan(text: &[u8], matches: &impl Fn(&str) -> bool) -> bool {
    text.split(|&b| b == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok())
        .any(matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(lines: &[String]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for l in lines {
            std::io::Write::write_all(&mut f, format!("{l}\n").as_bytes()).unwrap();
        }
        f
    }

    fn filler(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(100)))
            .collect()
    }

    #[test]
    fn finds_a_line_in_the_tail_or_anywhere() {
        for at in [0, 1, 150, 299] {
            let mut lines = filler(300);
            lines[at] = "{\"kind\":\"exec\",\"pid\":42}".into();
            let f = log_with(&lines);
            assert!(any_line(f.path(), |l| l.contains("\"exec\"")), "line {at}");
            assert!(!any_line(f.path(), |l| l.contains("\"nope\"")));
        }
    }

    #[test]
    fn a_cut_first_line_of_the_tail_is_not_matched() {
        let f = log_with(&filler(300));
        // Every whole line ends with `"}`; a cut one could look like anything.
        assert!(!any_line(f.path(), |l| !l.is_empty() && !l.ends_with("\"}")));
    }

    #[test]
    fn short_and_missing_logs() {
        let f = log_with(&["{\"kind\":\"exec\"}".to_string()]);
        assert!(any_line(f.path(), |l| l.contains("exec")));
        assert!(!any_line(Path::new("/nonexistent/events.jsonl"), |_| true));
    }
}
