//! Names for the flag words that appear in events: clone/unshare flags and setns types.
//! Shared with the probe so both sources spell `CLONE_NEWPID` the same way.

/// Every `CLONE_*` bit with its name, in bit order. (The low byte of `clone(2)`'s flags
/// is the exit signal, not a flag; callers mask it off.)
pub const CLONE_FLAGS: &[(u64, &str)] = &[
    (0x0000_0080, "CLONE_NEWTIME"),
    (0x0000_0100, "CLONE_VM"),
    (0x0000_0200, "CLONE_FS"),
    (0x0000_0400, "CLONE_FILES"),
    (0x0000_0800, "CLONE_SIGHAND"),
    (0x0000_1000, "CLONE_PIDFD"),
    (0x0000_2000, "CLONE_PTRACE"),
    (0x0000_4000, "CLONE_VFORK"),
    (0x0000_8000, "CLONE_PARENT"),
    (0x0001_0000, "CLONE_THREAD"),
    (0x0002_0000, "CLONE_NEWNS"),
    (0x0004_0000, "CLONE_SYSVSEM"),
    (0x0008_0000, "CLONE_SETTLS"),
    (0x0010_0000, "CLONE_PARENT_SETTID"),
    (0x0020_0000, "CLONE_CHILD_CLEARTID"),
    (0x0040_0000, "CLONE_DETACHED"),
    (0x0080_0000, "CLONE_UNTRACED"),
    (0x0100_0000, "CLONE_CHILD_SETTID"),
    (0x0200_0000, "CLONE_NEWCGROUP"),
    (0x0400_0000, "CLONE_NEWUTS"),
    (0x0800_0000, "CLONE_NEWIPC"),
    (0x1000_0000, "CLONE_NEWUSER"),
    (0x2000_0000, "CLONE_NEWPID"),
    (0x4000_0000, "CLONE_NEWNET"),
    (0x8000_0000, "CLONE_IO"),
    (0x1_0000_0000, "CLONE_CLEAR_SIGHAND"),
    (0x2_0000_0000, "CLONE_INTO_CGROUP"),
];

/// The namespace bits only (what `unshare`/`setns` take), with the short name used in
/// `/proc/PID/ns/<name>`.
pub const NAMESPACES: &[(u64, &str, &str)] = &[
    (0x0002_0000, "CLONE_NEWNS", "mnt"),
    (0x0200_0000, "CLONE_NEWCGROUP", "cgroup"),
    (0x0400_0000, "CLONE_NEWUTS", "uts"),
    (0x0800_0000, "CLONE_NEWIPC", "ipc"),
    (0x1000_0000, "CLONE_NEWUSER", "user"),
    (0x2000_0000, "CLONE_NEWPID", "pid"),
    (0x4000_0000, "CLONE_NEWNET", "net"),
    (0x0000_0080, "CLONE_NEWTIME", "time"),
];

/// Names of the set bits of a clone/unshare flag word. Bits without a name appear as hex,
/// so nothing the kernel was told is hidden. The exit-signal byte is ignored unless it
/// carries `CLONE_NEWTIME` (0x80), which `unshare` uses but `clone` cannot.
pub fn clone_flag_names(flags: u64) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = flags & !0x7f;
    for &(bit, name) in CLONE_FLAGS {
        if rest & bit != 0 {
            names.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        names.push(format!("{rest:#x}"));
    }
    names
}

/// `CLONE_NEWNET` → `net`; `None` for a word that is not exactly one namespace bit.
pub fn ns_short_name(nstype: u64) -> Option<&'static str> {
    NAMESPACES
        .iter()
        .find(|&&(bit, _, _)| bit == nstype)
        .map(|&(_, _, short)| short)
}

/// `setns(2)`'s nstype: 0 means "any type"; otherwise a namespace flag name.
pub fn nstype_name(nstype: u64) -> String {
    if nstype == 0 {
        return "any".to_string();
    }
    clone_flag_names(nstype).join("|")
}

/// The exit-signal byte of `clone(2)`'s flags, as a signal name (`SIGCHLD`).
pub fn exit_signal_name(flags: u64) -> Option<String> {
    let sig = (flags & 0x7f) as i32;
    (sig != 0).then(|| signal_name(sig))
}

/// `9` → `SIGKILL`; unknown numbers as `SIG<n>`.
pub fn signal_name(sig: i32) -> String {
    const NAMES: &[&str] = &[
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match usize::try_from(sig).ok().and_then(|i| NAMES.get(i)) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ if (34..=64).contains(&sig) => format!("SIGRTMIN+{}", sig - 34),
        _ => format!("SIG{sig}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_runc_child_clone() {
        // stage 1 → stage 2 in runc: CLONE_PARENT | SIGCHLD
        assert_eq!(clone_flag_names(0x8000 | 17), vec!["CLONE_PARENT"]);
        assert_eq!(exit_signal_name(0x8000 | 17).as_deref(), Some("SIGCHLD"));
    }

    #[test]
    fn names_unshare_set_in_bit_order_and_keeps_unknown_bits() {
        let f = 0x2000_0000 | 0x0002_0000 | 0x4000_0000 | 0x80;
        assert_eq!(
            clone_flag_names(f),
            vec![
                "CLONE_NEWTIME",
                "CLONE_NEWNS",
                "CLONE_NEWPID",
                "CLONE_NEWNET"
            ]
        );
        assert_eq!(clone_flag_names(0x40_0000_0000), vec!["0x4000000000"]);
    }

    #[test]
    fn nstype_and_signal_names() {
        assert_eq!(nstype_name(0), "any");
        assert_eq!(nstype_name(0x4000_0000), "CLONE_NEWNET");
        assert_eq!(ns_short_name(0x1000_0000), Some("user"));
        assert_eq!(ns_short_name(0x3000_0000), None);
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(35), "SIGRTMIN+1");
        assert_eq!(signal_name(99), "SIG99");
    }
}
