//! `initscope trace`: the probe alone, printed as it happens.
//!
//! `initscope trace [--text|--json] [--record FILE] -- COMMAND…` starts COMMAND held,
//! tracks it, releases it and prints what the kernel saw until it exits, then returns its
//! exit status. `--pid PID` and `--comm PREFIX` attach to what is already running, until
//! Ctrl-C (or, for `--pid` alone, until those processes are gone). The default output is
//! an indented process tree; `--json` prints JSONL (the schema in
//! `initscope_probe::schema`) and sends COMMAND's stdout to stderr, so stdout stays JSONL. Ctrl-C and SIGTERM detach every program and exit cleanly.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use initscope_probe::held::{Exit, HeldChild};
use initscope_probe::schema::{KernelEvent, KernelKind, Namespaces};
use initscope_probe::{Probe, ProbeOptions};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// Arguments of `initscope trace`.
#[derive(Debug, Clone, Args, Default)]
pub struct TraceArgs {
    /// Print JSON lines (one kernel event per line) instead of the process tree.
    #[arg(long, conflicts_with = "text")]
    pub json: bool,
    /// Print the indented process tree (the default when not opening the viewer).
    #[arg(long)]
    pub text: bool,
    /// Also write every event as JSONL to FILE (for `initscope replay`).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Attach to a running process and the processes it creates (repeatable).
    #[arg(long, value_name = "PID")]
    pub pid: Vec<i32>,
    /// Follow every process whose name starts with PREFIX, e.g. `runc` (repeatable, up to 4).
    #[arg(long, value_name = "PREFIX")]
    pub comm: Vec<String>,
    /// Ring buffer size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    pub ring_bytes: usize,
    /// The command to start and trace.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// The signal that asked us to stop (0: none yet).
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop_signal(sig: i32) {
    STOP.store(sig, Ordering::SeqCst);
}

/// How long to keep reading after the command exited or a stop was asked.
const GRACE: Duration = Duration::from_millis(100);
/// How long a forwarded stop signal may take to end the command.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Run `initscope trace`; returns the process exit status.
pub fn run(args: TraceArgs) -> i32 {
    match trace(args) {
        Ok(status) => status,
        Err(msg) => {
            eprintln!("initscope trace: {msg}");
            1
        }
    }
}

fn trace(args: TraceArgs) -> Result<i32, String> {
    if args.command.is_empty() && args.pid.is_empty() && args.comm.is_empty() {
        return Err("nothing to trace: give `-- COMMAND…`, --pid PID or --comm PREFIX".into());
    }
    let mut record = match &args.record {
        Some(p) => Some(BufWriter::new(
            File::create(p).map_err(|e| format!("--record {}: {e}", p.display()))?,
        )),
        None => None,
    };
    install_handlers()?;
    let mut probe = Probe::load(ProbeOptions {
        pids: args.pid.clone(),
        comm_prefixes: args.comm.clone(),
        ring_bytes: args.ring_bytes,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    for w in probe.warnings() {
        eprintln!("initscope trace: warning: {w}");
    }
    let mut child = if args.command.is_empty() {
        None
    } else {
        // With --json our stdout is JSONL only: the command's stdout goes to our stderr.
        let spawn = || HeldChild::spawn(&args.command).map_err(|e| e.to_string());
        let mut c = if args.json {
            crate::sources::stdio::with_stdout_on_stderr(spawn)
                .map_err(|e| format!("redirecting the command's stdout: {e}"))??
        } else {
            spawn()?
        };
        probe.track_pid(c.pid()).map_err(|e| e.to_string())?;
        c.release().map_err(|e| e.to_string())?;
        Some(c)
    };

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut tree = TextTree::default();
    let mut alive = Alive::default();
    let mut batch = Vec::new();
    let mut total = 0u64;
    let mut exit: Option<Exit> = None;
    let mut stop_at: Option<Instant> = None;
    let mut signalled = false;
    let attach_only = child.is_none() && args.comm.is_empty();

    loop {
        batch.clear();
        probe
            .poll(Duration::from_millis(50), &mut batch)
            .map_err(|e| e.to_string())?;
        total += batch.len() as u64;
        for e in &batch {
            alive.see(e);
            if let Some(r) = record.as_mut() {
                writeln!(r, "{}", e.to_json()).map_err(|err| format!("--record: {err}"))?;
            }
            let line = if args.json {
                Some(e.to_json())
            } else {
                tree.line(e)
            };
            if let Some(l) = line {
                if writeln!(out, "{l}").is_err() {
                    return Ok(0); // stdout closed (`| head`): nothing more to say
                }
            }
        }
        if out.flush().is_err() {
            return Ok(0);
        }

        // When to stop: soon after the command exits (or, attached by pid, after every
        // traced process has), at once on a signal when attached, and on a signal with a
        // command running once it is down too (or STOP_WAIT has passed).
        let now = Instant::now();
        let mut stop_by = |at: Instant| stop_at = Some(stop_at.map_or(at, |s: Instant| s.min(at)));
        if let Some(c) = child.as_mut() {
            if exit.is_none() {
                exit = c.try_wait().map_err(|e| e.to_string())?;
                if exit.is_some() {
                    stop_by(now + GRACE);
                }
            }
        } else if attach_only && alive.all_gone() {
            stop_by(now + GRACE);
        }
        let sig = STOP.load(Ordering::SeqCst);
        if sig != 0 && !signalled {
            signalled = true;
            match (child.as_ref(), exit) {
                (Some(c), None) => {
                    // the command goes down with us (a terminal's Ctrl-C reached it already)
                    if let Ok(s) = Signal::try_from(sig) {
                        c.signal(s);
                    }
                    stop_by(now + STOP_WAIT);
                }
                _ => stop_by(now),
            }
        }
        if stop_at.is_some_and(|t| now >= t) {
            break;
        }
    }
    if let Some(r) = record.as_mut() {
        r.flush().map_err(|e| format!("--record: {e}"))?;
    }
    let _ = out.flush();
    drop(probe); // detach before reporting
    let lost = tree.lost;
    if lost > 0 || !args.json {
        eprintln!("initscope trace: {total} events, {lost} lost");
    }
    let sig = STOP.load(Ordering::SeqCst);
    Ok(match (exit, sig) {
        (Some(e), _) => e.status(),
        (None, 0) => 0,
        (None, s) if child.is_some() => 128 + s,
        (None, _) => 0,
    })
}

/// SIGINT and SIGTERM set [`STOP`]; without SA_RESTART so a wait returns at once.
fn install_handlers() -> Result<(), String> {
    let act = SigAction::new(
        SigHandler::Handler(on_stop_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &act) }.map_err(|e| format!("installing a {sig} handler: {e}"))?;
    }
    // A panic unwinds through Probe's Drop, which detaches; say so before the message.
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("initscope trace: internal error; the probe detaches as it unwinds");
        prev(info);
    }));
    Ok(())
}

/// Which traced processes are still alive, from the events alone.
#[derive(Default)]
struct Alive {
    seen: bool,
    live: HashSet<i32>,
}

impl Alive {
    fn see(&mut self, e: &KernelEvent) {
        match &e.kind {
            KernelKind::Namespaces { .. } => {
                self.seen = true;
                self.live.insert(e.tgid);
            }
            KernelKind::Fork { child_tgid, .. } => {
                self.live.insert(*child_tgid);
            }
            KernelKind::Exit { .. } => {
                self.live.remove(&e.tgid);
            }
            _ => {}
        }
    }

    /// Every traced process has exited: by its exit event, or — should the event have
    /// been lost — by its absence from /proc.
    fn all_gone(&self) -> bool {
        self.seen
            && self
                .live
                .iter()
                .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
    }
}

/// The readable form: one line per event, indented by who created whom.
#[derive(Default)]
pub struct TextTree {
    t0: Option<u64>,
    depth: HashMap<i32, usize>,
    ns: HashMap<i32, Namespaces>,
    /// Events lost so far (from `lost` events).
    pub lost: u64,
}

impl TextTree {
    /// The line for one event, or `None` for events not worth a line (a successful
    /// clone's return, already shown as its fork).
    pub fn line(&mut self, e: &KernelEvent) -> Option<String> {
        let t0 = *self.t0.get_or_insert(e.ts_ns);
        let t = e.ts_ns.saturating_sub(t0) as f64 / 1e9;
        let depth = *self.depth.entry(e.tgid).or_insert(0);
        let what = match &e.kind {
            KernelKind::Namespaces { ns } => {
                self.ns.insert(e.tgid, *ns);
                format!("tracked; namespaces {}", ns_list(ns))
            }
            KernelKind::Fork {
                child_tgid,
                child_ns_pid,
                parent_tgid,
                syscall,
                flags,
                child_ns,
                ..
            } => {
                self.depth.insert(*child_tgid, depth + 1);
                let mut s = format!("{syscall} → {child_tgid}");
                if child_ns_pid != child_tgid {
                    s += &format!(" (pid {child_ns_pid} in its namespace)");
                }
                if !flags.is_empty() {
                    s += &format!(" [{}]", flags.join("|"));
                }
                if *parent_tgid != e.tgid {
                    s += &format!(" parent={parent_tgid}");
                }
                if let Some(cns) = child_ns {
                    if let Some(mine) = self.ns.get(&e.tgid) {
                        let diff = ns_diff(mine, cns);
                        if !diff.is_empty() {
                            s += &format!("; new {diff}");
                        }
                    }
                    self.ns.insert(*child_tgid, *cns);
                }
                s
            }
            KernelKind::CloneExit {
                syscall,
                flags,
                ret,
                errno,
                ..
            } => {
                if *ret >= 0 {
                    return None;
                }
                format!(
                    "{syscall} [{}] failed: {}",
                    flags.join("|"),
                    errno.as_deref().unwrap_or("?")
                )
            }
            KernelKind::Unshare {
                flags,
                ret,
                errno,
                ns,
                ..
            } => {
                let mut s = format!("unshare [{}]", flags.join("|"));
                s += &self.outcome(e.tgid, *ret, errno, ns);
                s
            }
            KernelKind::Setns {
                fd,
                nstype,
                ret,
                errno,
                ns,
                ..
            } => {
                let mut s = format!("setns fd {fd} [{}]", nstype.join("|"));
                s += &self.outcome(e.tgid, *ret, errno, ns);
                s
            }
            KernelKind::Exec {
                filename,
                argv,
                errno,
                ns,
                ..
            } => match errno {
                Some(err) => format!("exec {filename} failed: {err}"),
                None => {
                    let mut s = format!("exec {filename}");
                    let rest = argv.iter().skip(1).map(|a| quote(a)).collect::<Vec<_>>();
                    if !rest.is_empty() {
                        s += &format!(" {}", rest.join(" "));
                    }
                    if let (Some(n), Some(old)) = (ns, self.ns.get(&e.tgid)) {
                        let diff = ns_diff(old, n);
                        if !diff.is_empty() {
                            s += &format!("; now in {diff}");
                        }
                    }
                    if let Some(n) = ns {
                        self.ns.insert(e.tgid, *n);
                    }
                    s
                }
            },
            KernelKind::Exit {
                code,
                signal,
                core_dumped,
            } => match (code, signal) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(s)) => {
                    format!(
                        "killed by {s}{}",
                        if *core_dumped { " (core dumped)" } else { "" }
                    )
                }
                _ => "exit".to_string(),
            },
            KernelKind::Rename { new_comm, .. } => format!("renamed → {new_comm}"),
            KernelKind::Lost { count } => {
                self.lost += count;
                return Some(format!(
                    "{t:>10.6}  !! {count} events lost (ring buffer full; try --ring-bytes)"
                ));
            }
            KernelKind::Other => return None,
        };
        let who = if e.ns_pid != e.tgid && e.ns_pid != 0 {
            format!("{}/{}", e.tgid, e.ns_pid)
        } else {
            e.tgid.to_string()
        };
        Some(format!(
            "{t:>10.6}  {:indent$}{who:<8} {:<16} {what}",
            "",
            e.comm,
            indent = depth * 2
        ))
    }

    /// "= 0; new user:[4026532…]" or "= -1 EPERM".
    fn outcome(
        &mut self,
        tgid: i32,
        ret: i64,
        errno: &Option<String>,
        ns: &Option<Namespaces>,
    ) -> String {
        if ret < 0 {
            return format!(" failed: {}", errno.as_deref().unwrap_or("?"));
        }
        let mut s = String::new();
        if let Some(n) = ns {
            if let Some(old) = self.ns.get(&tgid) {
                let diff = ns_diff(old, n);
                if !diff.is_empty() {
                    s = format!("; now in {diff}");
                }
            }
            self.ns.insert(tgid, *n);
        }
        s
    }
}

fn ns_fields(n: &Namespaces) -> [(&'static str, u64); 9] {
    [
        ("user", n.user),
        ("pid", n.pid),
        ("pid_for_children", n.pid_for_children),
        ("mnt", n.mnt),
        ("net", n.net),
        ("uts", n.uts),
        ("ipc", n.ipc),
        ("cgroup", n.cgroup),
        ("time", n.time),
    ]
}

fn ns_list(n: &Namespaces) -> String {
    ns_fields(n)
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(k, v)| format!("{k}:[{v}]"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The namespaces of `new` that differ from `old`, as `mnt:[…] net:[…]`.
fn ns_diff(old: &Namespaces, new: &Namespaces) -> String {
    ns_fields(old)
        .iter()
        .zip(ns_fields(new).iter())
        .filter(|((_, a), (_, b))| a != b && *b != 0)
        .map(|(_, (k, b))| format!("{k}:[{b}]"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+[]".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use initscope_probe::schema::{KernelSource, SCHEMA_VERSION};

    fn ev(ts: u64, tgid: i32, ns_pid: i32, comm: &str, kind: KernelKind) -> KernelEvent {
        KernelEvent {
            v: SCHEMA_VERSION,
            ts_ns: ts,
            source: KernelSource::Kernel,
            pid: tgid,
            tgid,
            ppid: 1,
            comm: comm.into(),
            uid: 0,
            cgroup_id: 0,
            ns_pid,
            ns_level: u32::from(ns_pid != tgid),
            kind,
        }
    }

    fn ns(pid: u64, mnt: u64) -> Namespaces {
        Namespaces {
            pid,
            pid_for_children: pid,
            mnt,
            user: 1,
            ..Default::default()
        }
    }

    #[test]
    fn indents_by_creator_and_names_what_changed() {
        let mut t = TextTree::default();
        let root = t
            .line(&ev(
                1_000,
                10,
                10,
                "runc",
                KernelKind::Namespaces { ns: ns(5, 6) },
            ))
            .unwrap();
        assert!(
            root.ends_with("tracked; namespaces user:[1] pid:[5] pid_for_children:[5] mnt:[6]"),
            "{root}"
        );
        let fork = t
            .line(&ev(
                2_000,
                10,
                10,
                "runc:[1:CHILD]",
                KernelKind::Fork {
                    child_pid: 11,
                    child_tgid: 11,
                    parent_tgid: 9,
                    syscall: "clone".into(),
                    flags: vec!["CLONE_PARENT".into()],
                    flags_raw: 0x8000,
                    child_ns: Some(ns(7, 8)),
                    child_ns_pid: 1,
                },
            ))
            .unwrap();
        assert_eq!(
            fork,
            "  0.000001  10       runc:[1:CHILD]   clone → 11 (pid 1 in its namespace) [CLONE_PARENT] parent=9; new pid:[7] pid_for_children:[7] mnt:[8]"
        );
        let exit = t
            .line(&ev(
                3_000,
                11,
                1,
                "sh",
                KernelKind::Exit {
                    code: None,
                    signal: Some("SIGKILL".into()),
                    core_dumped: false,
                },
            ))
            .unwrap();
        assert_eq!(
            exit,
            "  0.000002    11/1     sh               killed by SIGKILL"
        );
    }

    #[test]
    fn hides_successful_clone_returns_and_counts_losses() {
        let mut t = TextTree::default();
        let ok = KernelKind::CloneExit {
            syscall: "clone3".into(),
            flags: vec![],
            flags_raw: 0,
            ret: 12,
            errno: None,
        };
        assert_eq!(t.line(&ev(1, 10, 10, "x", ok)), None);
        let failed = KernelKind::Unshare {
            flags: vec!["CLONE_NEWUSER".into()],
            flags_raw: 0x1000_0000,
            ret: -1,
            errno: Some("EPERM".into()),
            ns: None,
        };
        assert!(t
            .line(&ev(2, 10, 10, "x", failed))
            .unwrap()
            .ends_with("unshare [CLONE_NEWUSER] failed: EPERM"));
        let lost = t
            .line(&ev(3, 0, 0, "", KernelKind::Lost { count: 5 }))
            .unwrap();
        assert!(lost.contains("!! 5 events lost"), "{lost}");
        assert_eq!(t.lost, 5);
    }

    #[test]
    fn quotes_only_what_a_shell_would_need() {
        assert_eq!(quote("run"), "run");
        assert_eq!(quote("--root=/tmp/x"), "--root=/tmp/x");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
