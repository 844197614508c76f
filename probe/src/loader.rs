//! Loading the eBPF object, attaching its programs, and reading what they report.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{BtfTracePoint, TracePoint};
use aya::{Btf, Ebpf, EbpfLoader};
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::error::{chain, classify, ProbeError};
use crate::procfs;
use crate::schema::{KernelEvent, KernelKind, KernelSource, SCHEMA_VERSION};
use crate::{tracefs, wire};

/// The object `build.rs` compiled from `bpf/probe.bpf.c`.
static PROBE_OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probe.bpf.o"));

/// `MAX_PREFIXES` and `COMM_LEN` in events.h.
const MAX_PREFIXES: usize = 4;
const COMM_LEN: usize = 16;
/// `enum ev_stat` in events.h.
const STAT_LOST: u32 = 0;
const STAT_TRACK_FULL: u32 = 1;
/// At most this many records per `poll` call, so a producer faster than us cannot keep
/// the caller in one call forever.
const MAX_BATCH: usize = 1 << 16;

/// Syscall entry programs: (program in probe.bpf.c, tracepoint in `syscalls/`).
const SYSCALL_ENTRIES: &[(&str, &str)] = &[
    ("sys_enter_clone", "sys_enter_clone"),
    ("sys_enter_clone3", "sys_enter_clone3"),
    ("sys_enter_fork", "sys_enter_fork"),
    ("sys_enter_vfork", "sys_enter_vfork"),
    ("sys_enter_unshare", "sys_enter_unshare"),
    ("sys_enter_setns", "sys_enter_setns"),
    ("sys_enter_execve", "sys_enter_execve"),
    ("sys_enter_execveat", "sys_enter_execveat"),
];
/// The one `sys_exit` program is attached to each of these.
const SYSCALL_EXITS: &[&str] = &[
    "sys_exit_clone",
    "sys_exit_clone3",
    "sys_exit_fork",
    "sys_exit_vfork",
    "sys_exit_unshare",
    "sys_exit_setns",
    "sys_exit_execve",
    "sys_exit_execveat",
];
/// BTF tracepoints: (program, tracepoint, required). Without task_newtask the subtree
/// cannot grow, so that one is an error; the others degrade to a warning.
const BTF_TRACEPOINTS: &[(&str, &str, bool)] = &[
    ("task_newtask", "task_newtask", true),
    ("sched_process_exec", "sched_process_exec", false),
    ("sched_process_exit", "sched_process_exit", false),
    ("task_rename", "task_rename", false),
];

/// What to watch and how much memory to give it.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Root processes: each is tracked with the descendants it already has.
    pub pids: Vec<i32>,
    /// Also track every process whose comm starts with one of these (at most 4, each
    /// 1..=15 bytes), from its exec or rename on, plus running ones and their subtrees.
    pub comm_prefixes: Vec<String>,
    /// Ring buffer size; rounded up to a power of two, at least one page.
    pub ring_bytes: usize,
    /// Wake the reader only once this many bytes wait (at most half the ring); 0 = the
    /// kernel's own policy, a wakeup for every record a caught-up reader has not seen.
    /// Batching is the default because each wakeup costs the writing task ~10 µs here
    /// (an irq_work self-IPI in the VM) — see the README's benchmark. With a threshold a
    /// quiet stream is seen when [`Probe::poll`]'s timeout ends: poll with a short one
    /// (a frame tick).
    pub wakeup_bytes: usize,
    /// Capacity of the in-kernel tracked-process map.
    pub max_tracked: u32,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            pids: Vec::new(),
            comm_prefixes: Vec::new(),
            ring_bytes: 8 << 20,
            wakeup_bytes: 64 << 10,
            max_tracked: 16384,
        }
    }
}

/// The loaded, attached probe. Dropping it detaches every program and link (aya closes
/// their fds); a process that dies without dropping it loses them too, since nothing
/// is pinned.
pub struct Probe {
    ring: RingBuf<MapData>,
    tracked: BpfHashMap<MapData, u32, u8>,
    stats: PerCpuArray<MapData, u64>,
    warnings: Vec<String>,
    /// `namespaces` snapshots of newly tracked processes, handed out by the next poll.
    pending: Vec<KernelEvent>,
    lost_reported: u64,
    track_full_reported: u64,
    decode_errors: u64,
    max_tracked: u32,
    /// Last: the programs and their links, detached when this drops.
    _ebpf: Ebpf,
}

impl Probe {
    /// Load the programs, attach them and start tracking `opts.pids` and
    /// `opts.comm_prefixes`. Tracepoints this kernel lacks become [`Probe::warnings`].
    pub fn load(opts: ProbeOptions) -> Result<Probe, ProbeError> {
        let (prefixes, prefix_lens) = prefix_table(&opts.comm_prefixes)?;
        let n_prefixes = opts.comm_prefixes.len() as u32;
        let ring_bytes = ring_size(opts.ring_bytes)?;
        let wakeup_bytes = opts.wakeup_bytes.min(ring_bytes as usize / 2) as u64;
        if opts.max_tracked == 0 {
            return Err(ProbeError::BadOption {
                field: "max_tracked",
                detail: "must be at least 1".into(),
            });
        }
        let btf = Btf::from_sys_fs().map_err(|e| ProbeError::NoBtf(chain(&e)))?;

        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .map_max_entries("events", ring_bytes)
            .map_max_entries("tracked", opts.max_tracked)
            .override_global("n_prefixes", &n_prefixes, true)
            .override_global("prefixes", &prefixes, true)
            .override_global("prefix_lens", &prefix_lens, true)
            .override_global("wakeup_bytes", &wakeup_bytes, true)
            .load(PROBE_OBJ)
            .map_err(|e| classify(&e, ProbeError::Load))?;

        let warnings = match tracefs::with_tracefs(|| attach_all(&mut ebpf, &btf)) {
            Ok(r) => r?,
            // without tracefs the syscall tracepoints cannot be found; the rest still work
            Err(why) => {
                let mut w = attach_btf_only(&mut ebpf, &btf)?;
                w.insert(
                    0,
                    format!("syscall tracepoints unavailable (no tracefs): {why}"),
                );
                w
            }
        };
        let ring =
            RingBuf::try_from(take_map(&mut ebpf, "events")?).map_err(|e| map_err("events", e))?;
        let tracked = BpfHashMap::try_from(take_map(&mut ebpf, "tracked")?)
            .map_err(|e| map_err("tracked", e))?;
        let stats = PerCpuArray::try_from(take_map(&mut ebpf, "stats")?)
            .map_err(|e| map_err("stats", e))?;

        let mut probe = Probe {
            ring,
            tracked,
            stats,
            warnings,
            pending: Vec::new(),
            lost_reported: 0,
            track_full_reported: 0,
            decode_errors: 0,
            max_tracked: opts.max_tracked,
            _ebpf: ebpf,
        };
        // Seed after attaching, so a fork racing with the seeding is not missed.
        for &pid in &opts.pids {
            probe.track_tree(pid)?;
        }
        if !opts.comm_prefixes.is_empty() {
            for pid in procfs::with_comm_prefix(&opts.comm_prefixes) {
                // a matching process may exit while we look; that is not an error
                match probe.track_tree(pid) {
                    Ok(()) | Err(ProbeError::NoSuchPid(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(probe)
    }

    /// Tracepoints that could not be attached, one line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Follow process `pid` (a thread id is taken to mean its process) and, from now on,
    /// every process it creates. Its namespaces are reported by the next [`Probe::poll`]
    /// as a `namespaces` event.
    pub fn track_pid(&mut self, pid: i32) -> Result<(), ProbeError> {
        let tgid = procfs::tgid_of(pid).ok_or(ProbeError::NoSuchPid(pid))?;
        self.tracked
            .insert(tgid as u32, 1u8, 0)
            .map_err(|e| match crate::error::errno_in(&e) {
                Some(libc::E2BIG) | Some(libc::ENOMEM) => ProbeError::TrackedFull(self.max_tracked),
                _ => map_err("tracked", e),
            })?;
        if let Some(snap) = procfs::snapshot(tgid) {
            self.pending.push(snap);
        }
        Ok(())
    }

    /// [`Probe::track_pid`] for `pid` and the descendants it already has.
    pub fn track_tree(&mut self, pid: i32) -> Result<(), ProbeError> {
        self.track_pid(pid)?;
        for child in procfs::descendants(pid) {
            match self.track_pid(child) {
                Ok(()) | Err(ProbeError::NoSuchPid(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Stop following a process (its children already tracked stay tracked).
    pub fn untrack_pid(&mut self, pid: i32) -> Result<(), ProbeError> {
        match self.tracked.remove(&(pid as u32)) {
            Ok(()) => Ok(()),
            Err(e) if crate::error::errno_in(&e) == Some(libc::ENOENT) => Ok(()),
            Err(e) => Err(map_err("tracked", e)),
        }
    }

    /// Whether a process is tracked in the kernel right now.
    pub fn is_tracked(&self, pid: i32) -> bool {
        self.tracked.get(&(pid as u32), 0).is_ok()
    }

    /// Append what the kernel reported to `out` and return how many events were added.
    /// Drains everything waiting first; waits up to `timeout` only when nothing was.
    /// New losses are appended as one `lost` event. An interrupted wait (a signal)
    /// returns early with what there is.
    pub fn poll(
        &mut self,
        timeout: Duration,
        out: &mut Vec<KernelEvent>,
    ) -> Result<usize, ProbeError> {
        let start = out.len();
        out.append(&mut self.pending);
        self.drain(out);
        if out.len() == start && !timeout.is_zero() {
            let ms = u16::try_from(timeout.as_millis().max(1)).unwrap_or(u16::MAX);
            // SAFETY: the fd belongs to self.ring, which outlives this borrow.
            let fd = unsafe { BorrowedFd::borrow_raw(self.ring.as_raw_fd()) };
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(ProbeError::Poll(e.into())),
            }
            self.drain(out);
        }
        self.report_counters(out);
        Ok(out.len() - start)
    }

    /// Records lost so far (the sum of the `lost` events handed out).
    pub fn lost(&self) -> u64 {
        self.lost_reported
    }

    /// Records that could not be decoded (a program/loader mismatch; should stay 0).
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    fn drain(&mut self, out: &mut Vec<KernelEvent>) {
        let mut n = 0;
        while n < MAX_BATCH {
            let Some(item) = self.ring.next() else { break };
            match wire::decode(&item) {
                Ok(e) => out.push(e),
                Err(_) => self.decode_errors += 1,
            }
            n += 1;
        }
    }

    fn stat(&self, index: u32) -> u64 {
        self.stats
            .get(&index, 0)
            .map(|per_cpu| per_cpu.iter().sum())
            .unwrap_or(0)
    }

    fn report_counters(&mut self, out: &mut Vec<KernelEvent>) {
        let lost = self.stat(STAT_LOST);
        if lost > self.lost_reported {
            out.push(lost_event(lost - self.lost_reported));
            self.lost_reported = lost;
        }
        let full = self.stat(STAT_TRACK_FULL);
        if full > self.track_full_reported {
            self.track_full_reported = full;
            self.warnings
                .retain(|w| !w.starts_with("tracked-process map full"));
            self.warnings.push(format!(
                "tracked-process map full ({} entries): {full} new processes not followed; raise max_tracked",
                self.max_tracked
            ));
        }
    }
}

impl AsRawFd for Probe {
    /// The ring buffer's fd: readable when records wait (see [`ProbeOptions::wakeup_bytes`]).
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }
}

fn lost_event(count: u64) -> KernelEvent {
    KernelEvent {
        v: SCHEMA_VERSION,
        ts_ns: procfs::monotonic_ns(),
        source: KernelSource::Kernel,
        pid: 0,
        tgid: 0,
        ppid: 0,
        comm: String::new(),
        uid: 0,
        cgroup_id: 0,
        ns_pid: 0,
        ns_level: 0,
        kind: KernelKind::Lost { count },
    }
}

fn attach_all(ebpf: &mut Ebpf, btf: &Btf) -> Result<Vec<String>, ProbeError> {
    let mut warnings = attach_btf_only(ebpf, btf)?;
    for &(prog, tp) in SYSCALL_ENTRIES {
        if let Err(w) = attach_tracepoint(ebpf, prog, &[tp]) {
            warnings.extend(w);
        }
    }
    if let Err(w) = attach_tracepoint(ebpf, "sys_exit", SYSCALL_EXITS) {
        warnings.extend(w);
    }
    Ok(warnings)
}

fn attach_btf_only(ebpf: &mut Ebpf, btf: &Btf) -> Result<Vec<String>, ProbeError> {
    let mut warnings = Vec::new();
    for &(prog, tp, required) in BTF_TRACEPOINTS {
        match attach_btf(ebpf, btf, prog, tp) {
            Ok(()) => {}
            Err(e) if required => return Err(e),
            Err(e) => warnings.push(e.to_string()),
        }
    }
    Ok(warnings)
}

/// Load `prog` and attach it to each `syscalls/<tp>`; what fails is returned as warnings.
fn attach_tracepoint(ebpf: &mut Ebpf, prog: &str, tps: &[&str]) -> Result<(), Vec<String>> {
    let p: &mut TracePoint = program(ebpf, prog).map_err(|e| vec![e.to_string()])?;
    if let Err(e) = p.load() {
        let err = classify(&e, |d| ProbeError::Program {
            program: prog.to_string(),
            detail: d,
        });
        return Err(vec![err.to_string()]);
    }
    let mut warnings = Vec::new();
    let mut seen = HashSet::new();
    for &tp in tps {
        if !seen.insert(tp) {
            continue;
        }
        if let Err(e) = p.attach("syscalls", tp) {
            warnings.push(
                ProbeError::TracepointMissing {
                    name: format!("syscalls/{tp}"),
                    detail: chain(&e),
                }
                .to_string(),
            );
        }
    }
    if warnings.is_empty() {
        Ok(())
    } else {
        Err(warnings)
    }
}

fn attach_btf(ebpf: &mut Ebpf, btf: &Btf, prog: &str, tp: &str) -> Result<(), ProbeError> {
    let p: &mut BtfTracePoint = program(ebpf, prog)?;
    p.load(tp, btf).map_err(|e| {
        if matches!(e, aya::programs::ProgramError::Btf(_)) {
            ProbeError::TracepointMissing {
                name: format!("tp_btf/{tp}"),
                detail: chain(&e),
            }
        } else {
            classify(&e, |d| ProbeError::Program {
                program: prog.to_string(),
                detail: d,
            })
        }
    })?;
    p.attach().map_err(|e| {
        classify(&e, |d| ProbeError::TracepointMissing {
            name: format!("tp_btf/{tp}"),
            detail: d,
        })
    })?;
    Ok(())
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T, ProbeError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program>,
{
    ebpf.program_mut(name)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| {
            ProbeError::Load(format!(
                "program {name} is missing from the embedded object"
            ))
        })
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, ProbeError> {
    ebpf.take_map(name).ok_or(ProbeError::Map {
        map: name,
        detail: "missing from the embedded object".into(),
    })
}

fn map_err(map: &'static str, e: aya::maps::MapError) -> ProbeError {
    ProbeError::Map {
        map,
        detail: chain(&e),
    }
}

/// The ring buffer's size: a power of two of at least a page, at most 1 GiB.
fn ring_size(bytes: usize) -> Result<u32, ProbeError> {
    let page = 4096usize;
    let size = bytes
        .max(page)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX);
    u32::try_from(size)
        .ok()
        .filter(|&s| s <= 1 << 30)
        .ok_or_else(|| ProbeError::BadOption {
            field: "ring_bytes",
            detail: format!("{bytes} is more than 1 GiB"),
        })
}

/// The prefixes as the C side's fixed table.
fn prefix_table(
    prefixes: &[String],
) -> Result<([[u8; COMM_LEN]; MAX_PREFIXES], [u32; MAX_PREFIXES]), ProbeError> {
    if prefixes.len() > MAX_PREFIXES {
        return Err(ProbeError::BadOption {
            field: "comm_prefixes",
            detail: format!("{} given, at most {MAX_PREFIXES}", prefixes.len()),
        });
    }
    let mut table = [[0u8; COMM_LEN]; MAX_PREFIXES];
    let mut lens = [0u32; MAX_PREFIXES];
    for (i, p) in prefixes.iter().enumerate() {
        let b = p.as_bytes();
        if b.is_empty() || b.len() >= COMM_LEN {
            return Err(ProbeError::BadOption {
                field: "comm_prefixes",
                detail: format!(
                    "{p:?} must be 1 to {} bytes (a comm is at most 15)",
                    COMM_LEN - 1
                ),
            });
        }
        table[i][..b.len()].copy_from_slice(b);
        lens[i] = b.len() as u32;
    }
    Ok((table, lens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Probe>();
    }

    #[test]
    fn ring_size_rounds_up_and_refuses_huge() {
        assert_eq!(ring_size(0).unwrap(), 4096);
        assert_eq!(ring_size(5000).unwrap(), 8192);
        assert_eq!(ring_size(8 << 20).unwrap(), 8 << 20);
        assert!(ring_size(3 << 30).is_err());
    }

    #[test]
    fn prefix_table_checks_count_and_length() {
        let (t, l) = prefix_table(&["runc".into(), "crun".into()]).unwrap();
        assert_eq!(&t[0][..5], b"runc\0");
        assert_eq!(l, [4, 4, 0, 0]);
        let e = prefix_table(&["".into()]).unwrap_err().to_string();
        assert!(e.contains("comm_prefixes"), "{e}");
        assert!(prefix_table(&["a-very-long-comm-name".into()]).is_err());
        assert!(prefix_table(&vec!["a".to_string(); 5]).is_err());
    }
}
