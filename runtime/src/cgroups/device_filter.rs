//! cgroup v2 has no devices controller: device access is decided by an eBPF program of
//! type `cgroup_device` attached to the cgroup. We assemble it from the rules (as runc's
//! `devicefilter` does) and attach it with `BPF_F_ALLOW_MULTI`, so a parent's program
//! still applies too.
//!
//! The program reads the access request from `struct bpf_cgroup_dev_ctx` (type and access
//! bits, major, minor), then checks the rules from the **last** to the first: the first
//! that matches decides (later rules override earlier ones, as in the spec). No match:
//! deny. An allow rule matches when it grants every bit asked for; a deny rule when it
//! covers any of them.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::devices::Rule;
use super::CgroupError;

// From <linux/bpf.h>.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// Opcodes used (class | op | source).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU32_AND_K: u8 = 0x54; // dst &= imm
const ALU32_RSH_K: u8 = 0x74; // dst >>= imm
const ALU32_MOV_X: u8 = 0xbc; // dst = src
const ALU64_MOV_K: u8 = 0xb7; // dst = imm
const JMP_JNE_K: u8 = 0x55; // if dst != imm goto +off
const JMP_JEQ_K: u8 = 0x15; // if dst == imm goto +off
const JMP_EXIT: u8 = 0x95;

/// Registers: r1 = ctx, r2 = device type, r3 = access bits, r4 = major, r5 = minor, r6 = scratch.
const PROLOGUE: [Insn; 6] = [
    insn(LDX_MEM_W, 2, 1, 0, 0),
    insn(ALU32_AND_K, 2, 0, 0, 0xffff),
    insn(LDX_MEM_W, 3, 1, 0, 0),
    insn(ALU32_RSH_K, 3, 0, 0, 16),
    insn(LDX_MEM_W, 4, 1, 4, 0),
    insn(LDX_MEM_W, 5, 1, 8, 0),
];

const ALL_ACCESS: u8 = super::devices::READ | super::devices::WRITE | super::devices::MKNOD;

/// Assemble the program for `rules` (config order; evaluated last to first).
pub fn assemble(rules: &[Rule]) -> Vec<Insn> {
    let mut prog = PROLOGUE.to_vec();
    for rule in rules.iter().rev() {
        // Conditions, each a "goto next rule" when it fails (offsets patched below).
        let mut conds: Vec<Insn> = Vec::new();
        match rule.kind {
            'b' => conds.push(insn(JMP_JNE_K, 2, 0, 0, DEV_BLOCK)),
            'c' => conds.push(insn(JMP_JNE_K, 2, 0, 0, DEV_CHAR)),
            _ => {} // 'a': any type, and (as on v1) any number
        }
        let access = i32::from(rule.access & ALL_ACCESS);
        if rule.allow && rule.access & ALL_ACCESS != ALL_ACCESS {
            // Every bit asked for must be granted: (asked & ~granted) == 0.
            conds.push(insn(ALU32_MOV_X, 6, 3, 0, 0));
            conds.push(insn(ALU32_AND_K, 6, 0, 0, !access & i32::from(ALL_ACCESS)));
            conds.push(insn(JMP_JNE_K, 6, 0, 0, 0));
        } else if !rule.allow && rule.access & ALL_ACCESS != ALL_ACCESS {
            // Any bit asked for is denied: (asked & denied) != 0.
            conds.push(insn(ALU32_MOV_X, 6, 3, 0, 0));
            conds.push(insn(ALU32_AND_K, 6, 0, 0, access));
            conds.push(insn(JMP_JEQ_K, 6, 0, 0, 0));
        }
        if rule.kind != 'a' {
            if let Some(major) = rule.major {
                conds.push(insn(JMP_JNE_K, 4, 0, 0, major as i32));
            }
            if let Some(minor) = rule.minor {
                conds.push(insn(JMP_JNE_K, 5, 0, 0, minor as i32));
            }
        }
        let unconditional = conds.is_empty();
        let block_len = conds.len() + 2;
        for (i, mut c) in conds.into_iter().enumerate() {
            if c.code == JMP_JNE_K || c.code == JMP_JEQ_K {
                // Jump past the rest of this block: to the first insn of the next rule.
                c.off = (block_len - (i + 1)) as i16;
            }
            prog.push(c);
        }
        prog.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow)));
        prog.push(insn(JMP_EXIT, 0, 0, 0, 0));
        if unconditional {
            // Rules before it can never be reached (and the verifier rejects dead code).
            return prog;
        }
    }
    prog.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    prog.push(insn(JMP_EXIT, 0, 0, 0, 0));
    prog
}

/// `union bpf_attr` for `BPF_PROG_LOAD`, the fields up to `expected_attach_type`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for `BPF_PROG_ATTACH`.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, initialised `#[repr(C)]` prefix of `union bpf_attr` for
    // `cmd`, and its size is passed so the kernel reads no further; every pointer inside
    // it points to memory the caller keeps alive for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Load the program for `rules` and attach it to the cgroup directory `dir`. The program
/// stays attached (and loaded) until the cgroup is removed.
pub fn install(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let prog = assemble(rules);
    let license = CString::new("Apache").expect("no NUL");
    let mut name = [0u8; 16];
    name[..14].copy_from_slice(b"isc_devices_v2");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    let loaded = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => fd,
        Err(e) => {
            // Load again with the verifier's log, to say why.
            let mut log = vec![0u8; 1 << 16];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0').trim();
            let last = text.lines().last().unwrap_or("");
            return Err(CgroupError::Invalid(format!(
                "load the cgroup v2 device filter (eBPF, {} instructions) for {}: {e}{}",
                prog.len(),
                dir.display(),
                if last.is_empty() {
                    String::new()
                } else {
                    format!(": verifier: {last}")
                }
            )));
        }
    };
    // SAFETY: BPF_PROG_LOAD returned a new file descriptor that nothing else owns.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(loaded as i32) };
    let cgroup = std::fs::File::open(dir).map_err(|source| CgroupError::Op {
        op: "open",
        path: dir.display().to_string(),
        source,
        hint: None,
    })?;
    let mut attach = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|source| CgroupError::Op {
        op: "attach the eBPF device filter (BPF_PROG_ATTACH)",
        path: dir.display().to_string(),
        source,
        hint: None,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::{DEFAULT_ALLOWED, MKNOD, READ, WRITE};

    /// Run the assembled program on one request, the way the kernel would.
    fn run(prog: &[Insn], dev_type: i32, access: u8, major: u32, minor: u32) -> bool {
        let ctx = [((access as u32) << 16) | dev_type as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP_JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JEQ_K if r[dst] == i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JNE_K | JMP_JEQ_K => {}
                JMP_EXIT => return r[0] == 1,
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    fn rule(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, access: u8) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access,
        }
    }

    #[test]
    fn later_rules_win_and_default_is_deny() {
        let mut rules = vec![
            rule(false, 'a', None, None, READ | WRITE | MKNOD),
            rule(true, 'c', Some(10), Some(229), READ | WRITE),
            rule(false, 'c', Some(10), Some(229), WRITE),
        ];
        rules.extend(DEFAULT_ALLOWED);
        let p = assemble(&rules);
        assert!(run(&p, DEV_CHAR, READ | WRITE, 1, 3), "/dev/null");
        assert!(run(&p, DEV_CHAR, READ, 136, 7), "a pty");
        assert!(run(&p, DEV_BLOCK, MKNOD, 8, 0), "mknod of any block device");
        assert!(!run(&p, DEV_BLOCK, READ, 8, 0), "but not reading it");
        assert!(run(&p, DEV_CHAR, READ, 10, 229), "fuse read allowed");
        assert!(
            !run(&p, DEV_CHAR, WRITE, 10, 229),
            "fuse write denied later"
        );
        assert!(
            !run(&p, DEV_CHAR, READ | WRITE, 10, 229),
            "a request touching a denied bit"
        );
        assert!(
            !run(&p, DEV_CHAR, READ, 1, 11),
            "/dev/kmsg: no rule allows it"
        );
    }

    #[test]
    fn an_unconditional_rule_ends_the_program() {
        let rules = vec![
            rule(true, 'c', Some(1), Some(3), READ),
            rule(true, 'a', None, None, READ | WRITE | MKNOD),
        ];
        let p = assemble(&rules);
        assert_eq!(p.len(), PROLOGUE.len() + 2, "no dead code after allow-all");
        assert!(run(&p, DEV_BLOCK, WRITE, 8, 1));
    }

    #[test]
    fn partial_allow_needs_every_bit() {
        let rules = vec![
            rule(true, 'c', Some(1), Some(5), READ),
            rule(true, 'c', Some(1), Some(5), WRITE),
        ];
        let p = assemble(&rules);
        assert!(run(&p, DEV_CHAR, READ, 1, 5));
        assert!(run(&p, DEV_CHAR, WRITE, 1, 5));
        assert!(
            !run(&p, DEV_CHAR, READ | WRITE, 1, 5),
            "as v1: one rule must cover all"
        );
        assert!(!run(&p, DEV_BLOCK, READ, 1, 5), "type must match");
    }
}
