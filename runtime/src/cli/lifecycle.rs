//! Commands on an existing container: `start`, `state`, `kill`, `delete`, `list`.
//! Each reads `state.json`, derives the status, and checks the lifecycle allows it.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::fcntl::{open, OFlag};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::signal::parse_signal;
use super::{root_of, Cli, ListFormat};
use crate::bootstrap::create::open_sink;
use crate::bootstrap::failure::StageFailure;
use crate::bootstrap::lifecycle_hooks;
use crate::error::RuntimeError;
use crate::events::emitter::Emitter;
use crate::events::flags::signal_name;
use crate::events::schema::{EventKind, Stage};
use crate::hooks::HookKind;
use crate::state::{list_ids, log_tail, status, validate_id, ContainerState, StateDir, Status};
use crate::sys::{kill_raw, pidfd_open};

/// The state dir and state of `id`.
pub fn load(cli: &Cli, id: &str) -> Result<(StateDir, ContainerState), RuntimeError> {
    validate_id(id)?;
    let dir = StateDir::new(&root_of(cli), id);
    let st = dir.load()?;
    Ok((dir, st))
}

/// An emitter for a command acting on a container: its events.jsonl (if `log`) and the
/// live sink.
pub fn command_emitter(cli: &Cli, dir: &StateDir, stage: Stage, log: bool) -> Emitter {
    let mut em = Emitter::new(&dir.id, stage);
    em.set_sink(open_sink(cli.events.as_deref()));
    if log {
        let _ = em.open_log(&dir.events_file());
    }
    announce(&mut em);
    em
}

/// The same process going on as another command (`run`: create, then start, then the
/// wait): it keeps its emitter's log and sink rather than opening them again.
pub fn continue_as(em: &mut Emitter, stage: Stage) {
    em.flush();
    em.become_stage(stage, em.pid());
    announce(em);
}

fn announce(em: &mut Emitter) {
    em.emit(EventKind::StageStart {
        comm: "initscope-runtime".into(),
        ppid: nix::unistd::getppid().as_raw(),
        ns_pid: None,
    });
}

fn wrong(id: &str, status: Status, what: &str) -> RuntimeError {
    RuntimeError::WrongStatus {
        id: id.to_string(),
        status,
        what: what.to_string(),
    }
}

pub fn start(cli: &Cli, id: &str) -> Result<(), RuntimeError> {
    let (dir, st) = load(cli, id)?;
    let status = st.status(&dir);
    if status != Status::Created {
        return Err(wrong(id, status, "only a created container can be started"));
    }
    if st.config.process().is_none() {
        return Err(RuntimeError::Usage(format!(
            "container {id:?} has no process to start: its config.json has no \"process\" (the OCI spec requires one for start); delete it with --force"
        )));
    }
    let mut em = command_emitter(cli, &dir, Stage::Start, true);
    match release_init(&dir, &st, &mut em) {
        Ok(()) => {
            em.exit(0);
            Ok(())
        }
        Err(e) => {
            em.error("start", None, &e.to_string());
            em.exit(1);
            Err(e)
        }
    }
}

/// Open exec.fifo's read side: init's blocked open returns, it writes one byte, runs the
/// startContainer hooks and execs. Init keeps its write end open (close-on-exec) until
/// the exec, so EOF means the program runs and any text is init's error. Init's pidfd is
/// watched too, so a dead init is an error, not a hang. Then the poststart hooks run
/// (failures are warnings).
pub fn release_init(
    dir: &StateDir,
    st: &ContainerState,
    em: &mut Emitter,
) -> Result<(), RuntimeError> {
    // init's pidfd first: opening the fifo releases init, and a short-lived process (echo)
    // can exit and be reaped by its parent (conmon, the shim) before we look at it.
    let init = Pid::from_raw(st.init_pid);
    let pidfd = pidfd_open(init).map_err(|e| match e.raw_os_error() {
        Some(libc::ESRCH) => RuntimeError::Usage(format!(
            "container {:?}: init (pid {init}) exited before it could be started; see {}",
            st.id,
            dir.events_file().display()
        )),
        _ => RuntimeError::io(format!("container {:?}: init (pid {init})", st.id), e),
    })?;
    let fifo_path = dir.fifo();
    let fifo = open(
        &fifo_path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RuntimeError::sys(format!("open {}", fifo_path.display()), e))?;
    let exited = || {
        RuntimeError::Usage(format!(
            "container {:?}: init (pid {init}) exited before it could be started; see {}",
            st.id,
            dir.events_file().display()
        ))
    };
    // Phase 1: init's "0" (it was released). Phase 2: EOF (exec'd) or its error text.
    let mut released = false;
    let mut error = Vec::new();
    loop {
        em.flush();
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(RuntimeError::sys("poll exec.fifo", e)),
            Ok(_) => {}
        }
        let fifo_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let init_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        let mut buf = [0u8; 4096];
        let n = if fifo_ready {
            match nix::unistd::read(&fifo, &mut buf) {
                Ok(n) => Some(n),
                Err(nix::Error::EAGAIN) => None,
                Err(e) => return Err(RuntimeError::sys("read exec.fifo", e)),
            }
        } else {
            None
        };
        match n {
            Some(0) => break, // every writer gone: exec'd (or died, told apart below)
            Some(n) => {
                let data = &buf[..n];
                let data = if released {
                    data
                } else {
                    released = true;
                    // The state moves to running the moment init is released.
                    let _ = std::fs::remove_file(&fifo_path);
                    em.emit(EventKind::State {
                        status: "running".into(),
                    });
                    &data[1..]
                };
                error.extend_from_slice(data);
            }
            None if init_gone && !released => return Err(exited()),
            None if init_gone => break,
            None => {}
        }
    }
    if !released {
        return Err(exited());
    }
    if error.is_empty() && died_before_exec(dir, init, &pidfd) {
        let last = crate::bootstrap::last_step(dir, init);
        return Err(RuntimeError::Stage(StageFailure::new(
            Stage::Init,
            &last,
            format!("died before exec (pid {init}, last step: {last})"),
        )));
    }
    if !error.is_empty() {
        return Err(RuntimeError::Usage(
            String::from_utf8_lossy(&error).trim_end().to_string(),
        ));
    }
    let hooks = st.config.hooks().clone();
    let warnings = lifecycle_hooks::run(
        HookKind::Poststart,
        hooks.as_ref(),
        &st.spec_state(),
        Some(&st.bundle),
        em,
    )?;
    lifecycle_hooks::warn(&warnings);
    Ok(())
}

/// EOF on exec.fifo means every writer is gone: init exec'd (its `exec` event, written
/// just before execve, is in the log) or died on the way (a signal, the OOM killer).
fn died_before_exec(dir: &StateDir, init: Pid, pidfd: &std::os::fd::OwnedFd) -> bool {
    // From the end of the log: init's last batch is among the last lines.
    let exec_logged = log_tail::any_line(&dir.events_file(), |l| {
        l.contains("\"exec\"") // parse only the candidates
            && serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
                v["kind"] == "exec" && v["pid"].as_i64() == Some(init.as_raw() as i64)
            })
    });
    if exec_logged {
        return false;
    }
    // Emitting may drop an event (it never fails a bootstrap): without one, only an init
    // that is gone died before its exec.
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut fds, PollTimeout::from(200u16)), Ok(n) if n > 0)
}

pub fn state(cli: &Cli, id: &str) -> Result<(), RuntimeError> {
    let (dir, st) = load(cli, id)?;
    let s = st.oci_state(st.status(&dir));
    println!("{}", serde_json::to_string_pretty(&s).expect("json"));
    Ok(())
}

pub fn kill(cli: &Cli, id: &str, signal: Option<&str>, all: bool) -> Result<(), RuntimeError> {
    let sig = parse_signal(signal.unwrap_or("TERM")).map_err(RuntimeError::Usage)?;
    let (dir, st) = load(cli, id)?;
    let status = st.status(&dir);
    match status {
        // runc's wording: containerd's shim maps "container not running" to "process
        // already finished" (a kill racing the exit is no error to docker or ctr).
        Status::Stopped if !all => {
            return Err(wrong(
                id,
                status,
                "container not running, nothing to signal",
            ))
        }
        // kill --all of a stopped container signals what its init left in the cgroup
        // (no pid namespace), as runc's.
        Status::Stopped => {}
        Status::Creating => {
            return Err(wrong(
                id,
                status,
                "only a created, running or paused container can be signalled",
            ))
        }
        _ => {}
    }
    let mut em = command_emitter(cli, &dir, Stage::Kill, true);
    let result = send_signal(&st, sig, all, status != Status::Stopped);
    let code = match &result {
        Ok(pids) => {
            for pid in pids {
                em.emit(EventKind::Signal {
                    signal: signal_name(sig),
                    target_pid: pid.as_raw(),
                });
            }
            0
        }
        Err(_) => 1,
    };
    em.exit(code);
    result.map(|_| ())
}

/// Signal init (if `init_alive`) and, with `all`, every process of the cgroup; the pids
/// signalled.
fn send_signal(
    st: &ContainerState,
    sig: i32,
    all: bool,
    init_alive: bool,
) -> Result<Vec<Pid>, RuntimeError> {
    let init = Pid::from_raw(st.init_pid);
    let mut done = Vec::new();
    if let (true, Some(cg)) = (all, &st.cgroup) {
        match nix::sys::signal::Signal::try_from(sig) {
            // Freeze, signal every pid, thaw: nothing forks away in between (runc's way).
            Ok(signal) => done = cg.kill_all(signal)?,
            Err(_) => {
                for pid in cg.pids()? {
                    match kill_raw(pid, sig) {
                        Ok(()) => done.push(pid),
                        Err(nix::Error::ESRCH) => {} // exited meanwhile
                        Err(e) => {
                            return Err(RuntimeError::sys(
                                format!("kill {} {pid}", signal_name(sig)),
                                e,
                            ))
                        }
                    }
                }
            }
        }
    }
    // Init itself, unless the cgroup walk got it (a rootless container has no cgroup of
    // its own to walk). Never a stopped init's pid: it may be someone else's by now.
    if init_alive && !done.contains(&init) {
        match kill_raw(init, sig) {
            Ok(()) => done.push(init),
            Err(nix::Error::ESRCH) if all => {}
            Err(e) => {
                return Err(RuntimeError::sys(
                    format!("kill {} {init}", signal_name(sig)),
                    e,
                ))
            }
        }
    }
    Ok(done)
}

pub fn delete(cli: &Cli, id: &str, force: bool) -> Result<(), RuntimeError> {
    validate_id(id)?;
    let dir = StateDir::new(&root_of(cli), id);
    let st = match dir.load() {
        Ok(st) => st,
        // A directory without a readable state.json (a create killed very early, a torn
        // write): --force clears it.
        Err(RuntimeError::NotFound { .. } | RuntimeError::Io { .. }) if force && dir.exists() => {
            return dir.remove()
        }
        // Already gone: --force succeeds, as runc's. Clients call it after every exit and
        // after a failed create (podman), or right after a plain `delete` (containerd).
        Err(RuntimeError::NotFound { .. }) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let status = st.status(&dir);
    if status != Status::Stopped && !force {
        return Err(wrong(
            id,
            status,
            "delete it with --force, or stop it first (kill)",
        ));
    }
    let mut em = command_emitter(cli, &dir, Stage::Delete, false);
    // Also for a stopped container: without a pid namespace, processes its init left
    // behind live on in the cgroup (runc's destroy kills them too).
    kill_everything(&st, &mut em)?;
    if let Some(cg) = &st.cgroup {
        em.flush(); // removal may wait for exiting tasks
        destroy_cgroup(cg)?;
    }
    dir.remove()?;
    em.emit(EventKind::State {
        status: "deleted".into(),
    });
    run_poststop(&st, &mut em);
    em.exit(0);
    Ok(())
}

/// poststop, once the container is gone (runc runs them last in its destroy): failures
/// are warnings, the delete stands.
pub fn run_poststop(st: &ContainerState, em: &mut Emitter) {
    let hooks = st.config.hooks().clone();
    match lifecycle_hooks::run(
        HookKind::Poststop,
        hooks.as_ref(),
        &st.spec_state(),
        Some(&st.bundle),
        em,
    ) {
        Ok(w) => lifecycle_hooks::warn(&w),
        Err(e) => lifecycle_hooks::warn(&[e]),
    }
}

/// SIGKILL init and everything in the cgroup (thawing it, or frozen tasks never die),
/// and wait until init is gone.
fn kill_everything(st: &ContainerState, em: &mut Emitter) -> Result<(), RuntimeError> {
    let init = Pid::from_raw(st.init_pid);
    let alive = || status::is_alive(st.init_pid, st.init_start_time);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut targets = Vec::new();
        if alive() {
            targets.push(init);
        }
        if let Some(cg) = &st.cgroup {
            targets.extend(cg.pids().unwrap_or_default());
            let _ = cg.set_frozen(false);
        }
        targets.sort();
        targets.dedup();
        if targets.is_empty() {
            return Ok(());
        }
        for pid in targets {
            if kill_raw(pid, libc::SIGKILL).is_ok() {
                em.emit(EventKind::Signal {
                    signal: "SIGKILL".into(),
                    target_pid: pid.as_raw(),
                });
            }
        }
        if Instant::now() > deadline {
            return Err(RuntimeError::Usage(format!(
                "container {:?}: processes survive SIGKILL after 10 s (stuck in D state?)",
                st.id
            )));
        }
        em.flush();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Remove the cgroup, retrying briefly while killed tasks leave it.
pub fn destroy_cgroup(cg: &crate::cgroups::Cgroup) -> Result<(), RuntimeError> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match cg.destroy() {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

pub fn list(cli: &Cli, format: ListFormat, quiet: bool) -> Result<(), RuntimeError> {
    let root = root_of(cli);
    let mut rows = Vec::new();
    for id in list_ids(&root)? {
        let dir = StateDir::new(&root, &id);
        // A container deleted while we list is simply not listed.
        if let Ok(st) = dir.load() {
            let status = st.status(&dir);
            let mut row = st.oci_state(status);
            if st.owner.is_empty() {
                row["owner"] = owner_of(&dir.dir).into();
            }
            rows.push(row);
        }
    }
    if quiet {
        for r in &rows {
            println!("{}", r["id"].as_str().unwrap_or(""));
        }
        return Ok(());
    }
    match format {
        ListFormat::Json => println!("{}", serde_json::Value::Array(rows)),
        ListFormat::Table => print!("{}", table(&rows)),
    }
    Ok(())
}

/// runc's OWNER in `list`: the user owning the state directory, `#UID` when the uid has
/// no name (`state` leaves it empty, as runc's does).
fn owner_of(dir: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(dir) else {
        return String::new();
    };
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(m.uid())) {
        Ok(Some(u)) => u.name,
        _ => format!("#{}", m.uid()),
    }
}

/// runc's `list` table: ID PID STATUS BUNDLE CREATED OWNER.
fn table(rows: &[serde_json::Value]) -> String {
    let head = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
    let keys = ["id", "pid", "status", "bundle", "created", "owner"];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            keys.iter()
                .map(|k| match &r[*k] {
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect()
        })
        .collect();
    let mut width: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cols: Vec<&str>| {
        let parts: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = width[i]))
            .collect();
        out.push_str(parts.join("   ").trim_end());
        out.push('\n');
    };
    line(head.to_vec());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod owner_tests {
    use super::owner_of;

    #[test]
    fn list_names_the_state_directorys_owner_as_runc_does() {
        let dir = tempfile::tempdir().unwrap();
        let uid = nix::unistd::geteuid();
        let want = match nix::unistd::User::from_uid(uid).unwrap() {
            Some(u) => u.name,
            None => format!("#{uid}"),
        };
        assert_eq!(owner_of(dir.path()), want);
        assert!(!want.is_empty());
        assert_eq!(owner_of(&dir.path().join("gone")), "");
    }
}
