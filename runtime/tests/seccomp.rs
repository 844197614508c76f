//! Seccomp for real: each test compiles a profile in the test process, forks a child that
//! loads it with `Filter::load` and then makes syscalls, and reads the verdict from how the
//! child ended (its exit code is the errno it saw, or the signal that killed it).
//! Needs root only for the runc comparison (skipped without runc); loading a filter needs
//! CAP_SYS_ADMIN or no_new_privs, and the children set neither unless a test says so.

mod seccomp_common;

use std::os::fd::{AsFd, AsRawFd};
use std::process::Command;

use initscope_runtime::fdpass;
use nix::sys::signal::Signal;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use seccomp_common::*;
use serde_json::json;

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
fn log_default_allows_and_returns_seccomp_ret_log() {
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
    // LOG, not ALLOW: the program's default verdict is SECCOMP_RET_LOG (BPF_RET|BPF_K).
    assert!(
        f.program()
            .iter()
            .any(|i| i.code == 0x06 && i.k == libc::SECCOMP_RET_LOG),
        "no `ret SECCOMP_RET_LOG` in the program"
    );
    // The kernel's audit record (type 1326) goes to dmesg when no audit daemon listens, but
    // printk rate-limits it (10 per 5 s, shared with the kill tests and the whole machine):
    // report it when it is there, do not depend on it.
    let logged = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_logged")
        .is_ok_and(|a| a.split_whitespace().any(|w| w == "log"));
    if nix::unistd::geteuid().is_root() && logged {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let out = Command::new("dmesg").output().expect("dmesg");
        let needle = format!("pid={pid} ");
        let seen = String::from_utf8_lossy(&out.stdout).lines().any(|l| {
            l.contains("type=1326") && l.contains(&needle) && l.contains("code=0x7ffc0000")
        });
        eprintln!("SECCOMP_RET_LOG audit record for pid {pid} in dmesg: {seen}");
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
