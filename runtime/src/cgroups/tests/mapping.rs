//! The OCI → file mapping for v1 and v2 against a fake host, so that controllers this
//! machine does not enable on cgroup2 (memory, cpu, io, pids, rdma) are covered too.

use std::collections::{BTreeMap, BTreeSet};

use super::res;
use crate::cgroups::layout::Version;
use crate::cgroups::resources::{plan, FileWrite, Host, Purpose};
use crate::cgroups::CgroupError;

struct Fake {
    v1: Vec<&'static str>,
    v2: Vec<&'static str>,
    files: BTreeSet<&'static str>,
    contents: BTreeMap<&'static str, &'static str>,
}

impl Fake {
    /// A pure v2 host with the usual controllers and files.
    fn v2() -> Fake {
        Fake {
            v1: vec![],
            v2: vec!["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma"],
            files: [
                "cgroup.procs",
                "memory.max",
                "memory.swap.max",
                "memory.low",
                "memory.high",
                "cpu.max",
                "cpu.max.burst",
                "cpu.weight",
                "cpu.idle",
                "io.weight",
                "io.max",
                "hugetlb.2MB.max",
                "hugetlb.2MB.rsvd.max",
                "pids.max",
            ]
            .into(),
            contents: [("cpu.max", "30000 50000"), ("memory.current", "5000")].into(),
        }
    }

    /// A v1 host like this project's machines (no blkio.weight, BFQ instead; no leaf weight).
    fn v1() -> Fake {
        Fake {
            v1: vec![
                "cpuset", "cpu", "memory", "pids", "blkio", "devices", "freezer",
            ],
            v2: vec![],
            files: [
                "memory.memsw.limit_in_bytes",
                "memory.kmem.tcp.limit_in_bytes",
                "blkio.bfq.weight",
                "blkio.bfq.weight_device",
                "blkio.throttle.read_bps_device",
                "cpu.idle",
            ]
            .into(),
            contents: [("memory.limit_in_bytes", "67108864")].into(),
        }
    }
}

impl Host for Fake {
    fn side(&self, c: &str) -> Option<Version> {
        if self.v1.contains(&c) {
            Some(Version::V1)
        } else if self.v2.contains(&c) {
            Some(Version::V2)
        } else {
            None
        }
    }
    fn has_file(&self, _: Version, _: &str, file: &str) -> bool {
        self.files.contains(file)
    }
    fn read(&self, _: Version, _: &str, file: &str) -> Option<String> {
        self.contents.get(file).map(|s| s.to_string())
    }
    fn path(&self, _: Version, _: &str, file: &str) -> String {
        format!("/fake/c/{file}")
    }
}

fn writes(host: &Fake, json: serde_json::Value, purpose: Purpose) -> Vec<(String, String)> {
    let w: Vec<FileWrite> = plan(&res(json), host, purpose).unwrap();
    w.into_iter()
        .filter(|w| w.controller != "devices")
        .map(|w| (w.file, w.value))
        .collect()
}

fn err(host: &Fake, json: serde_json::Value) -> String {
    plan(&res(json), host, Purpose::Create)
        .map(|w| format!("unexpected success: {w:?}"))
        .unwrap_or_else(|e: CgroupError| e.to_string())
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn v2_conversions() {
    let got = writes(
        &Fake::v2(),
        serde_json::json!({
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000,
                    "idle": 0, "cpus": "0-1", "mems": "0"},
            "memory": {"limit": 104857600, "swap": 314572800, "reservation": 52428800,
                       "swappiness": 10, "kernelTCP": 1, "disableOOMKiller": true},
            "pids": {"limit": -1},
            "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": -1}],
            "rdma": {"mlx5_0": {"hcaHandles": 3}},
            "unified": {"memory.high": "90M"}
        }),
        Purpose::Create,
    );
    assert_eq!(
        got,
        pairs(&[
            ("cpuset.cpus", "0-1"),
            ("cpuset.mems", "0"),
            ("cpu.weight", "100"),
            ("cpu.max", "50000 100000"),
            ("cpu.max.burst", "1000"),
            ("cpu.idle", "0"),
            // swap is memory+swap in the spec: 300M - 100M of swap alone.
            ("memory.swap.max", "209715200"),
            ("memory.max", "104857600"),
            ("memory.low", "52428800"),
            ("pids.max", "max"),
            ("io.weight", "4950"),
            ("io.max", "8:0 rbps=1000"),
            ("io.max", "8:0 wiops=max"),
            ("hugetlb.2MB.max", "max"),
            ("hugetlb.2MB.rsvd.max", "max"),
            ("rdma.max", "mlx5_0 hca_handle=3 hca_object=max"),
            ("memory.high", "90M"),
        ])
    );
}

#[test]
fn v2_edges() {
    let h = Fake::v2();
    // Unlimited memory without a swap figure unlimits swap too; quota -1 is "max".
    assert_eq!(
        writes(
            &h,
            serde_json::json!({"memory": {"limit": -1}, "cpu": {"quota": -1}}),
            Purpose::Create
        ),
        pairs(&[
            ("cpu.max", "max 50000"),
            ("memory.swap.max", "max"),
            ("memory.max", "max")
        ])
    );
    // update with only a period keeps the current quota.
    assert_eq!(
        writes(
            &h,
            serde_json::json!({"cpu": {"period": 200000}}),
            Purpose::Update
        ),
        pairs(&[("cpu.max", "30000 200000")])
    );
    // BFQ takes the v1 weight as is.
    let mut bfq = Fake::v2();
    bfq.files.insert("io.bfq.weight");
    assert_eq!(
        writes(
            &bfq,
            serde_json::json!({"blockIO": {"weight": 500,
            "weightDevice": [{"major": 8, "minor": 16, "weight": 300}]}}),
            Purpose::Create
        ),
        pairs(&[("io.bfq.weight", "500"), ("io.bfq.weight", "8:16 300")])
    );
}

#[test]
fn v2_refuses_what_it_cannot_express() {
    let h = Fake::v2();
    let e = err(&h, serde_json::json!({"cpu": {"realtimeRuntime": 1000}}));
    assert!(e.contains("no realtime CPU budget"), "{e}");
    let e = err(&h, serde_json::json!({"blockIO": {"leafWeight": 10}}));
    assert!(
        e.contains("linux.resources.blockIO.leafWeight") && e.contains("no leaf weight"),
        "{e}"
    );
    let e = err(&h, serde_json::json!({"network": {"classID": 1}}));
    assert!(e.contains("needs the net_cls controller"), "{e}");
    let e = err(
        &h,
        serde_json::json!({"memory": {"limit": 100, "swap": 50}}),
    );
    assert!(
        e.contains("linux.resources.memory.swap") && e.contains("at least the memory limit"),
        "{e}"
    );
    let e = err(&h, serde_json::json!({"memory": {"swap": 50}}));
    assert!(e.contains("needs a memory limit"), "{e}");
    let e = err(&h, serde_json::json!({"unified": {"../x": "1"}}));
    assert!(e.contains("linux.resources.unified[\"../x\"]"), "{e}");
    let e = err(&h, serde_json::json!({"unified": {"memory.nope": "1"}}));
    assert!(e.contains("/fake/c/memory.nope: does not exist"), "{e}");
    let e = err(
        &h,
        serde_json::json!({"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]}),
    );
    assert!(e.contains("not a page size"), "{e}");
    // checkBeforeUpdate: the fake cgroup uses 5000 bytes.
    let e = plan(
        &res(serde_json::json!({"memory": {"limit": 4096, "checkBeforeUpdate": true}})),
        &h,
        Purpose::Update,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("below the current usage 5000"), "{e}");
}

#[test]
fn v1_memory_and_swap_order_follow_the_current_limit() {
    let h = Fake::v1(); // current limit 64M
    assert_eq!(
        writes(
            &h,
            serde_json::json!({"memory": {"limit": 134217728, "swap": 268435456}}),
            Purpose::Update
        ),
        pairs(&[
            ("memory.memsw.limit_in_bytes", "268435456"),
            ("memory.limit_in_bytes", "134217728"),
        ]),
        "raising: memory+swap first"
    );
    assert_eq!(
        writes(
            &h,
            serde_json::json!({"memory": {"limit": 33554432, "swap": 33554432}}),
            Purpose::Update
        ),
        pairs(&[
            ("memory.limit_in_bytes", "33554432"),
            ("memory.memsw.limit_in_bytes", "33554432"),
        ]),
        "lowering: memory first"
    );
    assert_eq!(
        writes(
            &h,
            serde_json::json!({"memory": {"limit": -1}}),
            Purpose::Update
        ),
        pairs(&[
            ("memory.memsw.limit_in_bytes", "-1"),
            ("memory.limit_in_bytes", "-1")
        ]),
    );
    // kernel is gone from this fake kernel: skipped; kernelTCP is there: written.
    assert_eq!(
        writes(
            &h,
            serde_json::json!({"memory": {"kernel": 1048576, "kernelTCP": 2097152,
            "disableOOMKiller": false}}),
            Purpose::Create
        ),
        pairs(&[("memory.kmem.tcp.limit_in_bytes", "2097152")])
    );
}

#[test]
fn v1_cpu_blkio_and_missing_files() {
    let h = Fake::v1();
    let w = plan(
        &res(serde_json::json!({"cpu": {"shares": 100}})),
        &h,
        Purpose::Create,
    )
    .unwrap();
    assert!(w[0].verify, "cpu.shares is read back: the kernel clamps it");
    assert_eq!(
        writes(
            &h,
            serde_json::json!({"cpu": {"shares": 512, "quota": 20000, "period": 50000,
            "realtimePeriod": 0, "idle": 1}}),
            Purpose::Create
        ),
        pairs(&[
            ("cpu.shares", "512"),
            ("cpu.cfs_period_us", "50000"),
            ("cpu.cfs_quota_us", "20000"),
            ("cpu.idle", "1"),
        ])
    );
    assert_eq!(
        writes(
            &h,
            serde_json::json!({"blockIO": {"weight": 300,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]}}),
            Purpose::Create
        ),
        pairs(&[
            ("blkio.bfq.weight", "300"),
            ("blkio.bfq.weight_device", "8:0 200"),
            ("blkio.throttle.read_bps_device", "8:0 1048576"),
        ])
    );
    let e = err(
        &h,
        serde_json::json!({"blockIO": {"throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 5}]}}),
    );
    assert!(
        e.contains("/fake/c/blkio.throttle.write_iops_device: does not exist"),
        "{e}"
    );
    assert!(
        e.contains("linux.resources.blockIO.throttleWriteIOPSDevice"),
        "{e}"
    );
    let e = err(&h, serde_json::json!({"cpu": {"burst": 10}}));
    assert!(e.contains("cpu.cfs_burst_us: does not exist"), "{e}");
    let e = err(
        &h,
        serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}),
    );
    assert!(e.contains("needs the hugetlb controller"), "{e}");
    let e = err(&h, serde_json::json!({"unified": {"memory.high": "1"}}));
    assert!(e.contains("need cgroup v2"), "{e}");
}

#[test]
fn v1_devices_start_from_deny_all_and_only_on_create() {
    let h = Fake::v1();
    let r = res(
        serde_json::json!({"devices": [{"allow": true, "type": "c", "major": 4, "access": "rw"}]}),
    );
    let w = plan(&r, &h, Purpose::Create).unwrap();
    let dev: Vec<(&str, &str)> = w
        .iter()
        .filter(|w| w.controller == "devices")
        .map(|w| (w.file.as_str(), w.value.as_str()))
        .collect();
    assert_eq!(dev[0], ("devices.deny", "a"));
    assert_eq!(dev[1], ("devices.allow", "c 4:* rw"));
    assert_eq!(
        dev.len(),
        2 + crate::cgroups::devices::DEFAULT_ALLOWED.len()
    );
    assert!(plan(&r, &h, Purpose::Update).unwrap().is_empty());
}

#[test]
fn controllers_set_ignores_empty_sections() {
    use crate::cgroups::resources::controllers;
    let empty = res(
        serde_json::json!({"memory": {}, "pids": {"limit": 0}, "blockIO": {},
        "rdma": {}, "devices": [{"allow": false, "access": "rwm"}], "unified": {}}),
    );
    assert!(controllers(&empty).is_empty(), "{:?}", controllers(&empty));
    let some = res(
        serde_json::json!({"memory": {"limit": 1}, "cpu": {"cpus": "0"},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}], "unified": {"io.max": "x", "cgroup.max.depth": "3"}}),
    );
    assert_eq!(controllers(&some), ["cpuset", "memory", "hugetlb", "io"]);
}
