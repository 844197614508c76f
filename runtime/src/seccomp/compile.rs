//! OCI `linux.seccomp` → libseccomp filter → BPF program, with runc's rules.

use std::io::{Read, Seek, SeekFrom};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::{Filter, SeccompError, Summary};

const FIELD: &str = "linux.seccomp";
/// A syscall has at most six arguments (indices 0–5).
const MAX_ARGS: usize = 6;
/// runc switches on libseccomp's binary tree above this many names (libseccomp ≤ 2.5.4
/// misbehaves with the tree and no rules at all).
const BINARY_TREE_ABOVE: usize = 32;

/// Validate `cfg` and build its BPF program. Nothing is loaded: this runs in `create`, so a
/// bad profile fails before any process is cloned.
pub fn compile(cfg: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let default = action(
        cfg.default_action(),
        cfg.default_errno_ret(),
        &format!("{FIELD}.defaultAction"),
    )?;
    if default == ScmpAction::Notify {
        return Err(SeccompError::invalid(
            format!("{FIELD}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action (the runtime's own last syscalls would wait on an agent that has no fd yet)",
        ));
    }
    let syscalls = cfg.syscalls().as_deref().unwrap_or_default();
    let notify = check_rules(syscalls)?;
    if notify && cfg.listener_path().is_none() {
        return Err(SeccompError::invalid(
            format!("{FIELD}.listenerPath"),
            "required when a rule uses SCMP_ACT_NOTIFY (the agent receives the listener fd there)",
        ));
    }

    let lib = |field: String| {
        move |e: libseccomp::error::SeccompError| SeccompError::Libseccomp {
            field,
            message: e.to_string(),
        }
    };
    let mut ctx = ScmpFilterContext::new(default).map_err(lib(format!("{FIELD}.defaultAction")))?;
    // The runtime sets noNewPrivileges itself (or not): the filter must not force it.
    ctx.set_ctl_nnp(false).map_err(lib(FIELD.into()))?;

    let mut architectures = Vec::new();
    for (i, a) in cfg
        .architectures()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = format!("{FIELD}.architectures[{i}]");
        let arch = arch(*a);
        // Adding the native architecture again is EEXIST in libseccomp: nothing to do.
        if ctx.is_arch_present(arch).unwrap_or(false) {
            continue;
        }
        ctx.add_arch(arch).map_err(lib(field))?;
        architectures.push(a.to_string());
    }

    let (flags, flag_names, spec_allow_default) = flags(cfg.flags().as_deref(), notify)?;

    let names: usize = syscalls.iter().map(|s| s.names().len()).sum();
    if names > BINARY_TREE_ABOVE {
        // Not fatal: an older libseccomp just builds the linear filter.
        let _ = ctx.set_ctl_optimize(2);
    }

    let mut added = 0;
    let mut skipped = Vec::new();
    for (i, call) in syscalls.iter().enumerate() {
        let field = format!("{FIELD}.syscalls[{i}]");
        let act = action(call.action(), call.errno_ret(), &format!("{field}.action"))?;
        if act == default {
            // runc drops a rule that only repeats the default (libseccomp would refuse it).
            continue;
        }
        let conds = conditions(call, &field)?;
        for (j, name) in call.names().iter().enumerate() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                // Not a syscall of this kernel's architecture: skipped, as runc does.
                skipped.push(name.clone());
                continue;
            };
            let field = format!("{field}.names[{j}] ({name})");
            add_rule(&mut ctx, act, nr, &conds, &field)?;
            added += 1;
        }
    }

    // runc's -ENOSYS stub goes in front of libseccomp's program (see enosys.rs).
    let mut program = super::enosys::stub(cfg);
    let enosys_stub = !program.is_empty();
    program.extend(export(&ctx)?);
    Ok(Filter {
        summary: Summary {
            default_action: action_name(cfg.default_action(), cfg.default_errno_ret()),
            syscalls: added,
            architectures,
            flags: flag_names,
            skipped,
            notify,
            enosys_stub,
            instructions: program.len(),
        },
        program,
        flags,
        spec_allow_default,
    })
}

/// Field checks libseccomp would only answer with EINVAL; returns whether any rule notifies.
fn check_rules(syscalls: &[LinuxSyscall]) -> Result<bool, SeccompError> {
    let mut notify = false;
    for (i, call) in syscalls.iter().enumerate() {
        let field = format!("{FIELD}.syscalls[{i}]");
        if call.names().is_empty() {
            return Err(SeccompError::invalid(
                format!("{field}.names"),
                "empty: a rule needs at least one syscall name",
            ));
        }
        for (j, name) in call.names().iter().enumerate() {
            if name.is_empty() {
                return Err(SeccompError::invalid(
                    format!("{field}.names[{j}]"),
                    "empty string is not a syscall name",
                ));
            }
        }
        if call.action() == LinuxSeccompAction::ScmpActNotify {
            notify = true;
            // The fd reaches the runtime through a write: notifying on write would hang init.
            if let Some(j) = call.names().iter().position(|n| n == "write") {
                return Err(SeccompError::invalid(
                    format!("{field}.names[{j}]"),
                    "SCMP_ACT_NOTIFY cannot be used for the write syscall (the runtime needs it to hand over the listener fd)",
                ));
            }
        }
        if let Some(e) = call.errno_ret() {
            if e > u16::MAX as u32 {
                return Err(SeccompError::invalid(
                    format!("{field}.errnoRet"),
                    format!("{e} does not fit the 16 bits seccomp returns"),
                ));
            }
        }
    }
    Ok(notify)
}

/// The libseccomp action for an OCI action (runc's table: KILL is KILL_THREAD, ERRNO and
/// TRACE default to EPERM).
fn action(
    a: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
) -> Result<ScmpAction, SeccompError> {
    let ret = || -> Result<u16, SeccompError> {
        match errno_ret {
            None => Ok(libc::EPERM as u16),
            Some(e) => u16::try_from(e).map_err(|_| {
                SeccompError::invalid(
                    field
                        .replace("action", "errnoRet")
                        .replace("defaultAction", "defaultErrnoRet"),
                    format!("{e} does not fit the 16 bits seccomp returns"),
                )
            }),
        }
    };
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(ret()? as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

/// `SCMP_ACT_ERRNO(EPERM)`, `SCMP_ACT_ALLOW`: the action as a person reads it.
pub(super) fn action_name(a: LinuxSeccompAction, errno_ret: Option<u32>) -> String {
    let name = a.to_string();
    match a {
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace => {
            let e = errno_ret.unwrap_or(libc::EPERM as u32);
            let errno = nix::errno::Errno::from_raw(e as i32);
            if errno == nix::errno::Errno::UnknownErrno {
                format!("{name}({e})")
            } else {
                format!("{name}({errno:?})")
            }
        }
        _ => name,
    }
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// The `seccomp(2)` flags: LOG and SPEC_ALLOW as asked; TSYNC ignored as runc does (init
/// has one thread, and TSYNC cannot be combined with a listener); WAIT_KILLABLE_RECV only
/// means something with a listener. No `flags` at all means SPEC_ALLOW, as in runc.
fn flags(
    cfg: Option<&[LinuxSeccompFilterFlag]>,
    notify: bool,
) -> Result<(libc::c_ulong, Vec<String>, bool), SeccompError> {
    let mut bits: libc::c_ulong = 0;
    let mut names = Vec::new();
    let mut add = |bit: libc::c_ulong, name: &str, bits: &mut libc::c_ulong| {
        if *bits & bit == 0 {
            *bits |= bit;
            names.push(name.to_string());
        }
    };
    let default_spec_allow = cfg.is_none();
    match cfg {
        None => add(
            libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            &mut bits,
        ),
        Some(list) => {
            for f in list {
                match f {
                    LinuxSeccompFilterFlag::SeccompFilterFlagLog => add(
                        libc::SECCOMP_FILTER_FLAG_LOG,
                        "SECCOMP_FILTER_FLAG_LOG",
                        &mut bits,
                    ),
                    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => add(
                        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                        &mut bits,
                    ),
                    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if notify => add(
                        libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
                        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
                        &mut bits,
                    ),
                    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv
                    | LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {}
                }
            }
        }
    }
    if notify {
        add(
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            "SECCOMP_FILTER_FLAG_NEW_LISTENER",
            &mut bits,
        );
    }
    Ok((bits, names, default_spec_allow))
}

fn condition(arg: &LinuxSeccompArg, field: &str) -> Result<ScmpArgCompare, SeccompError> {
    if arg.index() >= MAX_ARGS {
        return Err(SeccompError::invalid(
            format!("{field}.index"),
            format!(
                "{} is out of range: a syscall has at most {MAX_ARGS} arguments (0–5)",
                arg.index()
            ),
        ));
    }
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        // The spec's `value` is the mask and `valueTwo` the value compared after masking.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(arg.index() as u32, op, datum))
}

/// The rule's conditions, grouped as runc does: all in one rule (AND) when every argument
/// index appears once; one rule per condition (OR) when an index repeats.
fn conditions(call: &LinuxSyscall, field: &str) -> Result<Vec<Vec<ScmpArgCompare>>, SeccompError> {
    let args = call.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    let mut conds = Vec::with_capacity(args.len());
    let mut counts = [0usize; MAX_ARGS];
    for (k, a) in args.iter().enumerate() {
        conds.push(condition(a, &format!("{field}.args[{k}]"))?);
        counts[a.index()] += 1;
    }
    if counts.iter().any(|&c| c > 1) {
        Ok(conds.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![conds])
    }
}

fn add_rule(
    ctx: &mut ScmpFilterContext,
    act: ScmpAction,
    nr: ScmpSyscall,
    rules: &[Vec<ScmpArgCompare>],
    field: &str,
) -> Result<(), SeccompError> {
    for conds in rules {
        let r = if conds.is_empty() {
            ctx.add_rule(act, nr)
        } else {
            ctx.add_rule_conditional(act, nr, conds)
        };
        r.map_err(|e| SeccompError::Libseccomp {
            field: field.to_string(),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

/// Have libseccomp write the program into a memfd and read it back as `sock_filter`s.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let err = |what: &str, e: &dyn std::fmt::Display| SeccompError::Export(format!("{what}: {e}"));
    let fd =
        nix::sys::memfd::memfd_create(c"initscope-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| err("memfd_create", &e))?;
    ctx.export_bpf(&fd)
        .map_err(|e| err("seccomp_export_bpf", &e))?;
    let mut file = std::fs::File::from(fd);
    file.seek(SeekFrom::Start(0)).map_err(|e| err("seek", &e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| err("read", &e))?;
    const INSN: usize = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty() || bytes.len() % INSN != 0 {
        return Err(SeccompError::Export(format!(
            "{} bytes is not a whole number of BPF instructions",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(INSN)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn allow_all_with_an_errno_rule_compiles_and_counts_names() {
        let f = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat", "no_such_syscall_xyz"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
            ]
        })))
        .unwrap();
        let s = f.summary();
        assert_eq!(s.default_action, "SCMP_ACT_ALLOW");
        assert_eq!(
            s.syscalls, 2,
            "mkdir and mkdirat; getpid repeats the default"
        );
        assert_eq!(s.skipped, vec!["no_such_syscall_xyz".to_string()]);
        assert_eq!(s.flags, vec!["SECCOMP_FILTER_FLAG_SPEC_ALLOW".to_string()]);
        assert!(!s.notify);
        assert!(s.instructions > 4 && s.instructions == f.program().len());
        match f.event() {
            crate::events::schema::EventKind::Seccomp {
                default_action,
                syscalls,
                skipped,
                ..
            } => {
                assert_eq!(default_action, "SCMP_ACT_ALLOW");
                assert_eq!(syscalls, 2);
                assert_eq!(skipped, vec!["no_such_syscall_xyz".to_string()]);
            }
            other => panic!("not a seccomp event: {other:?}"),
        }
    }

    #[test]
    fn errno_names_the_errno() {
        assert_eq!(
            action_name(LinuxSeccompAction::ScmpActErrno, None),
            "SCMP_ACT_ERRNO(EPERM)"
        );
        assert_eq!(
            action_name(LinuxSeccompAction::ScmpActErrno, Some(38)),
            "SCMP_ACT_ERRNO(ENOSYS)"
        );
        assert_eq!(
            action_name(LinuxSeccompAction::ScmpActTrace, Some(4000)),
            "SCMP_ACT_TRACE(4000)"
        );
    }

    fn err(json: serde_json::Value) -> String {
        compile(&profile(json)).unwrap_err().to_string()
    }

    #[test]
    fn bad_profiles_name_the_field() {
        let e = err(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        assert!(
            e.starts_with("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot"),
            "{e}"
        );

        let e = err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]}));
        assert!(e.starts_with("linux.seccomp.listenerPath: required"), "{e}");

        let e = err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
        );
        assert!(
            e.starts_with(
                "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for the write"
            ),
            "{e}"
        );

        let e = err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
                         {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}));
        assert!(
            e.starts_with("linux.seccomp.syscalls[1].args[0].index: 6 is out of range"),
            "{e}"
        );

        let e = err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}));
        assert!(
            e.starts_with("linux.seccomp.syscalls[0].names: empty"),
            "{e}"
        );

        let e = err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}));
        assert!(
            e.starts_with("linux.seccomp.syscalls[0].errnoRet: 70000"),
            "{e}"
        );

        let e =
            err(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}));
        assert!(e.starts_with("linux.seccomp.defaultErrnoRet: 70000"), "{e}");
    }

    #[test]
    fn repeated_argument_index_becomes_separate_rules() {
        // Same index twice: runc adds one rule per condition (either value matches).
        let call: LinuxSyscall = serde_json::from_value(serde_json::json!({
            "names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                     {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}))
        .unwrap();
        let rules = conditions(&call, "x").unwrap();
        assert_eq!(rules.len(), 2);
        assert!(rules.iter().all(|r| r.len() == 1));
        // Distinct indices: one rule with both conditions (both must match).
        let call: LinuxSyscall = serde_json::from_value(serde_json::json!({
            "names": ["socket"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                     {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]}))
        .unwrap();
        let rules = conditions(&call, "x").unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].len(), 2);
    }

    #[test]
    fn flags_follow_runc() {
        let (bits, names, dflt) = flags(None, false).unwrap();
        assert_eq!(bits, libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW);
        assert!(dflt);
        assert_eq!(names.len(), 1);
        let (bits, _, dflt) = flags(Some(&[]), false).unwrap();
        assert_eq!(bits, 0, "an explicit empty list means no flags");
        assert!(!dflt);
        let (bits, names, _) = flags(
            Some(&[
                LinuxSeccompFilterFlag::SeccompFilterFlagLog,
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
            ]),
            true,
        )
        .unwrap();
        assert_eq!(
            bits,
            libc::SECCOMP_FILTER_FLAG_LOG
                | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
                | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        );
        assert!(!names.iter().any(|n| n.contains("TSYNC")));
    }

    #[test]
    fn extra_architectures_are_added_once() {
        let f = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]
        })))
        .unwrap();
        let native = ScmpArch::native();
        let arches = &f.summary().architectures;
        if native == ScmpArch::X8664 {
            assert_eq!(
                arches,
                &["SCMP_ARCH_X86".to_string(), "SCMP_ARCH_X32".to_string()]
            );
        }
        assert_eq!(f.summary().default_action, "SCMP_ACT_ERRNO(EPERM)");
    }
}
