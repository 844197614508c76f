//! `initscope diagnose ID|PID`: the report as text, or one JSON document with `--json`.

use crate::diagnose::{self, text, DiagnoseError, Opts};

/// Print the report; an unknown id or pid is the error (one line, non-zero exit).
pub fn run(opts: &Opts, json: bool) -> Result<(), DiagnoseError> {
    let report = diagnose::diagnose(opts)?;
    if json {
        // Plain data with string keys: serializing cannot fail.
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
    } else {
        print!("{}", text::render(&report));
    }
    Ok(())
}
