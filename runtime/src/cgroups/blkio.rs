//! Block I/O: OCI `blockIO` (v1 `blkio` semantics) onto v1 `blkio.*` files, or onto v2
//! `io.*` files with runc's conversions. Only files the kernel has are written: the
//! weight goes to `blkio.weight` or, with the BFQ scheduler, `blkio.bfq.weight`
//! (`io.bfq.weight` / `io.weight` on v2); a leaf weight needs `blkio.leaf_weight`, which
//! kernels without CFQ lack — the error says which file is missing.

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::layout::Version;
use super::resources::Planner;
use super::{convert, CgroupError};

impl Planner<'_> {
    pub(super) fn block_io(&mut self, b: &LinuxBlockIo) -> Result<(), CgroupError> {
        let asks = b.weight().is_some()
            || b.leaf_weight().is_some()
            || b.weight_device().as_ref().is_some_and(|d| !d.is_empty())
            || [
                b.throttle_read_bps_device(),
                b.throttle_write_bps_device(),
                b.throttle_read_iops_device(),
                b.throttle_write_iops_device(),
            ]
            .iter()
            .any(|t| t.as_ref().is_some_and(|t| !t.is_empty()));
        if !asks {
            return Ok(());
        }
        match self.host.side("blkio").or_else(|| self.host.side("io")) {
            Some(Version::V1) => self.blkio_v1(b),
            Some(Version::V2) => self.io_v2(b),
            None => Err(CgroupError::NoController {
                field: "linux.resources.blockIO".into(),
                controller: "blkio (io on cgroup v2)".into(),
            }),
        }
    }

    /// The first of `candidates` that exists, or an error naming the first.
    fn first_existing(
        &self,
        v: Version,
        ctl: &str,
        candidates: &[&str],
        field: &str,
    ) -> Result<String, CgroupError> {
        match candidates.iter().find(|f| self.has(v, ctl, f)) {
            Some(f) => Ok(f.to_string()),
            None => {
                self.require(v, ctl, candidates[0], field)?;
                unreachable!("require fails when the file is missing")
            }
        }
    }

    fn blkio_v1(&mut self, b: &LinuxBlockIo) -> Result<(), CgroupError> {
        let v = Version::V1;
        if let Some(w) = b.weight().filter(|&w| w != 0) {
            let f = self.first_existing(
                v,
                "blkio",
                &["blkio.weight", "blkio.bfq.weight"],
                "linux.resources.blockIO.weight",
            )?;
            self.push(v, "blkio", &f, w.to_string());
        }
        if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
            let field = "linux.resources.blockIO.leafWeight";
            self.require(v, "blkio", "blkio.leaf_weight", field)?;
            self.push(v, "blkio", "blkio.leaf_weight", w.to_string());
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(w) = d.weight() {
                let f = self.first_existing(
                    v,
                    "blkio",
                    &["blkio.weight_device", "blkio.bfq.weight_device"],
                    "linux.resources.blockIO.weightDevice",
                )?;
                self.push(v, "blkio", &f, format!("{}:{} {w}", d.major(), d.minor()));
            }
            if let Some(w) = d.leaf_weight() {
                let f = "blkio.leaf_weight_device";
                self.require(
                    v,
                    "blkio",
                    f,
                    "linux.resources.blockIO.weightDevice[].leafWeight",
                )?;
                self.push(v, "blkio", f, format!("{}:{} {w}", d.major(), d.minor()));
            }
        }
        for (list, file, field) in throttles(
            b,
            [
                "blkio.throttle.read_bps_device",
                "blkio.throttle.write_bps_device",
                "blkio.throttle.read_iops_device",
                "blkio.throttle.write_iops_device",
            ],
        ) {
            for t in list {
                self.require(v, "blkio", file, field)?;
                self.push(
                    v,
                    "blkio",
                    file,
                    format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                );
            }
        }
        Ok(())
    }

    fn io_v2(&mut self, b: &LinuxBlockIo) -> Result<(), CgroupError> {
        let v = Version::V2;
        if b.leaf_weight().is_some_and(|w| w != 0)
            || b.weight_device()
                .iter()
                .flatten()
                .any(|d| d.leaf_weight().is_some())
        {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.blockIO.leafWeight".into(),
                reason: "cgroup v2 has no leaf weight; remove it".into(),
            });
        }
        // BFQ takes the v1 weight range as is; io.weight needs the converted one.
        let bfq = self.has(v, "io", "io.bfq.weight");
        if let Some(w) = b.weight().filter(|&w| w != 0) {
            if bfq {
                self.push(v, "io", "io.bfq.weight", w.to_string());
            } else {
                self.require(v, "io", "io.weight", "linux.resources.blockIO.weight")?;
                self.push(v, "io", "io.weight", convert::io_weight(w).to_string());
            }
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(w) = d.weight() {
                let (file, w) = if bfq {
                    ("io.bfq.weight", u64::from(w))
                } else {
                    self.require(v, "io", "io.weight", "linux.resources.blockIO.weightDevice")?;
                    ("io.weight", convert::io_weight(w))
                };
                self.push(v, "io", file, format!("{}:{} {w}", d.major(), d.minor()));
            }
        }
        for (list, key, field) in throttles(b, ["rbps", "wbps", "riops", "wiops"]) {
            for t in list {
                self.require(v, "io", "io.max", field)?;
                let rate = if t.rate() == 0 {
                    "max".to_string()
                } else {
                    t.rate().to_string()
                };
                self.push(
                    v,
                    "io",
                    "io.max",
                    format!("{}:{} {key}={rate}", t.major(), t.minor()),
                );
            }
        }
        Ok(())
    }
}

/// The four throttle lists with their file (v1) or key (v2) and config field.
fn throttles<'a>(
    b: &'a LinuxBlockIo,
    names: [&'static str; 4],
) -> Vec<(&'a [LinuxThrottleDevice], &'static str, &'static str)> {
    let lists = [
        (
            b.throttle_read_bps_device(),
            "linux.resources.blockIO.throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "linux.resources.blockIO.throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "linux.resources.blockIO.throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "linux.resources.blockIO.throttleWriteIOPSDevice",
        ),
    ];
    lists
        .into_iter()
        .zip(names)
        .map(|((list, field), name)| (list.as_deref().unwrap_or(&[]), name, field))
        .collect()
}
