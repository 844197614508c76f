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

mod dance;
mod init;
mod runc;

pub use runc::runc_run;

/// The pids of one bootstrap's processes.
pub(crate) struct Pids {
    pub create: i32,
    pub parent: i32,
    pub child: i32,
    pub init: i32,
    pub start: i32,
}

/// One initscope-runtime bootstrap, as design.md draws it.
pub fn initscope_bootstrap(o: Options) -> Vec<Event> {
    let p = Pids {
        create: o.pid,
        parent: o.pid + 1,
        child: o.pid + 2,
        init: o.pid + 3,
        start: o.pid + 40,
    };
    let mut g = Gen {
        ts: o.t0,
        n: 0,
        out: Vec::new(),
        o,
    };
    let init_ns = dance::run(&mut g, &p);
    init::run(&mut g, &p, init_ns);
    g.out
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
