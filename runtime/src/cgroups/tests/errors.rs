//! Refused values: the error names the field, the file and the value, and nothing is left.

use super::*;

#[test]
fn refused_values_name_the_file_and_leave_nothing() {
    let Some(fx) = Fixture::new() else { return };
    let cases = [
        (
            serde_json::json!({"cpu": {"cpus": "99"}}),
            vec![
                "cpuset.cpus: write \"99\": ",
                "beyond what this machine has",
            ],
        ),
        (
            serde_json::json!({"cpu": {"cpus": "0-x"}}),
            vec![
                "cpuset.cpus: write \"0-x\": Invalid argument",
                "not a valid list",
            ],
        ),
        (
            serde_json::json!({"cpu": {"shares": 1}}),
            vec!["cpu.shares", "wrote \"1\" but the kernel set \"2\""],
        ),
        (
            serde_json::json!({"network": {"classID": 1048577}}),
            vec!["linux.resources.network.classID needs the net_cls controller"],
        ),
        (
            serde_json::json!({"network": {"priorities": [{"name": "eth0", "priority": 5}]}}),
            vec!["net_prio controller"],
        ),
        (
            serde_json::json!({"blockIO": {"leafWeight": 100}}),
            vec![
                "blkio.leaf_weight: does not exist",
                "linux.resources.blockIO.leafWeight",
            ],
        ),
        (
            serde_json::json!({"memory": {"limit": 67108864, "swap": 1048576}}),
            vec![
                "memory.memsw.limit_in_bytes: write \"1048576\"",
                "must be at least the memory limit",
            ],
        ),
        (
            serde_json::json!({"cpu": {"realtimeRuntime": 5000, "realtimePeriod": 100000}}),
            vec![
                "cpu.rt_runtime_us: write \"5000\": Invalid argument",
                "hierarchical",
            ],
        ),
        (
            serde_json::json!({"memory": {"swappiness": 150}}),
            vec!["linux.resources.memory.swappiness", "0..100"],
        ),
        (
            serde_json::json!({"unified": {"memory.high": "1G"}}),
            vec!["memory.high: does not exist"],
        ),
    ];
    for (i, (json, wants)) in cases.into_iter().enumerate() {
        let cg = fx.cgroup(&format!("e{i}"), Mode::Hybrid);
        let e = create(&cg, Some(&res(json))).unwrap_err().to_string();
        for w in wants {
            assert!(e.contains(w), "case {i}: {e:?} lacks {w:?}");
        }
        assert!(!e.contains("os error"), "{e}");
        for d in fx.parent_dirs() {
            assert!(!d.exists(), "case {i}: {} left behind", d.display());
        }
    }
}
