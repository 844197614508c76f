//! The rootfs for real: each test builds a busybox rootfs in a temp dir and runs
//! `prepare` + `pivot` + `finalize` as pid 1 of fresh namespaces in a separate process
//! (see `rootfs_harness`; the scenarios are in `rootfs_scenarios`), then checks what a
//! container would see: mounts and their flags, devices, symlinks, masked and read-only
//! paths — and that escapes are refused. Needs root.

mod rootfs_harness;
mod rootfs_scenarios;

use rootfs_harness::*;
use rootfs_scenarios::{MASKED, READONLY, SCENARIOS};
use serde_json::json;

fn assert_ok(o: &Outcome) {
    for step in ["prepare", "pivot", "finalize"] {
        assert_eq!(
            o.result()[step]["ok"],
            true,
            "{step} failed: {}\n{}",
            o.result()[step],
            o.log
        );
    }
}

fn has(opts: &[String], want: &[&str]) -> bool {
    want.iter().all(|w| opts.iter().any(|o| o == w))
}

/// Entry point of the scenario processes (re-executions of this binary); does nothing in a
/// normal test run.
#[test]
#[ignore = "entry point for the scenario child processes, run by the other tests"]
fn scenario_entry() {
    entry(SCENARIOS);
}

// ----- the tests -----

#[test]
fn runc_default_spec_boots_with_every_mount_device_link_and_mask() {
    let o = run_scenario(SCENARIOS, "runc_default");
    assert_ok(&o);
    // Not a benchmark: a figure for whoever reads the output (--nocapture).
    eprintln!("runc_default: µs per step {}", o.result()["micros"]);
    let r = o.result();
    let m = |mp: &str| {
        o.mount("mountinfo", mp)
            .unwrap_or_else(|| panic!("no mount at {mp}: {}", r["mountinfo"]))
    };
    let opts = |mp: &str| o.mount_opts("mountinfo", mp);
    assert_eq!(r["pid"], 1);
    assert_eq!(r["cwd"], "/");

    // Mounts, with the flags asked for.
    assert_eq!(m("/proc")["fstype"], "proc");
    assert_eq!(m("/dev")["fstype"], "tmpfs");
    assert!(has(&opts("/dev"), &["rw", "nosuid"]), "{:?}", opts("/dev"));
    assert!(m("/dev")["super_options"]
        .as_str()
        .unwrap()
        .contains("size=65536k"));
    assert_eq!(m("/dev/pts")["fstype"], "devpts");
    assert!(has(&opts("/dev/pts"), &["nosuid", "noexec"]));
    let pts = m("/dev/pts")["super_options"].as_str().unwrap();
    assert!(
        pts.contains("gid=5") && pts.contains("mode=620") && pts.contains("ptmxmode=666"),
        "{pts}"
    );
    assert!(has(&opts("/dev/shm"), &["nosuid", "nodev", "noexec"]));
    assert_eq!(r["shm"]["mode"], 0o1777);
    assert_eq!(m("/dev/mqueue")["fstype"], "mqueue");
    assert!(has(&opts("/dev/mqueue"), &["nosuid", "nodev", "noexec"]));
    assert_eq!(m("/sys")["fstype"], "sysfs");
    assert!(has(&opts("/sys"), &["ro", "nosuid", "nodev", "noexec"]));
    assert_eq!(m("/sys/fs/cgroup")["fstype"], "tmpfs");
    assert!(has(
        &opts("/sys/fs/cgroup"),
        &["ro", "nosuid", "nodev", "noexec"]
    ));
    assert!(has(&opts("/"), &["ro"]), "readonly root: {:?}", opts("/"));

    // cgroup: one directory per host hierarchy, each the container's own (the marker made
    // in the test cgroup shows), read-only.
    let dirs: Vec<&str> = r["cgroup_dirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in ["pids", "memory", "cpu", "systemd", "unified"] {
        assert!(
            dirs.contains(&want),
            "{want} missing from /sys/fs/cgroup: {dirs:?}"
        );
        let mp = format!("/sys/fs/cgroup/{want}");
        assert!(
            has(&opts(&mp), &["ro", "nosuid", "nodev", "noexec"]),
            "{mp}: {:?}",
            opts(&mp)
        );
        assert!(
            m(&mp)["root"]
                .as_str()
                .unwrap()
                .contains("isc-rootfs-runc_default"),
            "{mp} is not the own cgroup: {}",
            m(&mp)
        );
        assert_eq!(r["cgroup_markers"][want]["type"], "d", "marker in {want}");
    }
    assert_eq!(m("/sys/fs/cgroup/unified")["fstype"], "cgroup2");
    assert_eq!(r["cgroup_mkdir"], "EROFS");

    // Devices.
    for (p, maj, min) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ] {
        let d = &r["devices"][p];
        assert_eq!(
            (d["type"].as_str(), d["major"].as_u64(), d["minor"].as_u64()),
            (Some("c"), Some(maj), Some(min)),
            "{p}: {d}"
        );
        assert_eq!(d["mode"], 0o666, "{p}");
        assert_eq!((d["uid"].as_u64(), d["gid"].as_u64()), (Some(0), Some(0)));
    }

    // Symlinks.
    assert_eq!(r["links"]["/dev/fd"], "/proc/self/fd");
    assert_eq!(r["links"]["/dev/stdin"], "/proc/self/fd/0");
    assert_eq!(r["links"]["/dev/stdout"], "/proc/self/fd/1");
    assert_eq!(r["links"]["/dev/stderr"], "/proc/self/fd/2");
    assert_eq!(r["links"]["/dev/ptmx"], "pts/ptmx");
    if r["host_has_kcore"] == true {
        assert_eq!(r["links"]["/dev/core"], "/proc/kcore");
    }

    // Masked paths read empty and cannot be written; read-only paths refuse writes.
    if r["host_has_kcore"] == true {
        assert_eq!(r["kcore"], "", "kcore must read as /dev/null");
        assert!(o.mount("mountinfo", "/proc/kcore").is_some());
    }
    assert_eq!(r["keys"], "");
    assert_eq!(r["timer_list"], "");
    assert_eq!(r["sys_firmware_entries"], 0);
    assert_eq!(r["sys_firmware_create"], "EROFS");
    assert!(has(&opts("/sys/firmware"), &["ro"]));
    assert_eq!(r["hostname_write"], "EROFS");
    let present: Vec<&str> = r["present"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    if present.contains(&"/proc/sysrq-trigger") {
        assert_eq!(r["sysrq_write"], "EROFS");
    }
    assert!(has(&opts("/proc/sys"), &["ro"]));
    assert_eq!(r["root_create"], "EROFS");
    assert_eq!(r["dev_create"], "ok");
    assert_eq!(r["shm_create"], "ok");
    assert_eq!(r["busybox"]["stdout"], "hello from the rootfs\n");

    // Events: real steps with real values, in order.
    let ev = o.events();
    assert_eq!(ev[0]["kind"], "mount");
    assert_eq!(ev[0]["destination"], "/");
    assert_eq!(ev[0]["flags"], json!(["MS_REC", "MS_SLAVE"]));
    assert!(
        ev.iter().any(|e| e["kind"] == "mount"
            && e["fstype"] == "bind"
            && e["flags"] == json!(["MS_BIND", "MS_REC"])
            && e["mount_source"].as_str().unwrap().ends_with("/rootfs")),
        "rootfs bind event"
    );
    let proc_ev = o
        .events_of("mount")
        .into_iter()
        .find(|e| e["destination"] == "/proc")
        .unwrap();
    assert_eq!(proc_ev["fstype"], "proc");
    let devs = o.events_of("device");
    assert_eq!(devs.len(), 6);
    assert!(devs
        .iter()
        .all(|d| d["bind"] == false && d["dev_type"] == "c"));
    assert!(o
        .events_of("symlink")
        .iter()
        .any(|e| e["path"] == "/dev/ptmx" && e["target"] == "pts/ptmx"));
    let pivots = o.events_of("pivot_root");
    assert_eq!(pivots.len(), 1);
    assert_eq!(pivots[0]["method"], "pivot_root");
    let ro: Vec<String> = o
        .events_of("readonly_path")
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    let want_ro: Vec<&str> = READONLY
        .iter()
        .copied()
        .filter(|p| present.contains(p))
        .collect();
    assert_eq!(ro, want_ro, "read-only paths: the present ones, in order");
    let masked: Vec<String> = o
        .events_of("mask_path")
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    let want_masked: Vec<&str> = MASKED
        .iter()
        .copied()
        .filter(|p| present.contains(p))
        .collect();
    assert_eq!(
        masked, want_masked,
        "masked paths: the present ones, in order"
    );
    assert!(masked.contains(&"/sys/firmware".to_string()));
    // The order of the whole boot: propagation, rootfs bind, mounts, devices, pivot, finalize.
    let pos = |k: &str| ev.iter().position(|e| e["kind"] == k).unwrap();
    assert!(pos("device") < pos("pivot_root") && pos("pivot_root") < pos("readonly_path"));
    assert!(pos("readonly_path") < pos("mask_path"));
}

#[test]
fn bind_mounts_apply_every_option() {
    let o = run_scenario(SCENARIOS, "binds");
    assert_ok(&o);
    let r = o.result();
    let opts = |mp: &str| o.mount_opts("mountinfo", mp);
    assert_eq!(r["data_read"], "host data");
    assert_eq!(r["data_create"], "ok");
    assert_eq!(r["ro_read"], "host data");
    assert_eq!(r["ro_create"], "EROFS");
    assert!(
        has(&opts("/ro"), &["ro", "nosuid", "nodev", "noexec"]),
        "{:?}",
        opts("/ro")
    );
    assert!(has(&opts("/data"), &["rw"]));
    // A file bind, read-only.
    assert_eq!(r["conf_read"], "conf");
    assert_eq!(r["conf_write"], "EROFS");
    // tmpcopyup kept the image's /etc.
    assert_eq!(r["hostname_copied"], "rootfs-test\n");
    assert_eq!(r["motd_copied"], "from the image");
    assert_eq!(r["etc_create"], "ok");
    assert_eq!(o.mount("mountinfo", "/etc").unwrap()["fstype"], "tmpfs");
    // rro: read-only all the way down; ro: only the top.
    assert_eq!(r["rro_create"], "EROFS");
    assert_eq!(r["rro_sub_create"], "EROFS");
    assert!(has(&opts("/rro/sub"), &["ro"]));
    assert_eq!(r["rbind_ro_create"], "EROFS");
    assert_eq!(r["rbind_ro_sub_create"], "ok");
    // Propagation and atime.
    let optional = |mp: &str| {
        o.mount("mountinfo", mp).unwrap()["optional"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        optional("/shared").contains("shared:"),
        "{}",
        optional("/shared")
    );
    assert!(optional("/unbindable").contains("unbindable"));
    assert!(has(&opts("/atime"), &["noatime"]), "{:?}", opts("/atime"));
    // A read-only tmpfs is read-only after finalize, with its mode.
    assert_eq!(r["ro_tmp"]["mode"], 0o700);
    assert_eq!(r["ro_tmp_create"], "EROFS");
    assert!(has(&opts("/ro-tmp"), &["ro"]));
    // A cgroup2 mount: the unified hierarchy alone, read-only without a cgroup namespace.
    assert_eq!(o.mount("mountinfo", "/cg2").unwrap()["fstype"], "cgroup2");
    assert!(
        has(&opts("/cg2"), &["ro", "nosuid", "nodev", "noexec"]),
        "{:?}",
        opts("/cg2")
    );
    assert_eq!(r["cg2_mkdir"], "EROFS");
    // Events name the flags.
    let ev = o.events_of("mount");
    assert!(
        ev.iter().any(|e| e["destination"] == "/ro"
            && e["flags"]
                == json!([
                    "MS_RDONLY",
                    "MS_NOSUID",
                    "MS_NODEV",
                    "MS_NOEXEC",
                    "MS_REMOUNT",
                    "MS_BIND"
                ])),
        "{ev:#?}"
    );
    assert!(ev.iter().any(|e| e["destination"] == "/rro"
        && e["flags"] == json!(["AT_RECURSIVE", "+MOUNT_ATTR_RDONLY"])));
    assert!(ev
        .iter()
        .any(|e| e["destination"] == "/shared" && e["flags"] == json!(["MS_REC", "MS_SHARED"])));
    assert!(ev
        .iter()
        .any(|e| e["destination"] == "/data" && e["fstype"] == "bind"));
}

#[test]
fn symlinked_destinations_stay_inside_the_rootfs() {
    let o = run_scenario(SCENARIOS, "escape");
    let r = o.result();
    assert_eq!(r["prepare"]["ok"], true, "{}", r["prepare"]);
    assert_eq!(r["pivot"]["ok"], true, "{}", r["pivot"]);
    assert_eq!(r["mounts_outside"], json!([]), "a mount escaped the rootfs");
    assert_eq!(
        r["outside_entries"],
        json!([]),
        "something was created outside the rootfs"
    );
    assert_eq!(r["inside_evil"], "m");
    assert_eq!(r["inside_abs"], "m");
    assert_eq!(r["inside_tmpfs"]["type"], "d");
    assert_eq!(
        o.mount("mountinfo", "/outside/t").unwrap()["fstype"],
        "tmpfs"
    );
}

#[test]
fn proc_as_a_symlink_is_refused() {
    let o = run_scenario(SCENARIOS, "proc_symlink");
    let p = &o.result()["prepare"];
    assert_eq!(p["ok"], false);
    let e = p["error"].as_str().unwrap();
    assert!(
        e.starts_with("mount proc on /proc: refused:") && e.contains("symlink"),
        "{e}"
    );
    assert_eq!(p["step"], "mount");
    assert_eq!(o.result()["procfs_on_etc"], false);
}

#[test]
fn masking_with_a_swapped_dev_null_is_refused() {
    for (name, what) in [
        (
            "dev_null_symlink",
            "a symlink (to /proc/sys/kernel/core_pattern)",
        ),
        ("dev_null_file", "a regular file"),
    ] {
        let o = run_scenario(SCENARIOS, name);
        let r = o.result();
        assert_eq!(r["prepare"]["ok"], true, "{}", r["prepare"]);
        assert_eq!(r["pivot"]["ok"], true, "{}", r["pivot"]);
        let f = &r["finalize"];
        assert_eq!(f["ok"], false, "{name}: finalize must refuse");
        let e = f["error"].as_str().unwrap();
        assert!(
            e.contains("refused: /dev/null in the container is") && e.contains(what),
            "{e}"
        );
        assert_eq!(f["step"], "mask");
        assert_eq!(
            r["kcore_mounted"], false,
            "nothing may be bound over /proc/kcore"
        );
    }
}

#[test]
fn user_namespace_binds_devices_and_falls_back_to_binding_sys() {
    let o = run_scenario(SCENARIOS, "userns");
    assert_ok(&o);
    let r = o.result();
    let opts = |mp: &str| o.mount_opts("mountinfo", mp);
    // mknod is not allowed: every device is the host's node, bind-mounted.
    let devs = o.events_of("device");
    assert_eq!(devs.len(), 6);
    assert!(devs.iter().all(|d| d["bind"] == true));
    assert_eq!(r["devices"]["/dev/null"]["type"], "c");
    assert_eq!(r["devices"]["/dev/null"]["minor"], 3);
    assert!(o.mount("mountinfo", "/dev/null").is_some());
    // No own network namespace: sysfs cannot be mounted, the host's /sys is bound instead,
    // read-only all the way down.
    assert!(o
        .events_of("mount")
        .iter()
        .any(|e| e["destination"] == "/sys"
            && e["mount_source"] == "/sys"
            && e["fstype"] == "bind"));
    assert!(
        has(&opts("/sys"), &["ro", "nosuid", "nodev", "noexec"]),
        "{:?}",
        opts("/sys")
    );
    assert!(
        matches!(r["sys_create"].as_str(), Some("EROFS" | "EACCES" | "EPERM")),
        "{}",
        r["sys_create"]
    );
    assert_eq!(r["cgroup_mkdir"], "EROFS");
    assert_eq!(r["hostname_write"], "EROFS");
    assert_eq!(r["root_create"], "EROFS");
    assert_eq!(r["busybox"]["stdout"], "hello from the rootfs\n");
    assert_eq!(r["cgroup_markers"]["pids"]["type"], "d");
    // Locked flags kept by the retried remount.
    assert_eq!(r["locked_read"], "locked");
    assert_eq!(r["locked_create"], "EROFS");
    assert!(
        has(&opts("/locked"), &["ro", "nosuid", "nodev", "noexec"]),
        "{:?}",
        opts("/locked")
    );
    assert!(
        o.events_of("mount")
            .iter()
            .any(|e| e["destination"] == "/locked"
                && e["flags"]
                    == json!([
                        "MS_RDONLY",
                        "MS_NOSUID",
                        "MS_NODEV",
                        "MS_NOEXEC",
                        "MS_REMOUNT",
                        "MS_BIND",
                        "MS_RELATIME"
                    ])),
        "{:#?}",
        o.events_of("mount")
    );
}

#[test]
fn unchanged_runc_spec_rootless_config_boots_in_a_user_namespace() {
    let o = run_scenario(SCENARIOS, "rootless_spec");
    assert_ok(&o);
    let r = o.result();
    let opts = |mp: &str| o.mount_opts("mountinfo", mp);
    assert!(
        has(&opts("/sys"), &["ro", "nosuid", "nodev", "noexec"]),
        "{:?}",
        opts("/sys")
    );
    assert_eq!(o.mount("mountinfo", "/sys").unwrap()["fstype"], "sysfs");
    // The host's cgroup tree under the rbind of /sys is covered by the container's own,
    // read-only (CVE-2023-25809).
    assert_eq!(r["cgroup_mkdir"], "EROFS");
    assert_eq!(r["unified_mkdir"], "EROFS");
    assert_eq!(r["cgroup_markers"]["pids"]["type"], "d");
    assert_eq!(r["hostname_write"], "EROFS");
    assert!(o.events_of("device").iter().all(|d| d["bind"] == true));
    assert_eq!(r["busybox"]["stdout"], "hello from the rootfs\n");
}

#[test]
fn cgroup_namespace_gets_real_writable_cgroup_mounts_when_asked_rw() {
    let o = run_scenario(SCENARIOS, "cgroupns_rw");
    assert_ok(&o);
    let r = o.result();
    let pids = o.mount("mountinfo", "/sys/fs/cgroup/pids").unwrap();
    assert_eq!(pids["fstype"], "cgroup");
    assert_eq!(
        pids["root"], "/",
        "a fresh cgroupfs shows the namespace root"
    );
    assert!(o
        .mount_opts("mountinfo", "/sys/fs/cgroup/pids")
        .contains(&"rw".to_string()));
    assert_eq!(
        o.mount("mountinfo", "/sys/fs/cgroup/unified").unwrap()["fstype"],
        "cgroup2"
    );
    assert_eq!(
        r["cgroup_markers"]["pids"]["type"], "d",
        "the namespace root is the test cgroup"
    );
    assert_eq!(r["pids_mkdir"], "ok");
    assert_eq!(r["unified_mkdir"], "ok");
}

#[test]
fn cgroup_mounts_stay_read_only_without_a_cgroup_namespace() {
    // CVE-2023-25809: "rw" is not honoured without a cgroup namespace.
    let o = run_scenario(SCENARIOS, "cgroup_rw_no_cgroupns");
    assert_ok(&o);
    let r = o.result();
    assert_eq!(r["pids_mkdir"], "EROFS");
    assert_eq!(r["unified_mkdir"], "EROFS");
    assert_eq!(r["tmpfs_create"], "EROFS");
    for h in ["pids", "memory", "unified"] {
        let mp = format!("/sys/fs/cgroup/{h}");
        assert!(has(&o.mount_opts("mountinfo", &mp), &["ro"]), "{mp}");
        assert_eq!(
            r["cgroup_markers"][h]["type"], "d",
            "{mp} is the container's own cgroup"
        );
    }
}

#[test]
fn no_pivot_moves_the_rootfs_and_chroots() {
    let o = run_scenario(SCENARIOS, "no_pivot");
    assert_ok(&o);
    let r = o.result();
    assert_eq!(r["marker"], "in the rootfs");
    assert_eq!(r["busybox"]["stdout"], "rootfs-test\n");
    let p = o.events_of("pivot_root");
    assert_eq!(p[0]["method"], "move_chroot");
    assert!(o
        .events_of("mount")
        .iter()
        .any(|e| e["destination"] == "/" && e["flags"] == json!(["MS_MOVE"])));
    // Masking still works under --no-pivot.
    assert_eq!(r["timer_list"], "");
}

#[test]
fn rootfs_propagation_default_rslave_receives_host_mounts_and_leaks_nothing() {
    let o = run_scenario(SCENARIOS, "propagation_default");
    assert_ok(&o);
    assert_eq!(
        o.host["leaked"],
        json!([]),
        "container mounts reached the host"
    );
    assert_eq!(o.result()["from_host"], "hello from the host");
    assert!(o.mount("mountinfo", "/").unwrap()["optional"]
        .as_str()
        .unwrap()
        .contains("master:"));
}

#[test]
fn rootfs_propagation_private_cuts_the_host_off() {
    let o = run_scenario(SCENARIOS, "propagation_private");
    assert_ok(&o);
    assert_eq!(o.host["leaked"], json!([]));
    assert_eq!(o.result()["from_host"]["error"], "ENOENT");
    assert_eq!(o.mount("mountinfo", "/").unwrap()["optional"], "");
}

#[test]
fn rootfs_propagation_shared_and_unbindable_show_on_the_container_root() {
    let o = run_scenario(SCENARIOS, "propagation_shared");
    assert_ok(&o);
    assert_eq!(o.host["leaked"], json!([]));
    assert!(o.mount("mountinfo", "/").unwrap()["optional"]
        .as_str()
        .unwrap()
        .contains("shared:"));
    let o = run_scenario(SCENARIOS, "propagation_unbindable");
    assert_ok(&o);
    assert!(o.mount("mountinfo", "/").unwrap()["optional"]
        .as_str()
        .unwrap()
        .contains("unbindable"));
}

#[test]
fn bad_input_gets_an_error_naming_the_field_and_path() {
    let o = run_scenario(SCENARIOS, "bad_input");
    let r = o.result();
    let err = |k: &str| {
        assert_eq!(r[k]["ok"], false, "{k} should fail: {}", r[k]);
        r[k]["error"].as_str().unwrap().to_string()
    };
    assert!(err("bind_unknown_option").contains("mounts[0] (/x): unknown option 'bogus'"));
    assert!(err("bad_propagation").contains("linux.rootfsPropagation: unknown value 'sideways'"));
    assert!(err("device_type_a").contains("linux.devices[0] (/dev/x): type 'a'"));
    assert_eq!(
        r["mounts_unchanged"], true,
        "config errors must come before any mount"
    );
    assert_eq!(
        err("tmpfs_bad_data"),
        "mount tmpfs on /x: option 'bogus=1' is refused by tmpfs (EINVAL); fix or remove it"
    );
    assert_eq!(
        err("bind_missing_source"),
        "mount /nonexistent-source on /x: ENOENT: No such file or directory"
    );
    assert_eq!(r["bind_missing_source"]["errno"], libc::ENOENT);
    assert!(err("bind_into_proc").contains("/proc/sys/kernel/core_pattern is inside /proc"));
    assert!(err("tmpfs_on_proc").contains("only a procfs may be mounted on /proc"));
    assert_eq!(
        r["lxcfs_file_allowed"]["ok"], true,
        "{}",
        r["lxcfs_file_allowed"]
    );
}

#[test]
fn config_devices_get_their_type_mode_and_owner() {
    let o = run_scenario(SCENARIOS, "config_devices");
    assert_ok(&o);
    let r = o.result();
    let s = |k: &str| {
        let d = &r[k];
        (
            d["type"].as_str().unwrap().to_string(),
            d["major"].as_u64().unwrap(),
            d["minor"].as_u64().unwrap(),
            d["mode"].as_u64().unwrap(),
            d["uid"].as_u64().unwrap(),
            d["gid"].as_u64().unwrap(),
        )
    };
    assert_eq!(s("fuse"), ("c".into(), 10, 229, 0o600, 1000, 1001));
    assert_eq!(s("fifo"), ("p".into(), 0, 0, 0o640, 0, 0));
    assert_eq!(s("loop"), ("b".into(), 7, 0, 0o660, 0, 6));
    assert_eq!(s("null"), ("c".into(), 1, 3, 0o604, 0, 0));
    assert_eq!(s("zero"), ("c".into(), 1, 5, 0o666, 0, 0));
    assert_eq!(r["dev_create"], "EROFS");
    assert!(has(&o.mount_opts("mountinfo", "/dev"), &["ro", "nosuid"]));
    let devs = o.events_of("device");
    assert!(devs
        .iter()
        .any(|d| d["path"] == "/dev/sub/myfifo" && d["dev_type"] == "p"));
    assert!(devs
        .iter()
        .any(|d| d["path"] == "/dev/loop-test" && d["dev_type"] == "b" && d["major"] == 7));
}

#[test]
fn a_bind_mounted_dev_gets_no_devices_or_links() {
    let o = run_scenario(SCENARIOS, "dev_bind");
    assert_ok(&o);
    let r = o.result();
    assert_eq!(r["hostfile"], "x");
    assert_eq!(r["null"]["error"], "ENOENT");
    assert_eq!(r["ptmx"]["error"], "ENOENT");
    assert!(o.events_of("device").is_empty());
}

#[test]
fn an_id_mapped_bind_is_made_in_place_without_a_host_side_tree() {
    let o = run_scenario(SCENARIOS, "idmap_in_place");
    assert_ok(&o);
    let r = o.result();
    assert_eq!(r["f"]["uid"], 0, "host uid 1000 shows as root: {r}");
    assert_eq!(r["create"], "ok");
    // Root's new file shows as root only if it was stored as 1000 (a stored 0 is outside
    // the mapping and would show as the overflow uid).
    assert_eq!(r["new"]["uid"], 0);
    assert!(
        has(&o.mount_opts("mountinfo", "/data"), &["idmapped"]),
        "{:?}",
        o.mount_opts("mountinfo", "/data")
    );
    let idmap = o
        .events_of("mount")
        .into_iter()
        .find(|e| e["data"] == "uids=1000-0-1;gids=1000-0-1")
        .cloned();
    assert!(idmap.is_some(), "{:?}", o.events());
}
