//! Running a bundle under initscope-runtime with both sources attached: the runtime sends
//! its events to a FIFO the viewer owns, the probe follows the runtime's processes.
//! `create`, then (a moment later, so init is seen waiting on exec.fifo) `start`; on
//! quit `delete --force`, and everything made here is removed.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use initscope_probe::held::HeldChild;
use initscope_probe::{Probe, ProbeOptions};

use super::CmdError;
use crate::app::{self, Hooks};
use crate::session::Session;
use crate::sources::fifo::FifoSource;
use crate::sources::stdio::with_redirected;
use crate::sources::Source;
use crate::view::{Mode, View};

/// How long init is left waiting on exec.fifo before `start`, so people see it.
const START_AFTER: Duration = Duration::from_millis(1500);

pub struct Launch {
    pub runtime: PathBuf,
    pub bundle: PathBuf,
    pub id: String,
    /// Private `--root` and the socket live here; removed at the end.
    pub work: PathBuf,
    pub record: Option<PathBuf>,
    pub title: String,
    pub note: Option<String>,
}

/// initscope-runtime beside this executable, else on PATH.
pub fn find_runtime() -> Result<PathBuf, CmdError> {
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = dir.join("initscope-runtime");
        if p.is_file() {
            return Ok(p);
        }
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("initscope-runtime"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CmdError::Usage(
                "initscope-runtime not found beside initscope or on PATH; build it (cargo build -p initscope-runtime) or pass --runtime PATH".into(),
            )
        })
}

struct Ctl {
    runtime: PathBuf,
    root: PathBuf,
    bundle: PathBuf,
    id: String,
    log: PathBuf,
    probe: Rc<RefCell<Probe>>,
}

impl Ctl {
    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec![
            self.runtime.display().to_string(),
            "--root".into(),
            self.root.display().to_string(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    /// Start a runtime command held, track it with the probe, let it go.
    fn spawn(&self, args: &[&str]) -> Result<HeldChild, String> {
        let argv = self.argv(args);
        let r =
            with_redirected(&self.log, || HeldChild::spawn(&argv)).map_err(|e| e.to_string())?;
        let mut c = r.map_err(|e| e.to_string())?;
        self.probe
            .borrow_mut()
            .track_pid(c.pid())
            .map_err(|e| e.to_string())?;
        c.release().map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// `delete --force`, waited for (not shown: the viewer is gone by then).
    fn delete(&self) {
        use std::os::unix::process::CommandExt;
        let argv = self.argv(&["delete", "--force", &self.id]);
        // In a process group of its own: when the viewer quits because its terminal hung
        // up, the kernel sends SIGHUP to the terminal's foreground group again as the
        // session leader exits, and a delete started in that group dies before it cleans.
        let _ = std::process::Command::new(&argv[0])
            .process_group(0)
            .args(&argv[1..])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

enum Phase {
    Creating(HeldChild),
    Created(Instant),
    Starting(HeldChild),
    Running,
    Failed,
}

pub fn run(l: Launch) -> Result<(), CmdError> {
    // The container's processes outlive `create`; as their subreaper we inherit them
    // instead of pid 1, and can reap them before we go.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let root = l.work.join("root");
    std::fs::create_dir_all(&root).map_err(|e| CmdError::io(root.display().to_string(), e))?;
    // A FIFO, not a datagram socket: a socket's queue of 10 datagrams overflows in the
    // first stage's burst of events (see sources/fifo.rs).
    let fifo_path = l.work.join("events.fifo");
    let fifo = FifoSource::create(&fifo_path)
        .map_err(|e| CmdError::io(format!("making {}", fifo_path.display()), e))?;
    // The runtime streams its events there (set before any thread exists; the runtime
    // commands started below inherit it).
    std::env::set_var("INITSCOPE_EVENTS", &fifo_path);
    let probe = Probe::load(ProbeOptions::default())
        .map_err(|e| CmdError::Usage(format!("loading the probe: {e}")))?;
    let probe = Rc::new(RefCell::new(probe));
    let ctl = Ctl {
        runtime: l.runtime.clone(),
        root,
        bundle: l.bundle.clone(),
        id: l.id.clone(),
        log: l.work.join("runtime.log"),
        probe: probe.clone(),
    };
    let store = super::watch::open_store(l.record.as_ref())?;
    let bundle = ctl.bundle.display().to_string();
    let create = ctl
        .spawn(&["create", "--bundle", &bundle, &ctl.id])
        .map_err(|e| CmdError::Usage(format!("create: {e}")))?;
    let mut phase = Phase::Creating(create);
    let mut session = Session::new(store);
    let mut view = View::new(Mode::Live, l.title.clone());
    if let Some(n) = &l.note {
        view.flash(n.clone());
    }
    let mut sources: Vec<Box<dyn Source>> =
        vec![Box::new(fifo), Box::new(SharedProbe(probe.clone()))];
    let mut every_turn = |v: &mut View| {
        phase = match std::mem::replace(&mut phase, Phase::Failed) {
            Phase::Creating(mut c) => match c.try_wait() {
                Ok(Some(e)) if e.status() == 0 => {
                    v.flash("created: init waits on exec.fifo; start follows in a moment");
                    Phase::Created(Instant::now())
                }
                Ok(Some(e)) => {
                    v.flash(format!(
                        "create failed with status {}; the runtime's messages are in {}",
                        e.status(),
                        ctl.log.display()
                    ));
                    Phase::Failed
                }
                _ => Phase::Creating(c),
            },
            Phase::Created(t) if t.elapsed() >= START_AFTER => match ctl.spawn(&["start", &ctl.id])
            {
                Ok(c) => Phase::Starting(c),
                Err(e) => {
                    v.flash(format!("start: {e}"));
                    Phase::Failed
                }
            },
            Phase::Starting(mut c) => match c.try_wait() {
                Ok(Some(e)) if e.status() == 0 => {
                    v.flash("started: the container's program runs; q quits (and deletes the container)");
                    Phase::Running
                }
                Ok(Some(e)) => {
                    v.flash(format!(
                        "start failed with status {}; see {}",
                        e.status(),
                        ctl.log.display()
                    ));
                    Phase::Failed
                }
                _ => Phase::Starting(c),
            },
            other => other,
        };
    };
    let r = app::run(
        &mut session,
        &mut view,
        &mut sources,
        Hooks {
            export: None,
            every_turn: Some(&mut every_turn),
        },
    );
    ctl.delete();
    reap_children(Duration::from_secs(2));
    drop(sources);
    r.map_err(|e| CmdError::io("terminal", e))
}

/// The probe shared with the loop's hook (which tracks each runtime command it starts).
struct SharedProbe(Rc<RefCell<Probe>>);

impl Source for SharedProbe {
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        Some(self.0.borrow().as_raw_fd())
    }
    fn drain(&mut self, out: &mut Vec<String>) -> std::io::Result<bool> {
        let mut batch = Vec::new();
        self.0
            .borrow_mut()
            .poll(Duration::ZERO, &mut batch)
            .map_err(std::io::Error::other)?;
        out.extend(batch.iter().map(|e| e.to_json()));
        Ok(true)
    }
    fn describe(&self) -> String {
        "kernel: the runtime's processes".into()
    }
}

/// Wait for every child (the container's processes we inherited) to be gone.
fn reap_children(within: Duration) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = Instant::now() + within;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// A unique container id.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id())
}
