//! OCI `linux.resources` → the list of cgroup file writes that apply it.
//!
//! The plan is pure: it asks a [`Host`] where each controller lives (a v1 hierarchy or the
//! unified one — on a hybrid host both happen, e.g. `hugetlb` only on cgroup2) and which
//! files exist, and returns the writes in order. Executing it is [`apply`]'s job.
//!
//! Where a config asks for something this host cannot do, the plan fails before anything
//! is written, naming the config field and the missing file or controller. Only knobs
//! that the kernel itself has dropped are skipped quietly: `memory.kernel` and
//! `memory.kernelTCP` where their files are gone; on v2 the v1-only memory knobs
//! (`swappiness`, `kernel`, `kernelTCP`, `disableOOMKiller`), as runc does.

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

use super::layout::{Layout, Version};
use super::{convert, devices, files, CgroupError};
use crate::events::schema::EventKind;

/// One write of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub version: Version,
    /// The controller whose hierarchy holds the file (for v2: whose file it is).
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    /// Read the file back and compare: the kernel silently clamps some values.
    pub verify: bool,
}

/// What the plan needs to know about the host and the container's cgroup.
pub trait Host {
    /// Where `controller` lives, or `None` when it is not mounted/available.
    fn side(&self, controller: &str) -> Option<Version>;
    /// Whether the container's cgroup has this file.
    fn has_file(&self, version: Version, controller: &str, file: &str) -> bool;
    /// Its current content.
    fn read(&self, version: Version, controller: &str, file: &str) -> Option<String>;
    /// Its full path, for messages.
    fn path(&self, version: Version, controller: &str, file: &str) -> String;
}

/// `create` writes everything and installs the default device rules; `update` writes
/// only what it is given and leaves device rules alone (as runc update does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Create,
    Update,
}

/// Plan the writes for `r`.
pub fn plan(
    r: &LinuxResources,
    host: &dyn Host,
    purpose: Purpose,
) -> Result<Vec<FileWrite>, CgroupError> {
    let mut p = Planner {
        host,
        out: Vec::new(),
    };
    if let Some(cpu) = r.cpu() {
        p.cpuset(cpu)?;
        p.cpu(cpu)?;
    }
    if let Some(m) = r.memory() {
        p.memory(m, purpose)?;
    }
    // As runc: 0 is "not set" (so an update without it keeps the limit), < 0 unlimited.
    if let Some(limit) = r.pids().map(|p| p.limit()).filter(|&l| l != 0) {
        let v = p.side("linux.resources.pids", "pids")?;
        let value = if limit > 0 {
            limit.to_string()
        } else {
            "max".into()
        };
        p.push(v, "pids", "pids.max", value);
    }
    if let Some(b) = r.block_io() {
        p.block_io(b)?;
    }
    for h in r.hugepage_limits().iter().flatten() {
        p.hugetlb(h.page_size(), h.limit())?;
    }
    if let Some(n) = r.network() {
        p.network(n)?;
    }
    if let Some(rdma) = r.rdma() {
        p.rdma(rdma)?;
    }
    if purpose == Purpose::Create {
        p.out.extend(devices::plan(r.devices().as_deref(), host)?);
    }
    if let Some(u) = r.unified() {
        p.unified(u)?;
    }
    Ok(p.out)
}

/// The controllers `r` sets, by their cgroup v2 names (to enable them on the unified side).
pub fn controllers(r: &LinuxResources) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |c: &str| {
        if !out.iter().any(|o| o == c) {
            out.push(c.to_string());
        }
    };
    if let Some(c) = r.cpu() {
        if c.cpus().is_some() || c.mems().is_some() {
            add("cpuset");
        }
        if c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.idle().is_some()
            || c.realtime_runtime().is_some()
            || c.realtime_period().is_some()
        {
            add("cpu");
        }
    }
    #[allow(deprecated)] // `kernel`: still a setting, even if deprecated
    if let Some(m) = r.memory() {
        if m.limit().is_some()
            || m.reservation().is_some()
            || m.swap().is_some()
            || m.kernel().is_some()
            || m.kernel_tcp().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer().is_some()
        {
            add("memory");
        }
    }
    if r.pids().is_some_and(|p| p.limit() != 0) {
        add("pids");
    }
    if let Some(b) = r.block_io() {
        let lists = [
            b.weight_device().as_ref().map(Vec::len),
            b.throttle_read_bps_device().as_ref().map(Vec::len),
            b.throttle_write_bps_device().as_ref().map(Vec::len),
            b.throttle_read_iops_device().as_ref().map(Vec::len),
            b.throttle_write_iops_device().as_ref().map(Vec::len),
        ];
        if b.weight().is_some()
            || b.leaf_weight().is_some()
            || lists.iter().any(|l| l.unwrap_or(0) > 0)
        {
            add("io");
        }
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        add("hugetlb");
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        add("rdma");
    }
    for key in r.unified().iter().flat_map(|u| u.keys()) {
        match key.split_once('.') {
            Some(("cgroup", _)) | None => {}
            Some((c, _)) => add(c),
        }
    }
    out
}

/// Execute `writes` in the container's cgroup, emitting [`EventKind::CgroupSet`] after each.
pub fn apply(
    layout: &Layout,
    writes: &[FileWrite],
    emit: &mut dyn FnMut(EventKind),
) -> Result<(), CgroupError> {
    for w in writes {
        let dir = layout.dir_for(w.version, w.controller).ok_or_else(|| {
            CgroupError::Invalid(format!(
                "no hierarchy holds the {} controller",
                w.controller
            ))
        })?;
        let path = dir.path().join(&w.file);
        files::write(&path, &w.value)?;
        if w.verify {
            let got = files::read(&path)?;
            if got != w.value.trim() {
                return Err(CgroupError::State {
                    path: path.display().to_string(),
                    message: format!(
                        "wrote {:?} but the kernel set {:?}{}",
                        w.value,
                        got,
                        files::write_hint(&w.file, Some(libc::EINVAL))
                            .map(|h| format!(" ({h})"))
                            .unwrap_or_default()
                    ),
                });
            }
        }
        emit(EventKind::CgroupSet {
            file: path.display().to_string(),
            value: w.value.clone(),
        });
    }
    Ok(())
}

impl Host for Layout {
    fn side(&self, controller: &str) -> Option<Version> {
        Layout::side(self, controller)
    }
    fn has_file(&self, version: Version, controller: &str, file: &str) -> bool {
        self.dir_for(version, controller)
            .is_some_and(|d| d.path().join(file).exists())
    }
    fn read(&self, version: Version, controller: &str, file: &str) -> Option<String> {
        let d = self.dir_for(version, controller)?;
        files::read(&d.path().join(file)).ok()
    }
    fn path(&self, version: Version, controller: &str, file: &str) -> String {
        match self.dir_for(version, controller) {
            Some(d) => d.path().join(file).display().to_string(),
            None => file.to_string(),
        }
    }
}

pub(super) struct Planner<'a> {
    pub(super) host: &'a dyn Host,
    pub(super) out: Vec<FileWrite>,
}

impl Planner<'_> {
    fn side(&self, field: &str, controller: &'static str) -> Result<Version, CgroupError> {
        self.host
            .side(controller)
            .ok_or_else(|| CgroupError::NoController {
                field: field.to_string(),
                controller: controller.to_string(),
            })
    }

    pub(super) fn push(
        &mut self,
        version: Version,
        controller: &'static str,
        file: &str,
        value: String,
    ) {
        self.out.push(FileWrite {
            version,
            controller,
            file: file.to_string(),
            value,
            verify: false,
        });
    }

    pub(super) fn has(&self, v: Version, controller: &str, file: &str) -> bool {
        self.host.has_file(v, controller, file)
    }

    /// Fail unless the file exists: the kernel cannot do what the field asks.
    pub(super) fn require(
        &self,
        v: Version,
        controller: &str,
        file: &str,
        field: &str,
    ) -> Result<(), CgroupError> {
        if self.has(v, controller, file) {
            return Ok(());
        }
        Err(CgroupError::MissingFile {
            path: self.host.path(v, controller, file),
            field: field.to_string(),
        })
    }

    fn cpuset(&mut self, cpu: &LinuxCpu) -> Result<(), CgroupError> {
        for (value, file, field) in [
            (cpu.cpus(), "cpuset.cpus", "linux.resources.cpu.cpus"),
            (cpu.mems(), "cpuset.mems", "linux.resources.cpu.mems"),
        ] {
            if let Some(value) = value.as_deref().filter(|s| !s.trim().is_empty()) {
                let v = self.side(field, "cpuset")?;
                self.push(v, "cpuset", file, value.trim().to_string());
            }
        }
        Ok(())
    }

    fn cpu(&mut self, cpu: &LinuxCpu) -> Result<(), CgroupError> {
        let shares = cpu.shares().filter(|&s| s != 0);
        let quota = cpu.quota().filter(|&q| q != 0);
        let period = cpu.period().filter(|&p| p != 0);
        let rt_runtime = cpu.realtime_runtime().filter(|&r| r != 0);
        let rt_period = cpu.realtime_period().filter(|&p| p != 0);
        let any = shares.is_some()
            || quota.is_some()
            || period.is_some()
            || rt_runtime.is_some()
            || rt_period.is_some()
            || cpu.burst().is_some()
            || cpu.idle().is_some();
        if !any {
            return Ok(());
        }
        let v = self.side("linux.resources.cpu", "cpu")?;
        match v {
            Version::V1 => {
                if let Some(s) = shares {
                    self.push(v, "cpu", "cpu.shares", s.to_string());
                    self.out.last_mut().expect("just pushed").verify = true;
                }
                if let Some(p) = period {
                    self.push(v, "cpu", "cpu.cfs_period_us", p.to_string());
                }
                if let Some(q) = quota {
                    self.push(v, "cpu", "cpu.cfs_quota_us", q.to_string());
                }
                if let Some(b) = cpu.burst() {
                    let field = "linux.resources.cpu.burst";
                    self.require(v, "cpu", "cpu.cfs_burst_us", field)?;
                    self.push(v, "cpu", "cpu.cfs_burst_us", b.to_string());
                }
                if let Some(p) = rt_period {
                    let field = "linux.resources.cpu.realtimePeriod";
                    self.require(v, "cpu", "cpu.rt_period_us", field)?;
                    self.push(v, "cpu", "cpu.rt_period_us", p.to_string());
                }
                if let Some(r) = rt_runtime {
                    let field = "linux.resources.cpu.realtimeRuntime";
                    self.require(v, "cpu", "cpu.rt_runtime_us", field)?;
                    self.push(v, "cpu", "cpu.rt_runtime_us", r.to_string());
                }
            }
            Version::V2 => {
                if rt_runtime.is_some() || rt_period.is_some() {
                    return Err(CgroupError::Unsupported {
                        field: "linux.resources.cpu.realtimeRuntime/realtimePeriod".into(),
                        reason: "cgroup v2 has no realtime CPU budget (cpu.rt_runtime_us is v1 only); remove them".into(),
                    });
                }
                if let Some(s) = shares {
                    self.push(v, "cpu", "cpu.weight", convert::cpu_weight(s).to_string());
                }
                if quota.is_some() || period.is_some() {
                    // Keep whichever half the config leaves out (update may give only one).
                    let current = self.host.read(v, "cpu", "cpu.max").unwrap_or_default();
                    let mut cur = current.split_whitespace();
                    let cur_quota = cur.next().unwrap_or("max").to_string();
                    let cur_period = cur.next().unwrap_or("100000").to_string();
                    let q = match quota {
                        Some(q) if q > 0 => q.to_string(),
                        Some(_) => "max".into(),
                        None => cur_quota,
                    };
                    let p = period.map(|p| p.to_string()).unwrap_or(cur_period);
                    self.push(v, "cpu", "cpu.max", format!("{q} {p}"));
                }
                if let Some(b) = cpu.burst() {
                    self.require(v, "cpu", "cpu.max.burst", "linux.resources.cpu.burst")?;
                    self.push(v, "cpu", "cpu.max.burst", b.to_string());
                }
            }
        }
        if let Some(idle) = cpu.idle() {
            // cpu.idle exists on v1 and v2 since Linux 5.15; 0 on an older kernel is a no-op.
            if self.has(v, "cpu", "cpu.idle") {
                self.push(v, "cpu", "cpu.idle", idle.to_string());
            } else if idle != 0 {
                self.require(v, "cpu", "cpu.idle", "linux.resources.cpu.idle")?;
            }
        }
        Ok(())
    }

    #[allow(deprecated)] // `kernel` is deprecated in the spec; we still honour it where the file exists.
    fn memory(&mut self, m: &LinuxMemory, purpose: Purpose) -> Result<(), CgroupError> {
        let v = self.side("linux.resources.memory", "memory")?;
        let limit = m.limit().unwrap_or(0);
        let swap = m.swap().unwrap_or(0);
        if let Some(s) = m.swappiness().filter(|&s| s > 100) {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.memory.swappiness".into(),
                reason: format!("{s} is out of range; use 0..100"),
            });
        }
        match v {
            Version::V1 => {
                let memsw = "memory.memsw.limit_in_bytes";
                let limit_file = "memory.limit_in_bytes";
                let has_memsw = self.has(v, "memory", memsw);
                let swap = if limit == -1 && swap == 0 && has_memsw {
                    -1
                } else {
                    swap
                };
                if swap != 0 && !has_memsw && swap != -1 {
                    self.require(v, "memory", memsw, "linux.resources.memory.swap")?;
                }
                let write_swap = swap != 0 && has_memsw;
                if limit != 0 && write_swap {
                    // The kernel keeps memory <= memory+swap at every step, so the order
                    // depends on whether the new memory+swap is above the current limit.
                    let current: u64 = self
                        .host
                        .read(v, "memory", limit_file)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(u64::MAX);
                    if swap == -1 || current < swap as u64 {
                        self.push(v, "memory", memsw, swap.to_string());
                        self.push(v, "memory", limit_file, limit.to_string());
                    } else {
                        self.push(v, "memory", limit_file, limit.to_string());
                        self.push(v, "memory", memsw, swap.to_string());
                    }
                } else {
                    if limit != 0 {
                        self.push(v, "memory", limit_file, limit.to_string());
                    }
                    if write_swap {
                        self.push(v, "memory", memsw, swap.to_string());
                    }
                }
                if let Some(r) = m.reservation().filter(|&r| r != 0) {
                    self.push(v, "memory", "memory.soft_limit_in_bytes", r.to_string());
                }
                // Kernel memory limits: ignored by Linux ≥ 5.16 and gone later; write them
                // only where the file still exists.
                for (value, file) in [
                    (m.kernel(), "memory.kmem.limit_in_bytes"),
                    (m.kernel_tcp(), "memory.kmem.tcp.limit_in_bytes"),
                ] {
                    if let Some(k) = value.filter(|&k| k != 0) {
                        if self.has(v, "memory", file) {
                            self.push(v, "memory", file, k.to_string());
                        }
                    }
                }
                if let Some(s) = m.swappiness() {
                    self.push(v, "memory", "memory.swappiness", s.to_string());
                }
                match m.disable_oom_killer() {
                    Some(true) => self.push(v, "memory", "memory.oom_control", "1".into()),
                    Some(false) if purpose == Purpose::Update => {
                        self.push(v, "memory", "memory.oom_control", "0".into())
                    }
                    _ => {}
                }
                if let Some(h) = m.use_hierarchy() {
                    if self.has(v, "memory", "memory.use_hierarchy") {
                        self.push(v, "memory", "memory.use_hierarchy", u8::from(h).to_string());
                    }
                }
            }
            Version::V2 => {
                let swap_value =
                    convert::swap_max(swap, limit).map_err(|reason| CgroupError::Unsupported {
                        field: "linux.resources.memory.swap".into(),
                        reason,
                    })?;
                if let Some(sv) = swap_value {
                    if self.has(v, "memory", "memory.swap.max") {
                        self.push(v, "memory", "memory.swap.max", sv);
                    } else if sv != "max" && sv != "0" {
                        // Without swap accounting only "unlimited" and "none" mean anything.
                        self.require(
                            v,
                            "memory",
                            "memory.swap.max",
                            "linux.resources.memory.swap",
                        )?;
                    }
                }
                if limit != 0 {
                    if purpose == Purpose::Update
                        && m.check_before_update() == Some(true)
                        && limit > 0
                    {
                        let current: i64 = self
                            .host
                            .read(v, "memory", "memory.current")
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                        if current > limit {
                            return Err(CgroupError::Unsupported {
                                field: "linux.resources.memory.limit".into(),
                                reason: format!(
                                    "{limit} is below the current usage {current} (checkBeforeUpdate is set)"
                                ),
                            });
                        }
                    }
                    self.push(v, "memory", "memory.max", convert::limit(limit));
                }
                if let Some(r) = m.reservation().filter(|&r| r != 0) {
                    self.push(v, "memory", "memory.low", convert::limit(r));
                }
            }
        }
        Ok(())
    }

    fn hugetlb(&mut self, page_size: &str, limit: i64) -> Result<(), CgroupError> {
        let field = "linux.resources.hugepageLimits";
        let valid = page_size.len() > 2
            && page_size.ends_with('B')
            && page_size[..page_size.len() - 2]
                .bytes()
                .all(|b| b.is_ascii_digit())
            && matches!(
                page_size.as_bytes()[page_size.len() - 2],
                b'K' | b'M' | b'G'
            );
        if !valid {
            return Err(CgroupError::Unsupported {
                field: format!("{field}[].pageSize"),
                reason: format!("{page_size:?} is not a page size like 2MB or 1GB"),
            });
        }
        let v = self.side(field, "hugetlb")?;
        let (file, rsvd, value) = match v {
            Version::V1 => (
                format!("hugetlb.{page_size}.limit_in_bytes"),
                format!("hugetlb.{page_size}.rsvd.limit_in_bytes"),
                limit.to_string(),
            ),
            Version::V2 => (
                format!("hugetlb.{page_size}.max"),
                format!("hugetlb.{page_size}.rsvd.max"),
                convert::limit(limit),
            ),
        };
        self.require(
            v,
            "hugetlb",
            &file,
            &format!("{field} pageSize {page_size}"),
        )?;
        self.push(v, "hugetlb", &file, value.clone());
        // Reservations are charged separately; limit them alike where the kernel has them.
        if self.has(v, "hugetlb", &rsvd) {
            self.push(v, "hugetlb", &rsvd, value);
        }
        Ok(())
    }

    fn network(&mut self, n: &oci_spec::runtime::LinuxNetwork) -> Result<(), CgroupError> {
        if let Some(id) = n.class_id() {
            let v = self.side("linux.resources.network.classID", "net_cls")?;
            self.push(v, "net_cls", "net_cls.classid", id.to_string());
        }
        for p in n.priorities().iter().flatten() {
            let v = self.side("linux.resources.network.priorities", "net_prio")?;
            self.push(
                v,
                "net_prio",
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            );
        }
        Ok(())
    }

    fn rdma(
        &mut self,
        rdma: &std::collections::HashMap<String, oci_spec::runtime::LinuxRdma>,
    ) -> Result<(), CgroupError> {
        let mut devices: Vec<_> = rdma.iter().collect();
        devices.sort_by(|a, b| a.0.cmp(b.0));
        for (dev, lim) in devices {
            let v = self.side("linux.resources.rdma", "rdma")?;
            let n = |x: Option<u32>| x.map(|x| x.to_string()).unwrap_or_else(|| "max".into());
            let value = format!(
                "{dev} hca_handle={} hca_object={}",
                n(lim.hca_handles()),
                n(lim.hca_objects())
            );
            self.push(v, "rdma", "rdma.max", value);
        }
        Ok(())
    }

    fn unified(
        &mut self,
        u: &std::collections::HashMap<String, String>,
    ) -> Result<(), CgroupError> {
        let mut keys: Vec<_> = u.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in keys {
            let field = format!("linux.resources.unified[{key:?}]");
            if key.contains('/') || key.starts_with('.') || !key.contains('.') {
                return Err(CgroupError::Unsupported {
                    field,
                    reason: "a key is the name of a cgroup v2 file like memory.high".into(),
                });
            }
            if !self.host.has_file(Version::V2, "", "cgroup.procs") {
                return Err(CgroupError::Unsupported {
                    field,
                    reason: "unified keys need cgroup v2, and this container has no cgroup2 directory (a v1-only host)".into(),
                });
            }
            self.require(Version::V2, "", key, &field)?;
            self.push(Version::V2, "", key, value.clone());
        }
        Ok(())
    }
}
