//! Seccomp for real: each test compiles a profile in the test process, forks a child that
//! loads it with `Filter::load` and then makes syscalls, and reads the verdict from how the
//! child ended (its exit code is the errno it saw, or the signal that killed it).
//! Needs root only for the runc comparison (skipped without runc); loading a filter needs
//! CAP_SYS_ADMIN or no_new_privs, and the children set neither unless a test says so.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::process::Command;

use initscope_runtime::fdpass;
use initscope_runtime::seccomp::{compile, Filter};
use nix::sys::signal::Signal;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;

fn filter(v: serde_json::Value) -> Filter {
    let cfg: LinuxSeccomp = serde_json::from_value(v).expect("profile parses");
    compile(&cfg).expect("profile compiles")
}

/// Run `f` in a forked child and return how it ended. The child exits with `f`'s value; a
/// panic is exit 101.
fn in_child(f: impl FnOnce() -> i32) -> WaitStatus {
    // SAFETY: the child only makes syscalls and leaves with _exit; it never returns into
    // the test harness (whose other threads do not exist in it).
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => waitpid(child, None).expect("waitpid"),
    }
}

fn load_or_exit(f: &Filter) {
    if f.load().is_err() {
        // SAFETY: leaving the child; 200 marks "the load itself failed".
        unsafe { libc::_exit(200) }
    }
}

/// The errno of the last failed call, as an exit code.
fn errno() -> i32 {
    nix::errno::Errno::last_raw()
}

fn exited(s: WaitStatus) -> i32 {
    match s {
        WaitStatus::Exited(_, c) => c,
        other => panic!("child did not exit normally: {other:?}"),
    }
}

fn mkdir(path: &Path) -> i32 {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::mkdir(c.as_ptr(), 0o755) } == 0 {
        0
    } else {
        errno()
    }
}

const BUSYBOX: &str = "/bin/busybox";

const MKDIR_NAMES: [&str; 2] = ["mkdir", "mkdirat"];

#[test]
fn errno_action_returns_eperm_by_default_and_unknown_names_are_skipped() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat", "initscope_no_such_call"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert_eq!(
        f.summary().skipped,
        vec!["initscope_no_such_call".to_string()]
    );
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("blocked");
    let code = exited(in_child(|| {
        load_or_exit(&f);
        mkdir(&target)
    }));
    assert_eq!(
        code,
        libc::EPERM,
        "mkdir must fail with EPERM under the filter"
    );
    assert!(!target.exists(), "the blocked mkdir must not have happened");
    // Without the filter the same call works: the filter made the difference.
    assert_eq!(exited(in_child(|| mkdir(&target))), 0);
    assert!(target.is_dir());
}

#[test]
fn errno_ret_and_default_errno_ret_are_returned() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": MKDIR_NAMES, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV}]
    }));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("x");
    assert_eq!(
        exited(in_child(|| {
            load_or_exit(&f);
            mkdir(&target)
        })),
        libc::EXDEV
    );

    // Default ERRNO with its own errno; only what the child needs to leave is allowed.
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EOPNOTSUPP,
        "syscalls": [{"names": ["exit_group", "exit"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(f.summary().default_action, "SCMP_ACT_ERRNO(EOPNOTSUPP)");
    assert_eq!(
        exited(in_child(|| {
            load_or_exit(&f);
            // SAFETY: getppid has no arguments.
            if unsafe { libc::syscall(libc::SYS_getppid) } == -1 {
                errno()
            } else {
                0
            }
        })),
        libc::EOPNOTSUPP
    );
}

#[test]
fn kill_actions_end_the_process_with_sigsys() {
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
    ] {
        let f = filter(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": action}]
        }));
        let s = in_child(|| {
            load_or_exit(&f);
            // SAFETY: getppid has no arguments.
            unsafe { libc::syscall(libc::SYS_getppid) };
            0
        });
        assert!(
            matches!(s, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
            "{action}: {s:?}"
        );
    }
}

extern "C" fn on_sigsys(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe; 77 tells the parent the handler ran.
    unsafe { libc::_exit(77) }
}

#[test]
fn trap_sends_a_catchable_sigsys_and_trace_without_tracer_is_enosys() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_TRAP"}]
    }));
    let s = in_child(|| {
        let h = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(on_sigsys),
            nix::sys::signal::SaFlags::empty(),
            nix::sys::signal::SigSet::empty(),
        );
        // SAFETY: the handler only calls _exit.
        unsafe { nix::sys::signal::sigaction(Signal::SIGSYS, &h) }.unwrap();
        load_or_exit(&f);
        // SAFETY: getppid has no arguments.
        unsafe { libc::syscall(libc::SYS_getppid) };
        0
    });
    assert_eq!(exited(s), 77, "the SIGSYS handler ran");

    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_TRACE"}]
    }));
    let s = in_child(|| {
        load_or_exit(&f);
        // SAFETY: getppid has no arguments.
        if unsafe { libc::syscall(libc::SYS_getppid) } == -1 {
            errno()
        } else {
            0
        }
    });
    assert_eq!(
        exited(s),
        libc::ENOSYS,
        "no tracer: the kernel answers ENOSYS"
    );
}

#[test]
fn log_default_allows_and_the_kernel_logs_it() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_LOG",
        "syscalls": [{"names": MKDIR_NAMES, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EROFS}]
    }));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("x");
    let (rd, wr) = nix::unistd::pipe().unwrap();
    let s = in_child(|| {
        load_or_exit(&f);
        let pid = std::process::id().to_string();
        let _ = nix::unistd::write(&wr, pid.as_bytes());
        // SAFETY: getppid has no arguments.
        let ppid = unsafe { libc::syscall(libc::SYS_getppid) };
        if ppid <= 0 {
            return 1;
        }
        if mkdir(&target) != libc::EROFS {
            return 2;
        }
        0
    });
    drop(wr);
    assert_eq!(
        exited(s),
        0,
        "logged calls run; the errno rule still applies"
    );
    let mut buf = [0u8; 16];
    let n = nix::unistd::read(&rd, &mut buf).unwrap();
    let pid = std::str::from_utf8(&buf[..n]).unwrap().to_string();
    // The audit record of SECCOMP_RET_LOG (type 1326) goes to the kernel log when no audit
    // daemon listens (dmesg needs CAP_SYSLOG: root only).
    let logged = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_logged")
        .is_ok_and(|a| a.split_whitespace().any(|w| w == "log"));
    if nix::unistd::geteuid().is_root() && logged {
        let out = Command::new("dmesg").output().expect("dmesg");
        let log = String::from_utf8_lossy(&out.stdout);
        let needle = format!("pid={pid} ");
        assert!(
            log.lines()
                .any(|l| l.contains("type=1326") && l.contains(&needle)),
            "no seccomp audit record for pid {pid} in dmesg"
        );
    }
}

fn personality(p: libc::c_ulong) -> i32 {
    // SAFETY: personality takes one integer.
    let r = unsafe { libc::syscall(libc::SYS_personality, p) };
    if r == -1 {
        errno()
    } else {
        0
    }
}

#[test]
fn argument_filters_repeated_index_is_or_distinct_indices_are_and() {
    // docker's personality rule: only a few values allowed, the rest gets the default.
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["exit_group", "exit"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 0xffffffffu64, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    let s = in_child(|| {
        load_or_exit(&f);
        let query = personality(0xffffffff);
        let zero = personality(0);
        let other = personality(0x0008);
        if query != 0 {
            return 10;
        }
        if zero != 0 {
            return 11;
        }
        other
    });
    assert_eq!(
        exited(s),
        libc::EPERM,
        "0xffffffff and 0 pass, 8 gets the default"
    );

    // Distinct indices: both conditions must hold.
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EAFNOSUPPORT, "args": [
            {"index": 0, "value": libc::AF_UNIX, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": libc::SOCK_DGRAM, "op": "SCMP_CMP_EQ"}]}]
    }));
    let s = in_child(|| {
        load_or_exit(&f);
        let try_socket = |d, t| {
            // SAFETY: socket takes integers; the fd (if any) is left to _exit.
            if unsafe { libc::socket(d, t, 0) } < 0 {
                errno()
            } else {
                0
            }
        };
        let unix_dgram = try_socket(libc::AF_UNIX, libc::SOCK_DGRAM);
        let unix_stream = try_socket(libc::AF_UNIX, libc::SOCK_STREAM);
        let inet_dgram = try_socket(libc::AF_INET, libc::SOCK_DGRAM);
        if unix_stream != 0 || inet_dgram != 0 {
            return 12;
        }
        unix_dgram
    });
    assert_eq!(exited(s), libc::EAFNOSUPPORT);
}

#[test]
fn masked_eq_compares_after_the_mask() {
    // umask(m) is refused when (m & 0o077) == 0o022.
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["umask"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 0o077, "valueTwo": 0o022, "op": "SCMP_CMP_MASKED_EQ"}]}]
    }));
    let s = in_child(|| {
        load_or_exit(&f);
        let umask = |m: libc::c_ulong| {
            // SAFETY: umask takes one integer.
            if unsafe { libc::syscall(libc::SYS_umask, m) } == -1 {
                errno()
            } else {
                0
            }
        };
        let other = umask(0o027);
        let high_bits_ignored = umask(0o122);
        if other != 0 {
            return 13;
        }
        high_bits_ignored
    });
    assert_eq!(exited(s), libc::EPERM);
}

#[test]
fn notify_returns_a_listener_fd_that_answers_for_the_kernel() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/initscope-test-agent.sock",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(f.summary().notify);
    assert!(f
        .summary()
        .flags
        .contains(&"SECCOMP_FILTER_FLAG_NEW_LISTENER".to_string()));
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    // SAFETY: the child only makes syscalls and leaves with _exit.
    let child = match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(ours);
            let code = match f.load() {
                Ok(Some(fd)) => {
                    if fdpass::send_fd(&theirs, fd.as_fd(), b"seccompFd").is_err() {
                        3
                    } else {
                        drop(fd);
                        // SAFETY: getppid has no arguments; the agent answers for the kernel.
                        let r = unsafe { libc::syscall(libc::SYS_getppid) };
                        if r == 4242 {
                            0
                        } else {
                            4
                        }
                    }
                }
                Ok(None) => 5,
                Err(_) => 6,
            };
            // SAFETY: leaving the child.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    let (fd, name) = fdpass::recv_fd(&ours).expect("the child sends its listener fd");
    assert_eq!(name, b"seccompFd");
    let req = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()).expect("a notification");
    assert_eq!(req.pid, child.as_raw() as u32);
    assert_eq!(
        req.data.syscall,
        libseccomp::ScmpSyscall::from_name("getppid").unwrap()
    );
    libseccomp::ScmpNotifResp::new_val(req.id, 4242, libseccomp::ScmpNotifRespFlags::empty())
        .respond(fd.as_raw_fd())
        .expect("respond");
    assert_eq!(
        exited(waitpid(child, None).unwrap()),
        0,
        "getppid returned our 4242"
    );
}

#[test]
fn loading_without_no_new_privs_or_cap_sys_admin_is_refused_clearly() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}));
    let (rd, wr) = nix::unistd::pipe().unwrap();
    let s = in_child(|| {
        // Becoming nobody drops every capability; no_new_privs stays off.
        if nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).is_err() {
            return 1;
        }
        match f.load() {
            Ok(_) => 0,
            Err(e) => {
                let _ = nix::unistd::write(&wr, e.to_string().as_bytes());
                e.errno().unwrap_or(2)
            }
        }
    });
    drop(wr);
    assert_eq!(exited(s), libc::EACCES);
    let mut msg = vec![0u8; 512];
    let n = nix::unistd::read(&rd, &mut msg).unwrap();
    let msg = String::from_utf8_lossy(&msg[..n]);
    assert!(msg.contains("noNewPrivileges or CAP_SYS_ADMIN"), "{msg}");

    // With no_new_privs the same unprivileged load works.
    let s = in_child(|| {
        if nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).is_err() {
            return 1;
        }
        if nix::sys::prctl::set_no_new_privs().is_err() {
            return 2;
        }
        match f.load() {
            Ok(_) => 0,
            Err(e) => e.errno().unwrap_or(3),
        }
    });
    assert_eq!(exited(s), 0);
}

#[test]
fn bad_action_and_architecture_are_rejected_naming_the_field() {
    let e = initscope_runtime::seccomp::check_json(&json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_EXPLODE"}]
    }))
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("linux.seccomp.syscalls[0].action: unknown action \"SCMP_ACT_EXPLODE\""),
        "{e}"
    );
    let e = initscope_runtime::seccomp::check_json(&json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_PDP11"]
    }))
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("linux.seccomp.architectures[0]: unknown architecture \"SCMP_ARCH_PDP11\""),
        "{e}"
    );
}

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
