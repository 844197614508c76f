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
use initscope_runtime::events::schema::Stage;

use super::CmdError;
use crate::app::{self, Hooks};
use crate::model::{Model, Status};
use crate::session::Session;
use crate::sources::fifo::FifoSource;
use crate::sources::stdio::with_redirected;
use crate::sources::Source;
use crate::view::{Mode, View};

/// How long init is left waiting on exec.fifo before `start`, so people see it.
const START_AFTER: Duration = Duration::from_millis(1500);
/// How long a quit waits for a running `create` or `start` to finish before killing it.
const FINISH_WITHIN: Duration = Duration::from_secs(3);

pub struct Launch {
    pub runtime: PathBuf,
    /// No screen: print the diagram and a summary at the end (also without a terminal).
    pub print: bool,
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
    /// `create` or `start` failed: its exit status.
    Failed(i32),
}

/// The runtime commands of a launch, one after the other: `create`, a pause so that init
/// is seen waiting on exec.fifo, `start`; then the container runs.
pub(crate) struct Driver {
    ctl: Ctl,
    phase: Phase,
}

impl Driver {
    /// Move on when the current command has finished. Returns a line for the user when
    /// something happened.
    pub(crate) fn turn(&mut self) -> Option<String> {
        let ctl = &self.ctl;
        let (phase, msg) = match std::mem::replace(&mut self.phase, Phase::Failed(1)) {
            Phase::Creating(mut c) => match c.try_wait() {
                Ok(Some(e)) if e.status() == 0 => (
                    Phase::Created(Instant::now()),
                    Some("created: init waits on exec.fifo; start follows in a moment".into()),
                ),
                Ok(Some(e)) => (
                    Phase::Failed(e.status()),
                    Some(format!("create failed with status {}", e.status())),
                ),
                _ => (Phase::Creating(c), None),
            },
            Phase::Created(t) if t.elapsed() >= START_AFTER => {
                match ctl.spawn(&["start", &ctl.id]) {
                    Ok(c) => (Phase::Starting(c), None),
                    Err(e) => (Phase::Failed(1), Some(format!("start: {e}"))),
                }
            }
            Phase::Starting(mut c) => match c.try_wait() {
                Ok(Some(e)) if e.status() == 0 => (
                    Phase::Running,
                    Some("started: the container's program runs".into()),
                ),
                Ok(Some(e)) => (
                    Phase::Failed(e.status()),
                    Some(format!("start failed with status {}", e.status())),
                ),
                _ => (Phase::Starting(c), None),
            },
            other => (other, None),
        };
        self.phase = phase;
        msg
    }

    /// The status of a failed `create` or `start`.
    pub(crate) fn failed(&self) -> Option<i32> {
        match self.phase {
            Phase::Failed(status) => Some(status),
            _ => None,
        }
    }

    /// Once started: has the container's process exited, and with what status (128+N for
    /// signal N)? It is ours to reap — `create` has exited and we are its subreaper — and
    /// when it is not (it was reaped elsewhere) the kernel's exit event tells.
    pub(crate) fn container_exit(&self, m: &Model) -> Option<i32> {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        if !matches!(self.phase, Phase::Running) {
            return None;
        }
        let lane = m
            .boots
            .iter()
            .find(|b| m.str(b.container) == self.ctl.id && m.str(b.exec_id).is_empty())?
            .by_stage
            .get(&Stage::Init)
            .copied()?;
        let pid = m.lane(lane).pid;
        match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Some(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
            Err(nix::errno::Errno::ECHILD) => {
                let x = m.lane(lane).exit?;
                let sig = m.str(x.signal);
                Some(match initscope_runtime::cli::signal::parse_signal(sig) {
                    Ok(n) if !sig.is_empty() => 128 + n,
                    _ => x.code.unwrap_or(0),
                })
            }
            _ => None,
        }
    }

    /// What the runtime commands and the container wrote (stdout and stderr share a log).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.ctl.log).unwrap_or_default()
    }

    /// Delete the container. A `create` or `start` still running is let finish first (a
    /// moment), or killed when a stage is held at a pause point or it takes longer: what it
    /// would make after the delete would outlive us (quitting at once used to leave init
    /// behind, waiting on an exec.fifo whose directory was gone).
    pub(crate) fn shutdown(&mut self, m: &Model) {
        let held = m
            .lanes
            .iter()
            .any(|l| matches!(l.status.last(), Some((_, Status::Paused { .. }))));
        if let Phase::Creating(c) | Phase::Starting(c) = &mut self.phase {
            let deadline = Instant::now() + if held { Duration::ZERO } else { FINISH_WITHIN };
            loop {
                match c.try_wait() {
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Ok(None) => {
                        c.signal(nix::sys::signal::Signal::SIGKILL);
                        let _ = c.wait();
                        break;
                    }
                    _ => break,
                }
            }
        }
        self.ctl.delete();
    }
}

pub fn run(l: Launch) -> Result<i32, CmdError> {
    // The container's processes outlive `create`; as their subreaper we inherit them
    // instead of pid 1, and can reap them before we go.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let headless = l.print || !crate::terminal::available();
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
    let mut driver = Driver {
        ctl,
        phase: Phase::Creating(create),
    };
    let mut session = Session::new(store);
    let mut sources: Vec<Box<dyn Source>> =
        vec![Box::new(fifo), Box::new(SharedProbe(probe.clone()))];
    if headless {
        let who = l.title.split_whitespace().next().unwrap_or("run");
        let r = super::headless::drive(&mut session, &mut sources, &mut driver, who);
        driver.shutdown(&session.model);
        reap_children(Duration::from_secs(2));
        drop(sources);
        let status = r?;
        return super::headless::finish(&session, &driver, &l, status);
    }
    let mut view = View::new(Mode::Live, l.title.clone());
    if let Some(n) = &l.note {
        view.flash(n.clone());
    }
    let mut every_turn = |v: &mut View| {
        if let Some(msg) = driver.turn() {
            v.flash(match driver.failed() {
                // The log goes with the work dir when we quit: show its last line now.
                Some(_) => format!("{msg}: {}", last_line(&driver.log())),
                None if msg.starts_with("started") => {
                    format!("{msg}; q quits (and deletes the container)")
                }
                None => msg,
            });
        }
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
    driver.shutdown(&session.model);
    reap_children(Duration::from_secs(2));
    drop(sources);
    r.map(|()| 0).map_err(|e| CmdError::io("terminal", e))
}

/// The last non-empty line of a log (the runtime's error, when a command failed).
pub(crate) fn last_line(log: &str) -> &str {
    log.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(the runtime wrote nothing)")
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
