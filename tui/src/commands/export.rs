//! `initscope export FILE.jsonl --format svg|mermaid [-o OUT]`.

use std::path::{Path, PathBuf};

use super::CmdError;
use crate::export::{mermaid, svg};
use crate::session::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Svg,
    Mermaid,
}

pub fn run(path: &Path, format: Format, out: Option<PathBuf>) -> Result<(), CmdError> {
    let session = Session::load(path)?;
    let at = session.model.len() as u32;
    let text = match format {
        Format::Svg => svg::render(&session.model, at),
        Format::Mermaid => mermaid::render(&session.model, at),
    };
    match out {
        Some(p) if p.as_os_str() != "-" => std::fs::write(&p, text)
            .map_err(|e| CmdError::io(format!("writing {}", p.display()), e)),
        _ => {
            use std::io::Write;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|e| CmdError::io("stdout", e))
        }
    }
}
