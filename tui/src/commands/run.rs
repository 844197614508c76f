//! `initscope run BUNDLE [ID]`: like the demo, for your bundle.

use std::path::PathBuf;

use super::launch::{self, Launch};
use super::CmdError;

pub struct RunOpts {
    pub bundle: PathBuf,
    pub id: Option<String>,
    pub runtime: Option<PathBuf>,
    pub record: Option<PathBuf>,
    /// No screen: the diagram as text and a summary (also without a terminal).
    pub print: bool,
}

/// Returns the exit status: the container's when printing, 0 after the screen.
pub fn run(o: RunOpts) -> Result<i32, CmdError> {
    super::need_root("run", super::demo::SHIPPED_OURS)?;
    let cfg_path = o.bundle.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| {
        CmdError::Usage(match e.kind() {
            std::io::ErrorKind::NotFound if !o.bundle.is_dir() => format!(
                "bundle {}: no such directory; give the directory that holds config.json and rootfs",
                o.bundle.display()
            ),
            std::io::ErrorKind::NotFound => format!(
                "bundle {}: no config.json in it; make one with `initscope-runtime spec --bundle {}`",
                o.bundle.display(),
                o.bundle.display()
            ),
            _ => format!("bundle {}: {}: {e}", o.bundle.display(), cfg_path.display()),
        })
    })?;
    let cfg: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CmdError::Usage(format!("{}: not JSON: {e}", cfg_path.display())))?;
    if cfg["process"]["terminal"] == true {
        return Err(CmdError::Usage(format!(
            "{}: process.terminal is true, but the viewer owns this terminal; set it to false",
            cfg_path.display()
        )));
    }
    let runtime = match o.runtime {
        Some(r) => r,
        None => launch::find_runtime()?,
    };
    let bundle = std::fs::canonicalize(&o.bundle)
        .map_err(|e| CmdError::io(o.bundle.display().to_string(), e))?;
    let work = tempfile::Builder::new()
        .prefix("initscope-run-")
        .tempdir()
        .map_err(|e| CmdError::io("temp dir", e))?;
    let id = o.id.unwrap_or_else(|| launch::unique_id("initscope-run"));
    let r = launch::run(Launch {
        runtime,
        print: o.print,
        bundle: bundle.clone(),
        id: id.clone(),
        work: work.path().to_path_buf(),
        record: o.record,
        title: format!("run {} {id}", bundle.display()),
        note: None,
    });
    super::remove_work_dir(work)?;
    r
}
