//! Seccomp as runc does it: one profile under Debian's runc and under our filter gives the
//! same output, and runc's -ENOSYS stub answers syscalls newer than the profile (on x86_64
//! and, through `int 0x80`, i386). Needs root and runc for the comparison (skipped without).

mod seccomp_common;

use std::ffi::CString;
use std::path::Path;
use std::process::Command;

use seccomp_common::*;
use serde_json::json;

/// One profile, two runtimes: runc (Debian's, with its libseccomp-golang) runs a busybox
/// script in a container under the profile; our filter runs the same script in a child.
/// What the script reports — which calls failed, with which errno — must be the same.
#[test]
fn same_verdicts_as_runc_on_one_profile() {
    let runc = Path::new("/usr/sbin/runc");
    if !nix::unistd::geteuid().is_root() || !runc.exists() {
        eprintln!("skipped: needs root and runc");
        return;
    }
    // Many rarely used calls denied (more than 32 names: libseccomp's binary tree, as runc
    // switches it on), an errnoRet, an argument filter, a name this kernel does not know.
    let rare = [
        "acct",
        "add_key",
        "bpf",
        "clock_adjtime",
        "clock_settime",
        "create_module",
        "delete_module",
        "finit_module",
        "get_kernel_syms",
        "get_mempolicy",
        "init_module",
        "ioperm",
        "iopl",
        "kcmp",
        "kexec_file_load",
        "kexec_load",
        "keyctl",
        "lookup_dcookie",
        "mbind",
        "move_pages",
        "nfsservctl",
        "open_by_handle_at",
        "perf_event_open",
        "pivot_root",
        "process_vm_readv",
        "process_vm_writev",
        "ptrace",
        "query_module",
        "quotactl",
        "reboot",
        "request_key",
        "set_mempolicy",
        "setns",
        "settimeofday",
        "swapoff",
        "swapon",
        "sysfs",
        "_sysctl",
        "umount",
        "umount2",
        "unshare",
        "uselib",
        "userfaultfd",
        "ustat",
        "vm86",
        "vm86old",
        "initscope_not_a_syscall",
    ];
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": rare.to_vec(), "action": "SCMP_ACT_ERRNO"},
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV},
            {"names": ["chmod", "fchmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES,
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
        ]
    });
    let script = "mkdir d; echo mkdir=$?; touch f; echo touch=$?; chmod 600 f; echo chmod=$?; \
                  linux32 true; echo linux32=$?; unshare -U true; echo unshare=$?; echo done";

    // runc: a busybox bundle with the profile.
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    let rootfs = bundle.join("rootfs");
    for d in ["bin", "tmp", "proc", "dev", "sys"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    let out = Command::new(runc)
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "runc spec: {out:?}");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["/bin/busybox", "sh", "-c", script]);
    config["process"]["cwd"] = json!("/tmp");
    config["root"]["readonly"] = json!(false);
    config["linux"]["seccomp"] = profile.clone();
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    let id = format!("isc-seccomp-{}", std::process::id());
    let root = tmp.path().join("runc-root");
    let out = Command::new(runc)
        .arg("--root")
        .arg(&root)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    // Whatever happened, leave no container behind.
    let _ = Command::new(runc)
        .arg("--root")
        .arg(&root)
        .args(["delete", "--force", &id])
        .output();
    let theirs =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(theirs.contains("done"), "runc run: {out:?}");

    // Ours: the same script in a child, under our filter, in a scratch cwd.
    let f = filter(profile);
    assert!(f.summary().syscalls > 32);
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let (rd, wr) = nix::unistd::pipe().unwrap();
    let s = in_child(|| {
        let _ = nix::unistd::dup2_stdout(&wr);
        let _ = nix::unistd::dup2_stderr(&wr);
        if std::env::set_current_dir(&work).is_err() {
            return 1;
        }
        // runc's default spec sets noNewPrivileges: load the way runc did.
        let _ = nix::sys::prctl::set_no_new_privs();
        load_or_exit(&f);
        let prog = CString::new(BUSYBOX).unwrap();
        let args = ["sh", "-c", script].map(|a| CString::new(a).unwrap());
        let _ = nix::unistd::execv(&prog, &args);
        2
    });
    drop(wr);
    let mut ours = Vec::new();
    let mut file = std::fs::File::from(rd);
    std::io::Read::read_to_end(&mut file, &mut ours).unwrap();
    let ours = String::from_utf8_lossy(&ours).into_owned();
    assert_eq!(exited(s), 0, "{ours}");

    let norm = |s: &str| {
        let mut l: Vec<String> = s.lines().map(str::to_string).collect();
        l.sort();
        l
    };
    eprintln!("under the profile (ours = runc):\n{ours}");
    assert_eq!(norm(&ours), norm(&theirs), "ours:\n{ours}\nrunc:\n{theirs}");
    for want in ["mkdir=1", "chmod=1", "linux32=1", "unshare=1", "touch=0"] {
        assert!(ours.contains(want), "{want} missing in:\n{ours}");
    }
}

/// A syscall through the i386 entry point (`int 0x80`), with no arguments: returns the
/// raw result (`-errno` on failure).
#[cfg(target_arch = "x86_64")]
fn int80(nr: i32) -> i32 {
    let ret: i32;
    // SAFETY: `int 0x80` with eax = nr and zeroed argument registers; the kernel preserves
    // every register but eax, and the seccomp filter answers these calls without running
    // them.
    unsafe {
        // rbx belongs to LLVM: swap a zero into it around the call.
        std::arch::asm!(
            "xchg {z}, rbx",
            "int 0x80",
            "xchg {z}, rbx",
            z = inout(reg) 0u64 => _,
            inlateout("eax") nr => ret,
            in("ecx") 0, in("edx") 0, in("esi") 0, in("edi") 0,
            options(nostack),
        );
    }
    ret
}

#[cfg(not(target_arch = "x86_64"))]
fn int80(_nr: i32) -> i32 {
    -libc::ENOSYS
}

/// runc's -ENOSYS stub: under a refusing default, a syscall newer than anything the profile
/// names fails with ENOSYS (so glibc falls back from clone3 to clone), an older one that is
/// not allowed still gets the default errno.
#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    if libseccomp::ScmpArch::native() != libseccomp::ScmpArch::X8664 {
        eprintln!("skipped: syscall numbers below are x86_64's");
        return;
    }
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        // The largest named x86_64 syscall is exit_group (231).
        "syscalls": [{"names": ["exit_group", "exit", "getppid", "write"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert!(f.summary().enosys_stub);
    let s = in_child(|| {
        load_or_exit(&f);
        let call = |nr: libc::c_long| {
            // SAFETY: raw syscalls with zero arguments; the filter answers before the kernel
            // looks at any of them.
            if unsafe { libc::syscall(nr, 0, 0, 0) } == -1 {
                errno()
            } else {
                0
            }
        };
        let clone3 = call(libc::SYS_clone3); // 435 > 231
        let getuid = call(libc::SYS_getuid); // 102 <= 231, not allowed
        let getppid = call(libc::SYS_getppid); // allowed
        if getppid != 0 {
            return 20;
        }
        if getuid != libc::EPERM {
            return 21;
        }
        clone3
    });
    assert_eq!(exited(s), libc::ENOSYS);

    // The i386 ABI (int 0x80 from this 64-bit process) has its own limit: exit_group is
    // 252 there. Its clone3 (435) is newer; its getuid32 (199) is older and refused.
    let s = in_child(|| {
        load_or_exit(&f);
        let ret_clone3 = int80(435);
        let ret_getuid32 = int80(199);
        if ret_getuid32 != -libc::EPERM {
            return 22;
        }
        -ret_clone3
    });
    assert_eq!(exited(s), libc::ENOSYS);

    // runc adds the stub only for listed architectures: without them clone3 gets EPERM.
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["exit_group", "exit", "getppid", "write"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert!(!f.summary().enosys_stub);
    let s = in_child(|| {
        load_or_exit(&f);
        // SAFETY: a raw syscall the filter refuses before the kernel looks at it.
        if unsafe { libc::syscall(libc::SYS_clone3, 0, 0) } == -1 {
            errno()
        } else {
            0
        }
    });
    assert_eq!(exited(s), libc::EPERM);

    // With a permissive default there is no stub: the kernel itself answers.
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["getuid"], "action": "SCMP_ACT_ERRNO"}]}));
    assert!(!f.summary().enosys_stub);
}
