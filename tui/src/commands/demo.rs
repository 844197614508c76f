//! `initscope demo`: the README's main command. Builds a bundle in a temp dir, runs it
//! under initscope-runtime with the probe attached, shows the bootstrap live, and cleans
//! everything up on exit.

use std::path::PathBuf;

use super::launch::{self, Launch};
use super::{bundle, CmdError};

/// The shipped recording of our own runtime, for people without root.
pub const SHIPPED_OURS: &str = "tui/recordings/initscope-runtime.jsonl";

pub struct DemoOpts {
    pub runtime: Option<PathBuf>,
    pub record: Option<PathBuf>,
    pub userns: bool,
    /// `INITSCOPE_PAUSE_AT` for the runtime: hold a stage at a step (`c` continues it).
    pub pause_at: Option<String>,
    /// Use the host's programs (bound read-only) even when busybox is there.
    pub host_rootfs: bool,
    /// No screen: the diagram as text and a summary (also without a terminal).
    pub print: bool,
}

/// Returns the exit status: the container's when printing, 0 after the screen.
pub fn run(o: DemoOpts) -> Result<i32, CmdError> {
    super::need_root("demo", SHIPPED_OURS)?;
    let runtime = match o.runtime {
        Some(r) => r,
        None => launch::find_runtime()?,
    };
    let work = tempfile::Builder::new()
        .prefix("initscope-demo-")
        .tempdir()
        .map_err(|e| CmdError::io("temp dir", e))?;
    let bundle_dir = work.path().join("bundle");
    std::fs::create_dir_all(&bundle_dir)
        .map_err(|e| CmdError::io(bundle_dir.display().to_string(), e))?;
    if let Some(p) = &o.pause_at {
        // Read by every runtime process the demo starts (set before any thread exists).
        std::env::set_var("INITSCOPE_PAUSE_AT", p);
    }
    let args = [
        "sh",
        "-c",
        "echo hello from an initscope demo container; hostname; id; sleep 5",
    ];
    let b = if o.host_rootfs {
        bundle::build_with(&bundle_dir, o.userns, &args, None)
    } else {
        bundle::build(&bundle_dir, o.userns, &args)
    };
    let b = b.map_err(|e| {
        CmdError::io(
            format!("building the demo bundle in {}", bundle_dir.display()),
            e,
        )
    })?;
    let r = launch::run(Launch {
        runtime,
        print: o.print,
        bundle: b.dir,
        id: launch::unique_id("initscope-demo"),
        work: work.path().to_path_buf(),
        record: o.record,
        title: "demo".into(),
        note: Some(format!(
            "demo container: {} rootfs{}",
            b.rootfs_from,
            if o.userns { ", user namespace" } else { "" }
        )),
    });
    super::remove_work_dir(work)?;
    r
}
