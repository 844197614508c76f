//! The verdict: from what the events say ([`StageFacts`]) and what /proc says now
//! ([`ProcInfo`]), in plain words — what the process waits on, who holds the other end,
//! for how long, and what to do next. Then, for the whole bootstrap, which process the
//! others end up waiting for.

use std::path::Path;

use initscope_runtime::events::schema::Stage;
use serde::Serialize;

use super::facts::{Expect, StageFacts};
use super::words::{
    cgroup_dir, command_line, describe_wait, doing, holder_text, is_exec_fifo, pick_fd,
};
use crate::labels::fmt_dur;
use crate::model::roles::{stage_title, RuntimeKind};
use crate::procinfo::{FdInfo, FdKind, ProcInfo};

/// What the verdict is about, roughly from worst to most harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Killed,
    Failed,
    Frozen,
    Held,
    Stopped,
    Traced,
    Hook,
    Uninterruptible,
    Waits,
    Peer,
    Zombie,
    Normal,
    Running,
    Gone,
    Exited,
}

/// The verdict about one process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    /// No progress for longer than the threshold (or dead mid-way).
    pub stuck: bool,
    /// Expected in this state (init waiting for `start`): nothing is wrong.
    pub normal: bool,
    /// How long it has been like this, and since what.
    pub for_ns: Option<u64>,
    pub since: &'static str,
    /// What it waits on, short: `exec.fifo`, `SYNC_USERMAP_ACK from [0:PARENT]`, `SIGCONT`.
    pub waits_on: String,
    /// Who holds the other end, in words.
    pub other_end: Option<String>,
    /// The bootstrap process it waits for, if any.
    pub blocked_by: Option<i32>,
    pub verdict: String,
    pub next: Option<String>,
    /// The fd it waits on that the verdict is about (of several a poll waits on, the one
    /// the expected peer holds).
    #[serde(skip)]
    pub fd: Option<FdInfo>,
}

/// What the verdict needs to know besides the process itself.
pub struct Ctx<'a> {
    pub container: &'a str,
    pub runtime: RuntimeKind,
    /// `--root` to repeat in the commands we suggest (`None`: the runtime's default).
    pub root: Option<&'a Path>,
    /// The bootstrap's processes: pid → stage label.
    pub members: &'a [(i32, String)],
    /// CLOCK_MONOTONIC now.
    pub now_ns: u64,
    pub stuck_after_ns: u64,
}

impl Ctx<'_> {
    pub(super) fn label_of(&self, pid: i32) -> Option<&str> {
        self.members
            .iter()
            .find(|(p, _)| *p == pid)
            .map(|(_, l)| l.as_str())
    }

    fn pid_of(&self, label: &str) -> Option<i32> {
        self.members
            .iter()
            .rev()
            .find(|(_, l)| l == label)
            .map(|(p, _)| *p)
    }

    /// `initscope-runtime --root R start ID`.
    pub fn command(&self, sub: &str) -> String {
        let prog = match self.runtime {
            RuntimeKind::Initscope | RuntimeKind::Other => "initscope-runtime",
            r => r.as_str(),
        };
        let root = self
            .root
            .map(|r| format!(" --root {}", r.display()))
            .unwrap_or_default();
        let id = if self.container.is_empty() {
            "ID"
        } else {
            self.container
        };
        format!("{prog}{root} {sub} {id}")
    }
}

/// The verdict about one process. `info` is `None` when it no longer exists.
pub fn judge(f: &StageFacts, info: Option<&ProcInfo>, ctx: &Ctx) -> Finding {
    // How long: since its last event, or since it started when it has none.
    let (for_ns, since) = match (f.last_ns, info.and_then(|i| i.age_s)) {
        (Some(t), _) => (Some(ctx.now_ns.saturating_sub(t)), "its last event"),
        (None, Some(age)) => (Some((age.max(0.0) * 1e9) as u64), "it started"),
        (None, None) => (None, ""),
    };
    let dur = for_ns.map(fmt_dur).unwrap_or_else(|| "?".into());
    let mut out = Finding {
        kind: Kind::Running,
        stuck: for_ns.is_some_and(|n| n > ctx.stuck_after_ns),
        normal: false,
        for_ns,
        since,
        waits_on: String::new(),
        other_end: None,
        blocked_by: None,
        verdict: String::new(),
        next: None,
        fd: None,
    };
    let who = format!("{} (pid {})", f.label, f.pid);
    let last = f
        .last_event
        .as_deref()
        .map(|e| format!(" after its last step `{e}`"))
        .unwrap_or_default();

    let Some(p) = info.filter(|p| p.state != 'X') else {
        return gone(f, out, &who, &last);
    };
    if p.state == 'Z' {
        return zombie(f, p, out, &who);
    }
    if let Some(prog) = &f.execd {
        out.kind = Kind::Running;
        out.stuck = false;
        out.normal = true;
        out.waits_on = "nothing: it runs the container's program".into();
        out.verdict = format!(
            "{who} exec'd {prog}: the bootstrap is over, the container's program runs (state {} {})",
            p.state,
            p.state_name()
        );
        return out;
    }
    if p.frozen() {
        out.kind = Kind::Frozen;
        let file = p.freezer_file.clone().unwrap_or_default();
        let cgroup = cgroup_dir(&file);
        out.waits_on = format!(
            "cgroup thaw ({cgroup} is {})",
            p.freezer.as_deref().unwrap_or("FROZEN")
        );
        // Since Linux 6.1 a task asleep in a freezable wait is frozen where it sleeps;
        // one that was running or in another wait goes to __refrigerator.
        let place = if p.stack.iter().any(|s| s == "__refrigerator") {
            "__refrigerator".to_string()
        } else {
            format!(
                "{} (frozen where it slept)",
                p.wchan.as_deref().unwrap_or("?")
            )
        };
        out.verdict = format!(
            "{who} is frozen: its cgroup {cgroup} is {} in the freezer ({file}), so it sits in {place} in state {} and cannot run; for {dur}{last}",
            p.freezer.as_deref().unwrap_or("FROZEN"),
            p.state,
        );
        let thaw = if file.ends_with("freezer.state") {
            format!("echo THAWED > {file}")
        } else {
            format!(
                "echo 0 > {}",
                file.replace("cgroup.events", "cgroup.freeze")
            )
        };
        out.next = Some(format!(
            "someone froze it (`{}`, or a write to the freezer); thaw it: `{thaw}` (or `{}` once the container is created)",
            ctx.command("pause"),
            ctx.command("resume")
        ));
        return out;
    }
    if p.state == 't' || p.tracer.is_some() && p.state == 'T' {
        out.kind = Kind::Traced;
        let t = p.tracer.unwrap_or(0);
        out.waits_on = format!("its tracer, pid {t}");
        out.verdict = format!(
            "{who} is stopped under ptrace by pid {t} ({}){last}",
            crate::procinfo::fds::comm(t)
        );
        out.next = Some(format!("let the tracer (pid {t}) continue or detach it"));
        return out;
    }
    let held = matches!(&f.expect, Expect::Paused { .. })
        && (p.state == 'T' || p.waits_for_signals.iter().any(|s| s == "SIGCONT"));
    if held {
        let Expect::Paused { step } = &f.expect else {
            unreachable!()
        };
        out.kind = Kind::Held;
        out.waits_on = format!("SIGCONT (INITSCOPE_PAUSE_AT {step})");
        let how = if p.state == 'T' {
            "stopped itself (T)".to_string()
        } else {
            // A pid namespace's init cannot stop itself: it waits for SIGCONT instead.
            "waits for SIGCONT in rt_sigtimedwait (as PID 1 of its namespace it cannot stop itself)"
                .to_string()
        };
        out.verdict = format!(
            "{who} is held by INITSCOPE_PAUSE_AT at {step}: it {how} {dur} ago; send SIGCONT (`kill -CONT {}`) or press c in the viewer",
            f.pid
        );
        out.next = Some(format!("kill -CONT {}", f.pid));
        return out;
    }
    if p.state == 'T' {
        out.kind = Kind::Stopped;
        out.waits_on = "SIGCONT".into();
        out.verdict = format!(
            "{who} is stopped (T) by a signal (SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU) — not by INITSCOPE_PAUSE_AT{last}, {dur} ago; nothing in it runs until it gets SIGCONT"
        );
        out.next = Some(format!("kill -CONT {}", f.pid));
        return out;
    }
    let fifo = p.waits_on.as_ref().filter(|w| is_exec_fifo(w));
    if matches!(f.expect, Expect::Start) || fifo.is_some() {
        out.kind = Kind::Normal;
        out.normal = true;
        out.waits_on = "exec.fifo (waiting for start)".into();
        let readers: Vec<String> = fifo
            .map(|w| w.others.iter().map(|h| holder_text(h, ctx)).collect())
            .unwrap_or_default();
        // runc and initscope-runtime block opening the FIFO for writing; crun holds it
        // open for reading and waits in select for `start` to write.
        let held_fd = fifo.map(|w| w.fd).filter(|&fd| fd >= 0);
        let start_opens = if held_fd.is_some() {
            "for writing"
        } else {
            "for reading"
        };
        out.other_end = Some(if readers.is_empty() {
            format!("nobody yet: `start` opens exec.fifo {start_opens}")
        } else {
            readers.join(", ")
        });
        let path = fifo
            .map(|w| w.target.clone())
            .unwrap_or_else(|| "exec.fifo".into());
        let wchan = p.wchan.as_deref().unwrap_or("?");
        let how = match held_fd {
            Some(fd) => format!(
                "has waited on {path} (fd {fd}, open for reading) in {} ({wchan}) for {dur}, until `start` opens it for writing and writes",
                p.syscall.as_ref().map_or("?", |s| s.name.as_str())
            ),
            None => format!(
                "has blocked opening {path} for writing ({wchan}) for {dur}, until `start` opens it for reading"
            ),
        };
        out.verdict = format!(
            "init is waiting for `start`: this is the normal created state — {who} {how}; run `{}`",
            ctx.command("start")
        );
        out.next = Some(ctx.command("start"));
        return out;
    }
    if let Some(h) = &f.hook {
        if f.role == Some(Stage::Hook) || h.pid == f.pid {
            // The hook process itself.
            out.kind = Kind::Hook;
            let ran = fmt_dur(ctx.now_ns.saturating_sub(h.start_ns));
            out.for_ns = Some(ctx.now_ns.saturating_sub(h.start_ns));
            out.since = "it started";
            out.stuck = out.for_ns.is_some_and(|n| n > ctx.stuck_after_ns);
            out.fd = p.waits_on.clone();
            out.waits_on = format!(
                "{} (the {} hook has not returned)",
                describe_wait(p, out.fd.as_ref(), ctx).0,
                h.hook
            );
            out.verdict = format!(
                "the {} hook `{}` (pid {}) has run for {ran} and not returned; it {} ",
                h.hook,
                command_line(&h.path, &h.args),
                h.pid,
                doing(p, ctx)
            )
            .trim_end()
            .to_string();
            out.next = Some(format!(
                "kill {} (create then fails and cleans up), or give the hook a `timeout` in config.json",
                h.pid
            ));
            return out;
        }
        if matches!(f.expect, Expect::Hook) {
            out.kind = Kind::Hook;
            let ran = fmt_dur(ctx.now_ns.saturating_sub(h.start_ns));
            out.waits_on = format!("the {} hook (pid {})", h.hook, h.pid);
            out.blocked_by = Some(h.pid);
            out.fd = p
                .polled
                .iter()
                .find(|w| matches!(w.kind, FdKind::Pidfd(q) if q == h.pid))
                .cloned()
                .or_else(|| p.waits_on.clone());
            out.other_end = Some(format!(
                "hook {} pid {} ({})",
                h.hook,
                h.pid,
                crate::procinfo::fds::comm(h.pid)
            ));
            out.verdict = format!(
                "{who} runs the {} hook `{}` (pid {}) and waits for it to exit: it has run for {ran} without returning",
                h.hook,
                command_line(&h.path, &h.args),
                h.pid
            );
            out.next = Some(format!(
                "see what the hook waits on (`initscope diagnose {}`); `kill {}` lets create fail and clean up; a `timeout` on the hook in config.json bounds it",
                h.pid, h.pid
            ));
            return out;
        }
    }
    if p.state == 'D' {
        out.kind = Kind::Uninterruptible;
        out.waits_on = format!("the kernel ({})", p.wchan.as_deref().unwrap_or("?"));
        out.verdict = format!(
            "{who} is in uninterruptible sleep (D) in {} for {dur}{last}: the kernel waits for I/O, a lock or a mount on its behalf; kernel stack: {}",
            p.wchan.as_deref().unwrap_or("?"),
            p.stack.iter().take(5).cloned().collect::<Vec<_>>().join(" ← ")
        );
        out.next = Some("a D state that lasts means a hung filesystem, device or lock: look at the kernel stack and dmesg".into());
        return out;
    }
    // Waits for a message from a peer stage, or blocks on an fd someone else holds.
    let expected = match &f.expect {
        Expect::Message { msg, peer } => Some((msg.clone(), *peer)),
        _ => None,
    };
    let want = expected
        .as_ref()
        .and_then(|(_, peer)| ctx.pid_of(stage_title(*peer)));
    out.fd = pick_fd(p, want);
    let (what, holders) = describe_wait(p, out.fd.as_ref(), ctx);
    let member_holders: Vec<i32> = out
        .fd
        .iter()
        .flat_map(|w| w.others.iter())
        .filter(|h| h.pid != f.pid && ctx.label_of(h.pid).is_some())
        .map(|h| h.pid)
        .collect();
    let peer_pid = expected
        .as_ref()
        .and_then(|(_, peer)| ctx.pid_of(stage_title(*peer)))
        .filter(|pid| member_holders.is_empty() || member_holders.contains(pid))
        .or_else(|| member_holders.first().copied());
    if let Some((msg, peer)) = &expected {
        if p.syscall.is_some() {
            out.kind = Kind::Peer;
            let peer_label = stage_title(*peer);
            out.waits_on = format!("{msg} from {peer_label}");
            out.blocked_by = peer_pid;
            out.other_end = holders.or_else(|| Some(format!("{peer_label} (not found)")));
            let peer_state = peer_pid
                .map(|q| format!(" (pid {q})"))
                .unwrap_or_else(|| " (not among its processes any more)".into());
            out.verdict = format!(
                "{who} waits for {msg} from {peer_label}{peer_state} in {} on {what} for {dur}; the other end is held by {}",
                p.syscall.as_ref().map_or("?", |s| s.decoded.as_str()),
                out.other_end.as_deref().unwrap_or("nobody")
            );
            out.next = Some(match peer_pid {
                Some(q) => format!("look at {peer_label} (pid {q}): it never sent {msg}"),
                None => format!(
                    "{peer_label} is gone: {} will read end-of-file and fail",
                    f.label
                ),
            });
            return out;
        }
    }
    if let Some(sc) = &p.syscall {
        if let Some(c) = p.waits_for_child {
            out.kind = Kind::Waits;
            let label = ctx
                .label_of(c)
                .map(str::to_string)
                .unwrap_or_else(|| crate::procinfo::fds::comm(c));
            out.waits_on = format!("child {c} ({label}) to exit");
            out.blocked_by = ctx.label_of(c).map(|_| c);
            out.verdict = format!(
                "{who} waits in {} for its child {c} ({label}) to exit, for {dur}",
                sc.decoded
            );
            return out;
        }
        out.kind = if member_holders.is_empty() {
            Kind::Waits
        } else {
            Kind::Peer
        };
        out.blocked_by = member_holders.first().copied();
        out.waits_on = what.clone();
        out.other_end = holders.clone();
        out.verdict = format!(
            "{who} sleeps in {} ({}) for {dur}{}{}",
            sc.decoded,
            p.wchan.as_deref().unwrap_or("?"),
            if out.fd.is_some() {
                format!(" on {what}")
            } else {
                String::new()
            },
            holders
                .map(|h| format!("; the other end is held by {h}"))
                .unwrap_or_default()
        );
        if let Some(h) = out.blocked_by {
            out.next = Some(format!(
                "look at {} (pid {h})",
                ctx.label_of(h).unwrap_or("?")
            ));
        }
        return out;
    }
    out.kind = Kind::Running;
    out.waits_on = "nothing (running)".into();
    out.verdict = format!(
        "{who} is running ({} {}) in user space{last}, {dur} ago",
        p.state,
        p.state_name()
    );
    if out.stuck {
        out.next = Some("a stage that runs for long without reporting spins or computes: profile it (perf top -p PID)".into());
    }
    out
}

/// A process that is gone: killed, failed, or finished.
fn gone(f: &StageFacts, mut out: Finding, who: &str, last: &str) -> Finding {
    out.stuck = false;
    out.for_ns = None;
    out.since = "";
    let exit = f.exit.as_ref();
    if let Some(sig) = exit.and_then(|x| x.signal.as_deref()) {
        out.kind = Kind::Killed;
        out.stuck = f.execd.is_none();
        out.waits_on = format!("nothing: killed by {sig}");
        out.verdict = format!("{who} was killed by {sig}{last}");
        out.next = Some(format!(
            "find who sent {sig}: the OOM killer (`dmesg | grep -i oom`), a client's timeout, or a person"
        ));
        return out;
    }
    let code = exit.and_then(|x| x.code);
    if let Some((step, msg)) = &f.error {
        out.kind = Kind::Failed;
        out.stuck = true;
        out.waits_on = format!("nothing: failed at {step}");
        out.verdict = if let Some(rest) = peer_gone(msg) {
            format!("{who} read end-of-file: {rest}, and gave up")
        } else {
            format!("{who} failed at step {step}: {msg}")
        };
        return out;
    }
    match code {
        Some(0) | None if f.exit.is_some() => {
            out.kind = Kind::Exited;
            out.normal = true;
            out.waits_on = "nothing: it finished".into();
            out.verdict = format!("{who} finished (exit 0)");
        }
        Some(c) => {
            out.kind = Kind::Failed;
            out.stuck = true;
            out.waits_on = format!("nothing: exited {c}");
            out.verdict = format!("{who} exited with status {c}{last} without saying why");
        }
        None => {
            out.kind = Kind::Gone;
            out.waits_on = "nothing: it is gone".into();
            out.verdict = format!("{who} is gone{last}");
        }
    }
    out
}

/// `[1:CHILD] closed the channel while we waited for X` → the part to quote.
fn peer_gone(msg: &str) -> Option<&str> {
    msg.contains("closed the channel").then_some(msg)
}

fn zombie(f: &StageFacts, p: &ProcInfo, mut out: Finding, who: &str) -> Finding {
    let code = p.exit_code.unwrap_or(0);
    let how = if code & 0x7f != 0 {
        format!(
            "killed by {}",
            initscope_runtime::events::flags::signal_name(code & 0x7f)
        )
    } else {
        format!("exit {}", (code >> 8) & 0xff)
    };
    out.kind = if code & 0x7f != 0 {
        Kind::Killed
    } else {
        Kind::Zombie
    };
    out.waits_on = format!("its parent {} to reap it", p.ppid);
    out.verdict = format!(
        "{who} has exited ({how}) but is not reaped yet (zombie): its parent {} ({}) has not waited for it",
        p.ppid,
        crate::procinfo::fds::comm(p.ppid)
    );
    if f.execd.is_none() && code & 0x7f != 0 {
        out.stuck = true;
    }
    out.next = Some(format!(
        "its parent (pid {}) reaps it when it runs again",
        p.ppid
    ));
    out
}
