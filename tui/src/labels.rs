//! Short labels for rows and events: what the diagram, the event list and the exports print.

use initscope_probe::schema::{KernelEvent, KernelKind};
use initscope_runtime::events::flags::clone_flag_names;
use initscope_runtime::events::schema::{EventKind, RuntimeEvent};

use crate::event::Event;
use crate::model::{Model, RowId, RowKind, Seq, GROUP_KINDS};

/// Clone flags a learner should see: namespaces and the ones that change who is whose
/// parent or what is shared. (SETTID, SETTLS … are plumbing.)
const MATTERING: u64 = 0x8000 // CLONE_PARENT
    | 0x4000 // CLONE_VFORK
    | 0x100 // CLONE_VM
    | 0x1_0000 // CLONE_THREAD
    | 0x2_0000_0000 // CLONE_INTO_CGROUP
    | 0x7e02_0080; // CLONE_NEW*

/// `CLONE_NEWUSER|CLONE_NEWNS` → `NEWUSER|NEWNS`.
pub fn short_flags(flags: u64) -> String {
    clone_flag_names(flags)
        .iter()
        .map(|f| f.trim_start_matches("CLONE_"))
        .collect::<Vec<_>>()
        .join("|")
}

pub fn clone_label(flags: u64) -> String {
    let f = flags & MATTERING;
    if f == 0 {
        "fork".to_string()
    } else {
        format!("clone({})", short_flags(f))
    }
}

fn group_label(counts: &[u32; GROUP_KINDS.len()]) -> String {
    const WORDS: [&str; GROUP_KINDS.len()] = [
        "mounts",
        "devices",
        "links",
        "masked",
        "ro",
        "sysctl",
        "rlimits",
        "cgroup settings",
    ];
    let parts: Vec<String> = counts
        .iter()
        .zip(WORDS)
        .filter(|(n, _)| **n > 0)
        .map(|(n, w)| format!("{n} {w}"))
        .collect();
    // Only filesystem steps make it "rootfs".
    if counts[..5].iter().any(|&n| n > 0) {
        format!("rootfs: {}", parts.join(", "))
    } else {
        parts.join(", ")
    }
}

/// The label of a diagram row as of `at`.
pub fn row_label(m: &Model, id: RowId, at: Seq) -> String {
    let row = m.row(id);
    match row.kind {
        RowKind::Clone { flags, .. } => clone_label(flags),
        RowKind::Sync {
            msg, recv, send, ..
        } => {
            let name = m.str(msg);
            match (send, recv) {
                (Some(_), Some(r)) if r >= at => format!("{name} …"),
                (Some(_), None) => format!("{name} …"),
                _ => name.to_string(),
            }
        }
        RowKind::Unshare { flags, failed } => {
            format!(
                "unshare({}){}",
                short_flags(flags),
                if failed { " failed" } else { "" }
            )
        }
        RowKind::Setns { nstype, failed, .. } => {
            let t = if nstype == 0 {
                "any".to_string()
            } else {
                short_flags(nstype)
            };
            format!("setns({t}){}", if failed { " failed" } else { "" })
        }
        RowKind::IdMap { target, map } => {
            let which = match map {
                crate::model::MapKind::Uid => "uid_map",
                crate::model::MapKind::Gid => "gid_map",
            };
            match target {
                Some(t) => format!("writes {which} of {}", m.lane_title(t, at)),
                None => format!("writes {which}"),
            }
        }
        RowKind::Group { .. } => group_label(&m.group_counts_at(id, at)),
        RowKind::Exec { path, failed } => {
            format!(
                "execve {}{}",
                m.str(path),
                if failed { " failed" } else { "" }
            )
        }
        RowKind::Exit { code, signal } => exit_label(code, m.str(signal)),
        RowKind::Error { step } => format!("error: {}", m.str(step)),
        RowKind::Note { text, .. } => m.str(text).to_string(),
        RowKind::Lost { count } => format!("{count} events lost"),
        RowKind::ExecMisses { count } => format!("execve: {count}× not found (PATH search)"),
    }
}

pub fn exit_label(code: Option<i32>, signal: &str) -> String {
    match (code, signal) {
        (_, s) if !s.is_empty() => format!("killed by {s}"),
        (Some(c), _) => format!("exit {c}"),
        (None, _) => "exit".to_string(),
    }
}

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// The one-line text of a runtime step that has no special row.
pub fn runtime_note(e: &RuntimeEvent) -> String {
    match &e.kind {
        EventKind::StageStart { comm, .. } => format!("starts as {comm}"),
        EventKind::CgroupJoin { path, pid, .. } if *pid == e.pid => format!("joins cgroup {path}"),
        EventKind::CgroupJoin { path, pid, .. } => format!("puts {pid} in cgroup {path}"),
        EventKind::PivotRoot { method, .. } if method == "pivot_root" => "pivot_root".into(),
        EventKind::PivotRoot { method, .. } => format!("switches root ({method})"),
        EventKind::Hostname { hostname } => format!("hostname {hostname}"),
        EventKind::Domainname { domainname } => format!("domainname {domainname}"),
        EventKind::User { uid, gid, .. } => format!("user {uid}:{gid}"),
        EventKind::Caps { bounding, .. } => format!("caps: {} kept", bounding.len()),
        EventKind::NoNewPrivs {} => "no_new_privs".into(),
        EventKind::OomScoreAdj { value } => format!("oom_score_adj {value}"),
        EventKind::Seccomp { syscalls, .. } => format!("seccomp: {syscalls} rules"),
        EventKind::HookStart {
            hook,
            path,
            hook_pid,
            ..
        } => {
            format!("hook {hook}: {} ({hook_pid})", base(path))
        }
        EventKind::Hook {
            hook,
            status,
            signal,
            duration_ns,
            ..
        } => {
            let how = match (status, signal) {
                (_, Some(s)) => s.clone(),
                (Some(c), _) => format!("exit {c}"),
                _ => "done".into(),
            };
            format!("hook {hook} → {how} ({})", fmt_dur(*duration_ns))
        }
        EventKind::Console { pty, .. } => format!("console {pty}"),
        EventKind::WaitStart { .. } => "waits on exec.fifo".into(),
        EventKind::State { status } => format!("state: {status}"),
        EventKind::Signal { signal, target_pid } => format!("kill {signal} → {target_pid}"),
        EventKind::Paused { step } => format!("paused at {step}"),
        EventKind::StageDied {
            dead_stage,
            dead_pid,
            signal,
            exit_status,
            ..
        } => format!(
            "{} {dead_pid} {}",
            crate::model::roles::stage_title(*dead_stage),
            match (signal, exit_status) {
                (Some(s), _) => format!("killed by {s}"),
                (None, Some(c)) => format!("exited {c}"),
                _ => "died".into(),
            }
        ),
        other => other.name().replace('_', " "),
    }
}

/// A one-line summary of an event for the event list.
pub fn event_summary(e: &Event) -> String {
    match e {
        Event::Runtime(r) => runtime_summary(r),
        Event::Kernel(k) => kernel_summary(k),
    }
}

fn runtime_summary(e: &RuntimeEvent) -> String {
    match &e.kind {
        EventKind::Clone {
            flags_raw,
            child_pid,
            child_stage,
            ..
        } => {
            format!(
                "{} → {} ({})",
                clone_label(*flags_raw),
                child_pid,
                child_stage.as_str()
            )
        }
        EventKind::Unshare { flags_raw, .. } => format!("unshare({})", short_flags(*flags_raw)),
        EventKind::Setns { path, nstype } => format!("setns {path} ({nstype})"),
        EventKind::SyncSend { msg, peer, .. } => format!("{msg} → {}", peer.as_str()),
        EventKind::SyncRecv { msg, peer, .. } => format!("{msg} ← {}", peer.as_str()),
        EventKind::UidMap { target_pid, lines } => {
            format!("uid_map of {target_pid}: {}", lines.join("; "))
        }
        EventKind::GidMap {
            target_pid, lines, ..
        } => format!("gid_map of {target_pid}: {}", lines.join("; ")),
        EventKind::Mount {
            source,
            destination,
            fstype,
            flags,
            ..
        } => mount_label(source, destination, fstype, flags),
        EventKind::Device {
            path,
            dev_type,
            major,
            minor,
            ..
        } => format!("device {path} {dev_type} {major}:{minor}"),
        EventKind::Symlink { path, target } => format!("symlink {path} → {target}"),
        EventKind::MaskPath { path } => format!("mask {path}"),
        EventKind::ReadonlyPath { path } => format!("read-only {path}"),
        EventKind::Sysctl { key, value } => format!("sysctl {key}={value}"),
        EventKind::Rlimit {
            resource,
            soft,
            hard,
        } => format!("rlimit {resource} {soft}/{hard}"),
        EventKind::CgroupSet { file, value } => format!("cgroup {file}={value}"),
        EventKind::Exec { path, .. } => format!("execve {path}"),
        EventKind::StageExit { status, dropped } if *dropped > 0 => {
            format!("exit {status} ({dropped} events dropped)")
        }
        EventKind::StageExit { status, .. } => format!("exit {status}"),
        EventKind::Error { step, message, .. } => format!("error in {step}: {message}"),
        _ => runtime_note(e),
    }
}

fn kernel_summary(e: &KernelEvent) -> String {
    match &e.kind {
        KernelKind::Fork {
            child_tgid,
            parent_tgid,
            syscall,
            flags_raw,
            ..
        } => {
            let f = flags_raw & MATTERING;
            let mut s = if f == 0 {
                format!("{syscall} → {child_tgid}")
            } else {
                format!("{syscall}({}) → {child_tgid}", short_flags(f))
            };
            if *parent_tgid != e.tgid {
                s.push_str(&format!(" (parent {parent_tgid})"));
            }
            s
        }
        KernelKind::CloneExit {
            syscall,
            ret,
            errno,
            ..
        } => match errno {
            Some(er) => format!("{syscall} failed: {er}"),
            None => format!("{syscall} returned {ret}"),
        },
        KernelKind::Unshare {
            flags_raw,
            ret,
            errno,
            ..
        } => {
            format!(
                "unshare({}) = {}",
                short_flags(*flags_raw),
                errno.clone().unwrap_or(ret.to_string())
            )
        }
        KernelKind::Setns {
            fd,
            nstype_raw,
            ret,
            errno,
            ..
        } => format!(
            "setns(fd {fd}, {}) = {}",
            if *nstype_raw == 0 {
                "any".into()
            } else {
                short_flags(*nstype_raw)
            },
            errno.clone().unwrap_or(ret.to_string())
        ),
        KernelKind::Exec {
            filename,
            argv,
            ret,
            errno,
            ..
        } => match errno {
            Some(er) if *ret < 0 => format!("execve {filename} failed: {er}"),
            _ => format!(
                "execve {filename} {}",
                argv.iter().skip(1).cloned().collect::<Vec<_>>().join(" ")
            )
            .trim_end()
            .to_string(),
        },
        KernelKind::Exit { code, signal, .. } => exit_label(*code, signal.as_deref().unwrap_or("")),
        KernelKind::Rename { old_comm, new_comm } => format!("rename {old_comm} → {new_comm}"),
        KernelKind::Namespaces { .. } => "namespaces".into(),
        KernelKind::Lost { count } => format!("{count} events lost"),
        KernelKind::Other => "other".into(),
    }
}

/// What a mount event did, in words: `mount proc on /proc`, `mount shm on /dev/shm
/// (tmpfs)`, `rbind /x on /y`, `make / rslave` (a propagation change: no source, no
/// type), `remount /proc/sys ro` (MS_REMOUNT, or `mount_setattr`'s `±MOUNT_ATTR_*`).
pub fn mount_label(source: &str, destination: &str, fstype: &str, flags: &[String]) -> String {
    let has = |f: &str| flags.iter().any(|x| x == f);
    let r = if has("MS_REC") || has("AT_RECURSIVE") {
        "r"
    } else {
        ""
    };
    let ro = if has("MS_RDONLY") { " ro" } else { "" };
    const PROPAGATION: [(&str, &str); 4] = [
        ("MS_SHARED", "shared"),
        ("MS_SLAVE", "slave"),
        ("MS_PRIVATE", "private"),
        ("MS_UNBINDABLE", "unbindable"),
    ];
    if let Some((_, p)) = PROPAGATION.iter().find(|(f, _)| has(f)) {
        if !has("MS_REMOUNT") && !has("MS_BIND") {
            return format!("make {destination} {r}{p}");
        }
    }
    let attrs: Vec<&str> = flags
        .iter()
        .filter_map(|f| {
            let (sign, name) = f.split_at_checked(1)?;
            let word = name.strip_prefix("MOUNT_ATTR_")?.to_ascii_lowercase();
            let word = match (sign, word.as_str()) {
                ("+", "rdonly") => "ro",
                ("-", "rdonly") => "rw",
                ("+", "nosuid") => "nosuid",
                ("+", "nodev") => "nodev",
                ("+", "noexec") => "noexec",
                ("+", "noatime") => "noatime",
                ("+", "relatime") => "relatime",
                ("+", "strictatime") => "strictatime",
                ("+", "nodiratime") => "nodiratime",
                ("+", "nosymfollow") => "nosymfollow",
                ("-", "nosuid") => "suid",
                ("-", "nodev") => "dev",
                ("-", "noexec") => "exec",
                _ => return None,
            };
            Some(word)
        })
        .collect();
    if !attrs.is_empty() {
        let below = if r.is_empty() { "" } else { " (and below)" };
        return format!("remount {destination} {}{below}", attrs.join(","));
    }
    if has("MS_REMOUNT") {
        let mut opts = vec![if has("MS_RDONLY") { "ro" } else { "rw" }];
        for (f, w) in [
            ("MS_NOSUID", "nosuid"),
            ("MS_NODEV", "nodev"),
            ("MS_NOEXEC", "noexec"),
        ] {
            if has(f) {
                opts.push(w);
            }
        }
        return format!("remount {destination} {}", opts.join(","));
    }
    if has("MS_MOVE") {
        return format!("move {source} to {destination}");
    }
    if has("MS_BIND") {
        return format!("{r}bind {source} on {destination}{ro}");
    }
    if source.is_empty() || source == fstype {
        format!("mount {fstype} on {destination}{ro}")
    } else {
        format!("mount {source} on {destination} ({fstype}){ro}")
    }
}

/// `1234567` ns → `1.2ms`.
pub fn fmt_dur(ns: u64) -> String {
    match ns {
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{:.0}µs", n as f64 / 1e3),
        n if n < 10_000_000 => format!("{:.1}ms", n as f64 / 1e6),
        n if n < 1_000_000_000 => format!("{:.0}ms", n as f64 / 1e6),
        n if n < 60_000_000_000 => format!("{:.1}s", n as f64 / 1e9),
        n => format!("{}m{:02}s", n / 60_000_000_000, (n / 1_000_000_000) % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::mount_label;

    fn label(src: &str, dst: &str, fstype: &str, flags: &[&str]) -> String {
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        mount_label(src, dst, fstype, &flags)
    }

    #[test]
    fn mounts_read_as_what_they_did() {
        // `mount --make-rslave /`: no source, no type.
        assert_eq!(label("", "/", "", &["MS_REC", "MS_SLAVE"]), "make / rslave");
        assert_eq!(label("", "/mnt", "", &["MS_PRIVATE"]), "make /mnt private");
        assert_eq!(
            label("", "/proc/sys", "", &["MS_RDONLY", "MS_REMOUNT", "MS_BIND"]),
            "remount /proc/sys ro"
        );
        assert_eq!(
            label("", "/sys", "", &["AT_RECURSIVE", "+MOUNT_ATTR_RDONLY"]),
            "remount /sys ro (and below)"
        );
        assert_eq!(label("proc", "/proc", "proc", &[]), "mount proc on /proc");
        assert_eq!(
            label("shm", "/dev/shm", "tmpfs", &["MS_NOSUID", "MS_NODEV"]),
            "mount shm on /dev/shm (tmpfs)"
        );
        assert_eq!(
            label("tmpfs", "/proc/acpi", "tmpfs", &["MS_RDONLY"]),
            "mount tmpfs on /proc/acpi ro"
        );
        assert_eq!(
            label("/dev/null", "/proc/keys", "bind", &["MS_BIND"]),
            "bind /dev/null on /proc/keys"
        );
        assert_eq!(
            label("/b/rootfs", "/b/rootfs", "bind", &["MS_BIND", "MS_REC"]),
            "rbind /b/rootfs on /b/rootfs"
        );
        assert_eq!(
            label("/b/rootfs", "/", "", &["MS_MOVE"]),
            "move /b/rootfs to /"
        );
    }
}
