//! runc's `-ENOSYS` stub: a profile written before a syscall existed must make that syscall
//! fail with ENOSYS ("not implemented"), not with the profile's default EPERM — glibc only
//! falls back from `clone3` to `clone` on ENOSYS, so without this a new libc in an old
//! profile cannot even start a thread.
//!
//! As in runc: only for a default action that refuses (not allow/log/trace, nor an errno
//! that already is ENOSYS), only for the architectures the profile lists, and "newer" means
//! a number above the largest syscall the profile names on that architecture. The stub is
//! a few BPF instructions put in front of libseccomp's program; whatever it does not answer
//! falls through to that program unchanged.

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
/// `struct seccomp_data`: `nr` at 0, `arch` at 4.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;

/// The stub to prepend, or nothing when runc would not add one.
pub(super) fn stub(cfg: &LinuxSeccomp) -> Vec<libc::sock_filter> {
    let refuses = match cfg.default_action() {
        LinuxSeccompAction::ScmpActAllow
        | LinuxSeccompAction::ScmpActLog
        | LinuxSeccompAction::ScmpActTrace => false,
        LinuxSeccompAction::ScmpActErrno => cfg.default_errno_ret() != Some(libc::ENOSYS as u32),
        _ => true,
    };
    if !refuses {
        return Vec::new();
    }
    let groups = last_syscalls(cfg);
    if groups.is_empty() {
        return Vec::new();
    }
    assemble(&groups)
}

/// Per kernel architecture (`AUDIT_ARCH_*`): the largest syscall number the profile names,
/// for the normal ABI and, on x86_64, for x32 (numbers with bit 30 set).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Group {
    audit_arch: u32,
    max: Option<u32>,
    max_x32: Option<u32>,
}

fn last_syscalls(cfg: &LinuxSeccomp) -> Vec<Group> {
    let names: Vec<&str> = cfg
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .flat_map(|s| s.names().iter().map(String::as_str))
        .collect();
    let mut groups: Vec<Group> = Vec::new();
    for a in cfg.architectures().as_deref().unwrap_or_default() {
        let Some((scmp, audit, x32)) = arch(*a) else {
            continue;
        };
        let max = names
            .iter()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, scmp).ok())
            .map(|s| s.as_raw_syscall())
            .filter(|&nr| nr >= 0)
            .map(|nr| nr as u32)
            .max();
        let Some(max) = max else { continue };
        let g = match groups.iter_mut().find(|g| g.audit_arch == audit) {
            Some(g) => g,
            None => {
                groups.push(Group {
                    audit_arch: audit,
                    ..Group::default()
                });
                groups.last_mut().expect("just pushed")
            }
        };
        if x32 {
            g.max_x32 = Some(max | X32_SYSCALL_BIT);
        } else {
            g.max = Some(max);
        }
    }
    groups
}

/// libseccomp's token, the kernel's `AUDIT_ARCH_*`, and whether it is x32.
fn arch(a: Arch) -> Option<(ScmpArch, u32, bool)> {
    Some(match a {
        Arch::ScmpArchNative => {
            let native = ScmpArch::native();
            let oci = match native {
                ScmpArch::X8664 => Arch::ScmpArchX86_64,
                ScmpArch::X86 => Arch::ScmpArchX86,
                ScmpArch::Aarch64 => Arch::ScmpArchAarch64,
                ScmpArch::Arm => Arch::ScmpArchArm,
                ScmpArch::Riscv64 => Arch::ScmpArchRiscv64,
                ScmpArch::Ppc64Le => Arch::ScmpArchPpc64le,
                ScmpArch::S390X => Arch::ScmpArchS390x,
                _ => return None,
            };
            return arch(oci);
        }
        Arch::ScmpArchX32 => (ScmpArch::X32, AUDIT_ARCH_X86_64, true),
        Arch::ScmpArchX86_64 => (ScmpArch::X8664, AUDIT_ARCH_X86_64, false),
        Arch::ScmpArchX86 => (ScmpArch::X86, a as u32, false),
        Arch::ScmpArchArm => (ScmpArch::Arm, a as u32, false),
        Arch::ScmpArchAarch64 => (ScmpArch::Aarch64, a as u32, false),
        Arch::ScmpArchRiscv64 => (ScmpArch::Riscv64, a as u32, false),
        Arch::ScmpArchPpc64le => (ScmpArch::Ppc64Le, a as u32, false),
        Arch::ScmpArchPpc64 => (ScmpArch::Ppc64, a as u32, false),
        Arch::ScmpArchPpc => (ScmpArch::Ppc, a as u32, false),
        // s390 multiplexes unknown numbers through syscall 0 and the MIPS tokens are
        // libseccomp's own: runc special-cases them; we leave them to the profile.
        _ => return None,
    })
}

/// A jump target while assembling: an instruction index, or the start of libseccomp's
/// program (just past the stub).
#[derive(Clone, Copy)]
enum To {
    At(usize),
    Filter,
}

struct Insn {
    code: u16,
    k: u32,
    jt: Option<To>,
    jf: Option<To>,
}

fn assemble(groups: &[Group]) -> Vec<libc::sock_filter> {
    // Layout: ld arch; one jeq per group; ja filter; the groups' sections; ret ENOSYS.
    let n = groups.len();
    let mut sections: Vec<Vec<Insn>> = Vec::with_capacity(n);
    // Indices are known once the section sizes are: compute sizes first.
    let section = |g: &Group, enosys: usize| -> Vec<Insn> {
        let ld = Insn {
            code: LD_W_ABS,
            k: OFF_NR,
            jt: None,
            jf: None,
        };
        let gt = |max: u32, next: To| Insn {
            code: JMP_JGT_K,
            k: max,
            jt: Some(To::At(enosys)),
            jf: Some(next),
        };
        let jset_x32 = |x32: To, native: To| Insn {
            code: JMP_JSET_K,
            k: X32_SYSCALL_BIT,
            jt: Some(x32),
            jf: Some(native),
        };
        match (g.max, g.max_x32, g.audit_arch == AUDIT_ARCH_X86_64) {
            // x86_64 and x32 both named: bit 30 picks which limit applies.
            (Some(max), Some(x32), _) => vec![
                ld,
                jset_x32(To::Filter, To::Filter), // patched below
                gt(max, To::Filter),
                gt(x32, To::Filter),
            ],
            // Only x86_64: x32 calls go to the filter untouched.
            (Some(max), None, true) => {
                vec![ld, jset_x32(To::Filter, To::Filter), gt(max, To::Filter)]
            }
            (Some(max), None, false) => vec![ld, gt(max, To::Filter)],
            // Only x32: native x86_64 calls go to the filter untouched.
            (None, Some(x32), _) => vec![ld, jset_x32(To::Filter, To::Filter), gt(x32, To::Filter)],
            (None, None, _) => Vec::new(),
        }
    };
    let sizes: Vec<usize> = groups.iter().map(|g| section(g, 0).len()).collect();
    let first_section = 1 + n + 1;
    let enosys = first_section + sizes.iter().sum::<usize>();
    let mut starts = Vec::with_capacity(n);
    let mut at = first_section;
    for (g, size) in groups.iter().zip(&sizes) {
        starts.push(at);
        let mut s = section(g, enosys);
        // Point the x32 test at the right comparison now that indices are known.
        if let Some(j) = s.iter_mut().find(|i| i.code == JMP_JSET_K) {
            match (g.max, g.max_x32) {
                (Some(_), Some(_)) => {
                    j.jt = Some(To::At(at + 3));
                    j.jf = Some(To::At(at + 2));
                }
                (Some(_), None) => {
                    j.jt = Some(To::Filter);
                    j.jf = Some(To::At(at + 2));
                }
                _ => {
                    j.jt = Some(To::At(at + 2));
                    j.jf = Some(To::Filter);
                }
            }
        }
        sections.push(s);
        at += size;
    }

    let mut prog: Vec<Insn> = vec![Insn {
        code: LD_W_ABS,
        k: OFF_ARCH,
        jt: None,
        jf: None,
    }];
    for (g, start) in groups.iter().zip(&starts) {
        prog.push(Insn {
            code: JMP_JEQ_K,
            k: g.audit_arch,
            jt: Some(To::At(*start)),
            jf: Some(To::At(prog.len() + 1)),
        });
    }
    prog.push(Insn {
        code: JMP_JA,
        k: 0,
        jt: Some(To::Filter),
        jf: None,
    });
    prog.extend(sections.into_iter().flatten());
    prog.push(Insn {
        code: RET_K,
        k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        jt: None,
        jf: None,
    });
    let filter = prog.len();
    let rel = |from: usize, to: To| -> usize {
        let target = match to {
            To::At(i) => i,
            To::Filter => filter,
        };
        target - (from + 1)
    };
    prog.iter()
        .enumerate()
        .map(|(i, insn)| {
            if insn.code == JMP_JA {
                let off = insn.jt.map(|t| rel(i, t)).unwrap_or(0);
                return libc::sock_filter {
                    code: JMP_JA,
                    jt: 0,
                    jf: 0,
                    k: off as u32,
                };
            }
            // The stub is a few dozen instructions: conditional jumps fit in 8 bits.
            let short = |t: Option<To>| t.map(|t| rel(i, t) as u8).unwrap_or(0);
            libc::sock_filter {
                code: insn.code,
                jt: short(insn.jt),
                jf: short(insn.jf),
                k: insn.k,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn no_stub_when_runc_adds_none() {
        let allow = cfg(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}));
        assert!(stub(&allow).is_empty(), "permissive default");
        let no_arches = cfg(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}));
        assert!(
            stub(&no_arches).is_empty(),
            "runc looks only at listed architectures"
        );
        let enosys = cfg(
            serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}),
        );
        assert!(stub(&enosys).is_empty(), "the default already is ENOSYS");
    }

    #[test]
    fn groups_take_the_largest_named_syscall_per_abi() {
        if ScmpArch::native() != ScmpArch::X8664 {
            return;
        }
        let c = cfg(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["read", "getppid", "exit_group", "not_a_call"], "action": "SCMP_ACT_ALLOW"}]}));
        let g = last_syscalls(&c);
        assert_eq!(g.len(), 2, "x86_64 and x32 share AUDIT_ARCH_X86_64: {g:?}");
        let x86_64 = g
            .iter()
            .find(|g| g.audit_arch == AUDIT_ARCH_X86_64)
            .unwrap();
        assert_eq!(x86_64.max, Some(231), "exit_group");
        assert_eq!(x86_64.max_x32, Some(231 | X32_SYSCALL_BIT));
        let i386 = g.iter().find(|g| g.audit_arch == 0x4000_0003).unwrap();
        assert_eq!(i386.max, Some(252), "exit_group on i386");
        let prog = assemble(&g);
        assert_eq!(prog[0].code, LD_W_ABS);
        let last = prog.last().unwrap();
        assert_eq!(last.code, RET_K);
        assert_eq!(last.k, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        // Every conditional jump lands inside the stub or right after it.
        for (i, insn) in prog.iter().enumerate() {
            if insn.code != JMP_JA && insn.code & 0x07 == 0x05 {
                assert!(i + 1 + insn.jt as usize <= prog.len());
                assert!(i + 1 + insn.jf as usize <= prog.len());
            }
        }
    }
}
