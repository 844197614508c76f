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

/// The `e` key in replay: `BASE.svg` and `BASE.mmd` of the diagram as shown at `at`.
pub fn write_pictures(
    m: &crate::model::Model,
    at: u32,
    base: &Path,
) -> Result<(PathBuf, PathBuf), CmdError> {
    let svg_path = base.with_extension("svg");
    let mmd_path = base.with_extension("mmd");
    std::fs::write(&svg_path, svg::render(m, at))
        .map_err(|e| CmdError::io(format!("writing {}", svg_path.display()), e))?;
    std::fs::write(&mmd_path, mermaid::render(m, at))
        .map_err(|e| CmdError::io(format!("writing {}", mmd_path.display()), e))?;
    Ok((svg_path, mmd_path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn the_export_key_writes_both_pictures_of_the_moment_shown() {
        let m = crate::model::Model::from_events(&synth::initscope_bootstrap(
            synth::Options::default(),
        ));
        let dir = tempfile::tempdir().unwrap();
        let (svg, mmd) = write_pictures(&m, 20, &dir.path().join("boot")).unwrap();
        assert_eq!(svg.file_name().unwrap(), "boot.svg");
        let text = std::fs::read_to_string(mmd).unwrap();
        assert!(
            text.contains("BOOTSTRAP_DATA") && !text.contains("SYNC_GRANDCHILD"),
            "only up to event 20:\n{text}"
        );
        assert!(std::fs::read_to_string(svg).unwrap().starts_with("<svg"));
        let err = write_pictures(&m, 20, &dir.path().join("missing/boot"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing/boot.svg"), "{err}");
    }
}
