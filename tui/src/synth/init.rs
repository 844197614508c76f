//! [2:INIT] on its own: the root filesystem, procHooks/procReady, exec.fifo; then
//! `start`, the exec and the exit. Or the failure at `mount /proc`.

use initscope_probe::schema::{KernelKind, Namespaces};
use initscope_runtime::events::schema::{EventKind, Stage};

use super::*;

pub(super) fn run(g: &mut Gen, p: &Pids, init_ns: Namespaces) {
    let (create, init, start) = (p.create, p.init, p.start);
    let c = (Stage::Create, create);
    let it = (Stage::Init, init);
    let cc = "initscope-runt";
    let id = g.o.container.clone();
    let rootfs = format!("/run/initscope/{id}/rootfs");
    let mounts: &[(&str, &str, &str)] = &[
        (&rootfs, &rootfs, "bind"),
        ("proc", "/proc", "proc"),
        ("tmpfs", "/dev", "tmpfs"),
        ("devpts", "/dev/pts", "devpts"),
        ("shm", "/dev/shm", "tmpfs"),
        ("mqueue", "/dev/mqueue", "mqueue"),
        ("sysfs", "/sys", "sysfs"),
        ("cgroup", "/sys/fs/cgroup", "cgroup"),
    ];
    for (i, (src, dst, fstype)) in mounts.iter().enumerate() {
        if i == 1 && g.o.fail == Some(FailAt::InitMount) {
            g.rt(
                60,
                Stage::Init,
                init,
                EventKind::Error {
                    step: "mount".into(),
                    errno: Some(1),
                    message: "mount proc on /proc: Operation not permitted".into(),
                },
            );
            g.send(it, c, "procError");
            g.rt(
                20,
                Stage::Init,
                init,
                EventKind::StageExit {
                    status: 1,
                    dropped: 0,
                },
            );
            g.k(
                30,
                init,
                create,
                "isc:[2:INIT]",
                1,
                1,
                KernelKind::Exit {
                    code: Some(1),
                    signal: None,
                    core_dumped: false,
                },
            );
            g.rt(
                50,
                Stage::Create,
                create,
                EventKind::Error {
                    step: "create".into(),
                    errno: None,
                    message: format!(
                        "container {id}: init failed: mount proc on /proc: Operation not permitted"
                    ),
                },
            );
            g.rt(
                200,
                Stage::Create,
                create,
                EventKind::StageExit {
                    status: 1,
                    dropped: 0,
                },
            );
            g.k(
                40,
                create,
                1000,
                cc,
                create,
                0,
                KernelKind::Exit {
                    code: Some(1),
                    signal: None,
                    core_dumped: false,
                },
            );
            return;
        }
        g.rt(
            70,
            Stage::Init,
            init,
            EventKind::Mount {
                source: src.to_string(),
                destination: dst.to_string(),
                fstype: fstype.to_string(),
                flags: vec!["MS_NOSUID".into()],
                data: String::new(),
            },
        );
    }
    for (i, dev) in ["null", "zero", "full", "random", "urandom", "tty"]
        .iter()
        .enumerate()
    {
        g.rt(
            25,
            Stage::Init,
            init,
            EventKind::Device {
                path: format!("/dev/{dev}"),
                dev_type: "c".into(),
                major: if i < 5 { 1 } else { 5 },
                minor: [3, 5, 7, 8, 9, 0][i],
                bind: false,
            },
        );
    }
    for (l, t) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        g.rt(
            15,
            Stage::Init,
            init,
            EventKind::Symlink {
                path: l.into(),
                target: t.into(),
            },
        );
    }
    g.send(it, c, "procHooks");
    g.send(c, it, "procResume");
    g.rt(
        120,
        Stage::Init,
        init,
        EventKind::PivotRoot {
            rootfs: rootfs.clone(),
            method: "pivot_root".into(),
        },
    );
    for m in [
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/sys/firmware",
    ] {
        g.rt(
            20,
            Stage::Init,
            init,
            EventKind::MaskPath { path: m.into() },
        );
    }
    for r in [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ] {
        g.rt(
            20,
            Stage::Init,
            init,
            EventKind::ReadonlyPath { path: r.into() },
        );
    }
    g.rt(
        30,
        Stage::Init,
        init,
        EventKind::Hostname {
            hostname: id.clone(),
        },
    );
    g.rt(
        30,
        Stage::Init,
        init,
        EventKind::User {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            umask: None,
        },
    );
    let caps: Vec<String> = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    g.rt(
        40,
        Stage::Init,
        init,
        EventKind::Caps {
            bounding: caps.clone(),
            effective: caps.clone(),
            inheritable: vec![],
            permitted: caps,
            ambient: vec![],
        },
    );
    g.rt(20, Stage::Init, init, EventKind::NoNewPrivs {});
    g.send(it, c, "procReady");
    let fifo = format!("/run/initscope/{id}/exec.fifo");
    g.rt(
        30,
        Stage::Init,
        init,
        EventKind::WaitStart { fifo: fifo.clone() },
    );
    g.rt(
        300,
        Stage::Create,
        create,
        EventKind::State {
            status: "created".into(),
        },
    );
    g.rt(
        40,
        Stage::Create,
        create,
        EventKind::StageExit {
            status: 0,
            dropped: 0,
        },
    );
    g.k(
        60,
        create,
        1000,
        cc,
        create,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    );
    if !g.o.start {
        return;
    }

    // `initscope-runtime start`, a while later, opens exec.fifo: init runs the program.
    g.tick(250_000);
    g.rt(
        0,
        Stage::Start,
        start,
        EventKind::StageStart {
            comm: "initscope-runtime".into(),
            ppid: 1000,
            ns_pid: Some(start),
        },
    );
    g.rt(
        60,
        Stage::Start,
        start,
        EventKind::State {
            status: "running".into(),
        },
    );
    let argv = vec![
        "/bin/sh".to_string(),
        "-c".into(),
        "echo hello from the container".into(),
    ];
    g.rt(
        40,
        Stage::Init,
        init,
        EventKind::Exec {
            path: "/bin/sh".into(),
            args: argv.clone(),
        },
    );
    g.k(
        150,
        init,
        create,
        "sh",
        1,
        1,
        KernelKind::Exec {
            filename: "/bin/sh".into(),
            argv,
            ret: 0,
            errno: None,
            ns: Some(init_ns),
        },
    );
    g.rt(
        30,
        Stage::Start,
        start,
        EventKind::StageExit {
            status: 0,
            dropped: 0,
        },
    );
    g.k(
        2_000,
        init,
        1,
        "sh",
        1,
        1,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    );
}
