//! Synthetic event streams that follow design.md's bootstrap diagram step by step, with
//! both sources (the runtime's stage events and the probe's kernel events: forks with
//! CLONE_PARENT, renames, unshares with namespace inodes, exec, exit), realistic pids,
//! inode numbers and CLOCK_MONOTONIC times; and a kernel-only stream shaped like
//! `runc run` (runc 1.1's renames and flags). Used by tests, snapshots and benchmarks;
//! the shipped recordings in `tui/recordings/` are the real thing.

use initscope_probe::schema::{KernelEvent, KernelKind, KernelSource, Namespaces};
use initscope_runtime::events::flags::clone_flag_names;
use initscope_runtime::events::schema::{
    EventKind, RuntimeEvent, RuntimeSource, Stage, SCHEMA_VERSION,
};

use crate::event::Event;

const SIGCHLD: u64 = 17;
const CLONE_PARENT: u64 = 0x8000;
const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
const NEWNS: u64 = 0x0002_0000;
const NEWCGROUP: u64 = 0x0200_0000;
const NEWUTS: u64 = 0x0400_0000;
const NEWIPC: u64 = 0x0800_0000;
const NEWUSER: u64 = 0x1000_0000;
const NEWPID: u64 = 0x2000_0000;
const NEWNET: u64 = 0x4000_0000;

/// The host's namespaces (inode numbers as a fresh Linux boot numbers them).
pub fn host_ns() -> Namespaces {
    Namespaces {
        pid: 4026531836,
        pid_for_children: 4026531836,
        mnt: 4026531841,
        net: 4026531840,
        uts: 4026531838,
        ipc: 4026531839,
        cgroup: 4026531835,
        user: 4026531837,
        time: 4026531834,
    }
}

/// Where a synthetic bootstrap fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAt {
    /// Init cannot mount /proc (EPERM): it reports procError and create gives up.
    InitMount,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub container: String,
    /// Pid of `create`; the stages get the next pids.
    pub pid: i32,
    /// CLOCK_MONOTONIC ns of the first event.
    pub t0: u64,
    pub runtime: bool,
    pub kernel: bool,
    pub userns: bool,
    /// Also run `start` (init execs the user's program) and let it exit.
    pub start: bool,
    pub fail: Option<FailAt>,
    /// First inode number for new namespaces.
    pub ns_base: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            container: "demo".into(),
            pid: 4100,
            t0: 5_123_456_789_000,
            runtime: true,
            kernel: true,
            userns: true,
            start: true,
            fail: None,
            ns_base: 4026532300,
        }
    }
}

/// Builds a stream; time advances by small steps like a real bootstrap (tens of µs).
struct Gen {
    o: Options,
    ts: u64,
    n: u64,
    out: Vec<Event>,
}

impl Gen {
    fn tick(&mut self, us: u64) -> u64 {
        self.n += 1;
        self.ts += us * 1000 + (self.n * 37) % 900;
        self.ts
    }

    fn rt(&mut self, us: u64, stage: Stage, pid: i32, kind: EventKind) {
        let ts = self.tick(us);
        if self.o.runtime {
            self.out.push(Event::Runtime(RuntimeEvent {
                v: SCHEMA_VERSION,
                ts_ns: ts,
                source: RuntimeSource::Runtime,
                container: self.o.container.clone(),
                exec_id: None,
                stage,
                pid,
                kind,
            }));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn k(
        &mut self,
        us: u64,
        pid: i32,
        ppid: i32,
        comm: &str,
        ns_pid: i32,
        level: u32,
        kind: KernelKind,
    ) {
        let ts = self.tick(us);
        if self.o.kernel {
            self.out
                .push(kernel(ts, pid, ppid, comm, ns_pid, level, kind));
        }
    }

    fn send(&mut self, from: (Stage, i32), to: (Stage, i32), msg: &str) {
        self.rt(
            15,
            from.0,
            from.1,
            EventKind::SyncSend {
                msg: msg.into(),
                peer: to.0,
                data: None,
            },
        );
        self.rt(
            8,
            to.0,
            to.1,
            EventKind::SyncRecv {
                msg: msg.into(),
                peer: from.0,
                data: None,
            },
        );
    }
}

/// A kernel event envelope.
pub fn kernel(
    ts: u64,
    pid: i32,
    ppid: i32,
    comm: &str,
    ns_pid: i32,
    level: u32,
    kind: KernelKind,
) -> Event {
    Event::Kernel(KernelEvent {
        v: SCHEMA_VERSION,
        ts_ns: ts,
        source: KernelSource::Kernel,
        pid,
        tgid: pid,
        ppid,
        comm: comm.into(),
        uid: 0,
        cgroup_id: 0,
        ns_pid,
        ns_level: level,
        kind,
    })
}

fn fork(child: i32, parent: i32, flags: u64, ns: Namespaces, child_ns_pid: i32) -> KernelKind {
    KernelKind::Fork {
        child_pid: child,
        child_tgid: child,
        parent_tgid: parent,
        syscall: "clone".into(),
        flags: clone_flag_names(flags),
        flags_raw: flags,
        child_ns: Some(ns),
        child_ns_pid,
    }
}

fn names(flags: u64) -> Vec<String> {
    clone_flag_names(flags)
}

/// One initscope-runtime bootstrap, as design.md draws it.
pub fn initscope_bootstrap(o: Options) -> Vec<Event> {
    let create = o.pid;
    let parent = o.pid + 1;
    let child = o.pid + 2;
    let init = o.pid + 3;
    let start = o.pid + 40;
    let host = host_ns();
    let mut g = Gen {
        ts: o.t0,
        n: 0,
        out: Vec::new(),
        o,
    };
    let c = (Stage::Create, create);
    let p = (Stage::Parent, parent);
    let ch = (Stage::Child, child);
    let it = (Stage::Init, init);
    let cc = "initscope-runt";
    let id = g.o.container.clone();
    let nb = g.o.ns_base;

    g.k(
        0,
        create,
        1000,
        cc,
        create,
        0,
        KernelKind::Namespaces { ns: host },
    );
    g.rt(
        40,
        Stage::Create,
        create,
        EventKind::StageStart {
            comm: "initscope-runtime".into(),
            ppid: 1000,
            ns_pid: Some(create),
        },
    );
    g.rt(
        30,
        Stage::Create,
        create,
        EventKind::State {
            status: "creating".into(),
        },
    );
    g.rt(
        900,
        Stage::Create,
        create,
        EventKind::CgroupJoin {
            path: format!("/initscope/{id}"),
            pid: create,
            mode: "hybrid".into(),
        },
    );
    g.k(
        120,
        create,
        1000,
        cc,
        create,
        0,
        fork(parent, create, SIGCHLD, host, parent),
    );
    g.rt(
        10,
        Stage::Create,
        create,
        EventKind::Clone {
            flags: vec![],
            flags_raw: SIGCHLD,
            child_pid: parent,
            child_stage: Stage::Parent,
        },
    );
    g.k(
        40,
        parent,
        create,
        cc,
        parent,
        0,
        KernelKind::Rename {
            old_comm: cc.into(),
            new_comm: "isc:[0:PARENT]".into(),
        },
    );
    g.rt(
        5,
        Stage::Parent,
        parent,
        EventKind::StageStart {
            comm: "isc:[0:PARENT]".into(),
            ppid: create,
            ns_pid: Some(parent),
        },
    );
    g.send(c, p, "BOOTSTRAP_DATA");

    g.k(
        150,
        parent,
        create,
        "isc:[0:PARENT]",
        parent,
        0,
        fork(child, create, CLONE_PARENT | SIGCHLD, host, child),
    );
    g.rt(
        10,
        Stage::Parent,
        parent,
        EventKind::Clone {
            flags: names(CLONE_PARENT),
            flags_raw: CLONE_PARENT | SIGCHLD,
            child_pid: child,
            child_stage: Stage::Child,
        },
    );
    g.k(
        30,
        child,
        create,
        "isc:[0:PARENT]",
        child,
        0,
        KernelKind::Rename {
            old_comm: "isc:[0:PARENT]".into(),
            new_comm: "isc:[1:CHILD]".into(),
        },
    );
    g.rt(
        5,
        Stage::Child,
        child,
        EventKind::StageStart {
            comm: "isc:[1:CHILD]".into(),
            ppid: create,
            ns_pid: Some(child),
        },
    );

    let mut ns = host;
    let chc = "isc:[1:CHILD]";
    if g.o.userns {
        ns.user = nb;
        g.k(
            60,
            child,
            create,
            chc,
            child,
            0,
            KernelKind::Unshare {
                flags: names(NEWUSER),
                flags_raw: NEWUSER,
                ret: 0,
                errno: None,
                ns: Some(ns),
            },
        );
        g.rt(
            5,
            Stage::Child,
            child,
            EventKind::Unshare {
                flags: names(NEWUSER),
                flags_raw: NEWUSER,
            },
        );
        g.send(ch, p, "SYNC_USERMAP_PLS");
        g.rt(
            80,
            Stage::Parent,
            parent,
            EventKind::UidMap {
                target_pid: child,
                lines: vec!["0 100000 65536".into()],
            },
        );
        g.rt(
            40,
            Stage::Parent,
            parent,
            EventKind::GidMap {
                target_pid: child,
                lines: vec!["0 100000 65536".into()],
                setgroups: None,
            },
        );
        g.send(p, ch, "SYNC_USERMAP_ACK");
    }
    let rest = NEWNS | NEWUTS | NEWIPC | NEWNET | NEWPID | NEWCGROUP;
    ns.mnt = nb + 1;
    ns.uts = nb + 2;
    ns.ipc = nb + 3;
    ns.net = nb + 5;
    ns.cgroup = nb + 6;
    ns.pid_for_children = nb + 4;
    g.k(
        400,
        child,
        create,
        chc,
        child,
        0,
        KernelKind::Unshare {
            flags: names(rest),
            flags_raw: rest,
            ret: 0,
            errno: None,
            ns: Some(ns),
        },
    );
    g.rt(
        5,
        Stage::Child,
        child,
        EventKind::Unshare {
            flags: names(rest),
            flags_raw: rest,
        },
    );
    let mut init_ns = ns;
    init_ns.pid = ns.pid_for_children;
    g.k(
        90,
        child,
        create,
        chc,
        child,
        0,
        fork(init, create, CLONE_PARENT | SIGCHLD, init_ns, 1),
    );
    g.rt(
        10,
        Stage::Child,
        child,
        EventKind::Clone {
            flags: names(CLONE_PARENT),
            flags_raw: CLONE_PARENT | SIGCHLD,
            child_pid: init,
            child_stage: Stage::Init,
        },
    );
    g.k(
        30,
        init,
        create,
        chc,
        1,
        1,
        KernelKind::Rename {
            old_comm: chc.into(),
            new_comm: "isc:[2:INIT]".into(),
        },
    );
    g.rt(
        5,
        Stage::Init,
        init,
        EventKind::StageStart {
            comm: "isc:[2:INIT]".into(),
            ppid: create,
            ns_pid: Some(1),
        },
    );

    g.send(ch, p, "SYNC_RECVPID_PLS");
    g.send(p, ch, "SYNC_RECVPID_ACK");
    g.send(p, c, "STAGE_PIDS");
    g.send(ch, p, "SYNC_CHILD_FINISH");
    g.rt(
        10,
        Stage::Child,
        child,
        EventKind::StageExit {
            status: 0,
            dropped: 0,
        },
    );
    g.k(
        40,
        child,
        create,
        chc,
        child,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    );
    g.send(p, it, "SYNC_GRANDCHILD");
    g.send(it, p, "SYNC_CHILD_FINISH");
    g.rt(
        10,
        Stage::Parent,
        parent,
        EventKind::StageExit {
            status: 0,
            dropped: 0,
        },
    );
    g.k(
        40,
        parent,
        create,
        "isc:[0:PARENT]",
        parent,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    );

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
            return g.out;
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
        return g.out;
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
    g.out
}

/// `runc run ID` as the probe alone sees it (runc 1.1: renames, CLONE_PARENT forks,
/// cgroup namespace unshared in stage 2).
pub fn runc_run(pid: i32, t0: u64) -> Vec<Event> {
    let host = host_ns();
    let runc = pid;
    let p = pid + 6;
    let ch = pid + 7;
    let it = pid + 8;
    let nb = 4026532400;
    let mut ts = t0;
    let mut out = Vec::new();
    let mut at = |us: u64| {
        ts += us * 1000;
        ts
    };
    out.push(kernel(
        at(0),
        runc,
        900,
        "runc",
        runc,
        0,
        KernelKind::Namespaces { ns: host },
    ));
    out.push(kernel(
        at(4200),
        runc,
        900,
        "runc",
        runc,
        0,
        fork(p, runc, CLONE_VM | CLONE_VFORK | SIGCHLD, host, p),
    ));
    out.push(kernel(
        at(300),
        p,
        runc,
        "runc",
        p,
        0,
        KernelKind::Exec {
            filename: "/proc/self/exe".into(),
            argv: vec!["runc".into(), "init".into()],
            ret: 0,
            errno: None,
            ns: Some(host),
        },
    ));
    out.push(kernel(
        at(900),
        p,
        runc,
        "runc",
        p,
        0,
        KernelKind::Rename {
            old_comm: "runc".into(),
            new_comm: "runc:[0:PARENT]".into(),
        },
    ));
    out.push(kernel(
        at(250),
        p,
        runc,
        "runc:[0:PARENT]",
        p,
        0,
        fork(ch, runc, CLONE_PARENT | SIGCHLD, host, ch),
    ));
    out.push(kernel(
        at(40),
        ch,
        runc,
        "runc:[0:PARENT]",
        ch,
        0,
        KernelKind::Rename {
            old_comm: "runc:[0:PARENT]".into(),
            new_comm: "runc:[1:CHILD]".into(),
        },
    ));
    let flags = NEWNS | NEWUTS | NEWIPC | NEWNET | NEWPID;
    let mut ns = host;
    ns.mnt = nb + 1;
    ns.uts = nb + 2;
    ns.ipc = nb + 3;
    ns.net = nb + 5;
    ns.pid_for_children = nb + 4;
    out.push(kernel(
        at(500),
        ch,
        runc,
        "runc:[1:CHILD]",
        ch,
        0,
        KernelKind::Unshare {
            flags: names(flags),
            flags_raw: flags,
            ret: 0,
            errno: None,
            ns: Some(ns),
        },
    ));
    let mut ins = ns;
    ins.pid = ns.pid_for_children;
    out.push(kernel(
        at(80),
        ch,
        runc,
        "runc:[1:CHILD]",
        ch,
        0,
        fork(it, runc, CLONE_PARENT | SIGCHLD, ins, 1),
    ));
    out.push(kernel(
        at(40),
        it,
        runc,
        "runc:[1:CHILD]",
        1,
        1,
        KernelKind::Rename {
            old_comm: "runc:[1:CHILD]".into(),
            new_comm: "runc:[2:INIT]".into(),
        },
    ));
    out.push(kernel(
        at(200),
        ch,
        runc,
        "runc:[1:CHILD]",
        ch,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    ));
    ins.cgroup = nb + 6;
    out.push(kernel(
        at(150),
        it,
        runc,
        "runc:[2:INIT]",
        1,
        1,
        KernelKind::Unshare {
            flags: names(NEWCGROUP),
            flags_raw: NEWCGROUP,
            ret: 0,
            errno: None,
            ns: Some(ins),
        },
    ));
    out.push(kernel(
        at(60),
        p,
        runc,
        "runc:[0:PARENT]",
        p,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    ));
    out.push(kernel(
        at(9000),
        it,
        runc,
        "sh",
        1,
        1,
        KernelKind::Exec {
            filename: "/bin/sh".into(),
            argv: vec!["sh".into()],
            ret: 0,
            errno: None,
            ns: Some(ins),
        },
    ));
    out.push(kernel(
        at(3000),
        it,
        runc,
        "sh",
        1,
        1,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    ));
    out.push(kernel(
        at(1500),
        runc,
        900,
        "runc",
        runc,
        0,
        KernelKind::Exit {
            code: Some(0),
            signal: None,
            core_dumped: false,
        },
    ));
    out
}

/// `n` bootstraps one after another (for benchmarks and bounded-memory checks): about
/// 110 events each, pids and times increasing, pids reused after 30000.
pub fn many(n: usize) -> Vec<Event> {
    many_from(0, n)
}

/// Bootstraps `first .. first + n` of the sequence [`many`] makes.
pub fn many_from(first: usize, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    for i in first..first + n {
        out.extend(initscope_bootstrap(Options {
            container: format!("c{i}"),
            pid: 300 + ((i * 50) % 30000) as i32,
            t0: 5_000_000_000_000 + i as u64 * 400_000_000,
            ns_base: 4026532300 + i as u64 * 10,
            ..Options::default()
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_time_ordered_and_round_trip_as_jsonl() {
        for evs in [
            initscope_bootstrap(Options::default()),
            runc_run(7000, 1_000),
        ] {
            assert!(evs.windows(2).all(|w| w[0].ts_ns() < w[1].ts_ns()));
            for e in &evs {
                assert_eq!(&Event::parse_line(&e.to_json()).unwrap(), e);
            }
        }
    }
}
