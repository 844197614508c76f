//! The rootfs for real: each test builds a busybox rootfs in a temp dir and runs
//! `prepare` + `pivot` + `finalize` as pid 1 of fresh namespaces in a separate process
//! (see `rootfs_harness`), then checks from inside what a container would see: mounts and
//! their flags, devices, symlinks, masked and read-only paths — and that escapes are refused.
//! Needs root.

mod rootfs_harness;

use std::path::Path;

use initscope_runtime::rootfs::{finalize, pivot, prepare};
use nix::sched::CloneFlags;
use oci_spec::runtime::Spec;
use rootfs_harness::*;
use serde_json::{json, Value};

// ----- configs -----

fn runc_default_mounts() -> Vec<Value> {
    serde_json::from_value(json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    ]))
    .unwrap()
}

const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// `runc spec`'s config with `mounts` and extra `linux` fields merged in.
fn spec(mounts: Vec<Value>, linux: Value, readonly_root: bool) -> Spec {
    let mut l = json!({
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                       {"type": "uts"}, {"type": "mount"}],
        "maskedPaths": MASKED,
        "readonlyPaths": READONLY,
    });
    for (k, v) in linux.as_object().unwrap() {
        l[k] = v.clone();
    }
    serde_json::from_value(json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": readonly_root},
        "mounts": mounts,
        "linux": l,
    }))
    .unwrap()
}

/// prepare, pivot, finalize; stops at the first failure. Returns the three results.
fn boot(env: &mut Env, spec: &Spec, no_pivot: bool) -> (Value, bool) {
    let rootfs = env.rootfs.clone();
    let t = std::time::Instant::now();
    let prep = result_of(prepare(spec, &rootfs, &mut env.emitter()));
    let prep_us = t.elapsed().as_micros() as u64;
    if prep["ok"] != true {
        return (json!({"prepare": prep}), false);
    }
    let t = std::time::Instant::now();
    let piv = result_of(pivot(&rootfs, no_pivot, &mut env.emitter()));
    let piv_us = t.elapsed().as_micros() as u64;
    if piv["ok"] != true {
        return (json!({"prepare": prep, "pivot": piv}), false);
    }
    let t = std::time::Instant::now();
    let fin = result_of(finalize(spec, &mut env.emitter()));
    let fin_us = t.elapsed().as_micros() as u64;
    let ok = fin["ok"] == true;
    let us = json!({"prepare": prep_us, "pivot": piv_us, "finalize": fin_us});
    (
        json!({"prepare": prep, "pivot": piv, "finalize": fin, "micros": us}),
        ok,
    )
}

fn merge(mut a: Value, b: Value) -> Value {
    for (k, v) in b.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

/// What every booted container is asked.
fn look_around(env: &Env) -> Value {
    let dev = |p: &str| (p.to_string(), stat(p));
    let link = |p: &str| (p.to_string(), readlink(p));
    let cgroup_dirs: Vec<String> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let marker = env.marker.clone().unwrap_or_default();
    let markers: serde_json::Map<String, Value> = cgroup_dirs
        .iter()
        .map(|d| (d.clone(), stat(&format!("/sys/fs/cgroup/{d}/{marker}"))))
        .collect();
    let devices: serde_json::Map<String, Value> = [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
    ]
    .iter()
    .map(|p| dev(p))
    .collect();
    let links: serde_json::Map<String, Value> = [
        "/dev/fd",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/ptmx",
        "/dev/core",
    ]
    .iter()
    .map(|p| link(p))
    .collect();
    json!({
        "mountinfo": mountinfo(),
        "pid": std::process::id(),
        "devices": devices,
        "links": links,
        "cgroup_dirs": cgroup_dirs,
        "cgroup_markers": markers,
        "busybox": run(&["/bin/busybox", "echo", "hello from the rootfs"]),
    })
}

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

// ----- scenarios (run inside the container, pid 1) -----

fn sc_runc_default(env: &mut Env) -> Value {
    let host_has_kcore = Path::new("/proc/kcore").exists();
    // Which masked/read-only paths this kernel has (the rest must be skipped quietly).
    let present: Vec<&str> = MASKED
        .iter()
        .chain(READONLY)
        .copied()
        .filter(|p| Path::new(p).exists())
        .collect();
    let spec = spec(runc_default_mounts(), json!({}), true);
    let (res, ok) = boot(env, &spec, false);
    if !ok {
        return res;
    }
    let seen = look_around(env);
    let sysfw_entries = std::fs::read_dir("/sys/firmware")
        .map(|d| d.count())
        .unwrap_or(999);
    merge(
        merge(res, seen),
        json!({
            "host_has_kcore": host_has_kcore,
            "present": present,
            "kcore": read("/proc/kcore"),
            "keys": read("/proc/keys"),
            "timer_list": read("/proc/timer_list"),
            "timer_list_write": try_write("/proc/timer_list", "x"),
            "sys_firmware_entries": sysfw_entries,
            "sys_firmware_create": try_create("/sys/firmware/x"),
            "hostname_write": try_write("/proc/sys/kernel/hostname", "evil"),
            "sysrq_write": try_write("/proc/sysrq-trigger", "h"),
            "root_create": try_create("/newfile"),
            "dev_create": try_create("/dev/newfile"),
            "shm_create": try_create("/dev/shm/newfile"),
            "shm": stat("/dev/shm"),
            "cgroup_mkdir": try_mkdir("/sys/fs/cgroup/pids/newcg"),
            "cwd": std::env::current_dir().unwrap().display().to_string(),
        }),
    )
}

fn sc_binds(env: &mut Env) -> Value {
    use nix::mount::{mount, MsFlags};
    let d = env.dir.clone();
    let data = d.join("host/data");
    let nested = d.join("host/nested");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(nested.join("sub")).unwrap();
    std::fs::write(data.join("file.txt"), "host data").unwrap();
    std::fs::write(d.join("host/app.conf"), "conf").unwrap();
    std::fs::write(env.rootfs.join("etc/motd"), "from the image").unwrap();
    // A mount below `nested`, in this (private) namespace, to tell recursive from not.
    mount(
        Some("tmpfs"),
        &nested.join("sub"),
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let s = |p: &Path| p.display().to_string();
    let mut mounts = runc_default_mounts()[..2].to_vec(); // proc, /dev
    mounts.extend(
        serde_json::from_value::<Vec<Value>>(json!([
            {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "nosuid", "mode=755"]},
            {"destination": "data", "type": "none", "source": s(&data), "options": ["rbind", "rw"]},
            {"destination": "/ro", "type": "bind", "source": s(&data), "options": ["bind", "ro", "nosuid", "nodev", "noexec"]},
            {"destination": "/etc/app.conf", "type": "bind", "source": s(&d.join("host/app.conf")), "options": ["bind", "ro"]},
            {"destination": "/rro", "type": "none", "source": s(&nested), "options": ["rbind", "rro"]},
            {"destination": "/rbind-ro", "type": "none", "source": s(&nested), "options": ["rbind", "ro"]},
            {"destination": "/shared", "type": "none", "source": s(&data), "options": ["rbind", "rshared"]},
            {"destination": "/unbindable", "type": "none", "source": s(&data), "options": ["bind", "unbindable"]},
            {"destination": "/atime", "type": "none", "source": s(&data), "options": ["bind", "noatime"]},
            {"destination": "/ro-tmp", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "mode=700"]},
            {"destination": "/cg2", "type": "cgroup2", "source": "cgroup2", "options": ["rw", "nosuid"]},
        ]))
        .unwrap(),
    );
    let spec = spec(
        mounts,
        json!({"maskedPaths": [], "readonlyPaths": []}),
        false,
    );
    let (res, ok) = boot(env, &spec, false);
    if !ok {
        return res;
    }
    merge(
        res,
        json!({
            "mountinfo": mountinfo(),
            "data_read": read("/data/file.txt"),
            "data_create": try_create("/data/created-inside"),
            "ro_read": read("/ro/file.txt"),
            "ro_create": try_create("/ro/x"),
            "conf_read": read("/etc/app.conf"),
            "conf_write": try_write("/etc/app.conf", "x"),
            "hostname_copied": read("/etc/hostname"),
            "motd_copied": read("/etc/motd"),
            "etc_create": try_create("/etc/new"),
            "rro_create": try_create("/rro/x"),
            "rro_sub_create": try_create("/rro/sub/x"),
            "rbind_ro_create": try_create("/rbind-ro/x"),
            "rbind_ro_sub_create": try_create("/rbind-ro/sub/x"),
            "ro_tmp": stat("/ro-tmp"),
            "ro_tmp_create": try_create("/ro-tmp/x"),
            "cg2_mkdir": try_mkdir("/cg2/x"),
        }),
    )
}

fn sc_escape(env: &mut Env) -> Value {
    let d = env.dir.clone();
    let outside = d.join("outside");
    let src = d.join("src");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("marker"), "m").unwrap();
    // Relative: rootfs/evil → ../outside is <dir>/outside on the host.
    std::os::unix::fs::symlink("../outside", env.rootfs.join("evil")).unwrap();
    // Absolute: the host path of <dir>/outside.
    std::os::unix::fs::symlink(&outside, env.rootfs.join("abs")).unwrap();
    let s = src.display().to_string();
    let mut mounts = runc_default_mounts()[..2].to_vec();
    mounts.extend(
        serde_json::from_value::<Vec<Value>>(json!([
            {"destination": "/evil/x", "type": "none", "source": s, "options": ["rbind"]},
            {"destination": "/abs/y", "type": "none", "source": s, "options": ["rbind"]},
            {"destination": "/evil/t", "type": "tmpfs", "source": "tmpfs"},
        ]))
        .unwrap(),
    );
    let spec = spec(
        mounts,
        json!({"maskedPaths": [], "readonlyPaths": []}),
        false,
    );
    let rootfs = env.rootfs.clone();
    let prep = result_of(prepare(&spec, &rootfs, &mut env.emitter()));
    // Still outside the container: look at the host paths the symlinks point to.
    let od = outside.display().to_string();
    let mounts_outside: Vec<Value> = mountinfo()
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["mount_point"].as_str().unwrap().starts_with(&od))
        .cloned()
        .collect();
    let outside_entries: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let piv = result_of(pivot(&rootfs, false, &mut env.emitter()));
    json!({
        "prepare": prep,
        "pivot": piv,
        "mounts_outside": mounts_outside,
        "outside_entries": outside_entries,
        "inside_evil": read("/outside/x/marker"),
        "inside_abs": read(&format!("{od}/y/marker")),
        "inside_tmpfs": stat("/outside/t"),
        "mountinfo": mountinfo(),
        "outside_path": od,
    })
}

fn sc_proc_symlink(env: &mut Env) -> Value {
    std::fs::remove_dir(env.rootfs.join("proc")).unwrap();
    std::os::unix::fs::symlink("etc", env.rootfs.join("proc")).unwrap();
    let spec = spec(runc_default_mounts(), json!({}), false);
    let rootfs = env.rootfs.clone();
    let prep = result_of(prepare(&spec, &rootfs, &mut env.emitter()));
    let etc = rootfs.join("etc").display().to_string();
    let on_etc = mountinfo()
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["mount_point"] == etc.as_str());
    json!({"prepare": prep, "procfs_on_etc": on_etc})
}

fn dev_null_swapped(env: &mut Env, make: fn(&Path)) -> Value {
    make(&env.rootfs.join("dev/null"));
    // The rootfs's own /dev (no tmpfs over it), as an image that brings its /dev would.
    let mounts = runc_default_mounts()[..1].to_vec();
    let spec = spec(mounts, json!({"readonlyPaths": []}), false);
    let (res, _) = boot(env, &spec, false);
    merge(
        res,
        json!({"kcore_mounted": mountinfo().as_array().unwrap().iter().any(|m| m["mount_point"] == "/proc/kcore")}),
    )
}

fn sc_dev_null_symlink(env: &mut Env) -> Value {
    dev_null_swapped(env, |p| {
        std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", p).unwrap()
    })
}

fn sc_dev_null_file(env: &mut Env) -> Value {
    dev_null_swapped(env, |p| std::fs::write(p, "").unwrap())
}

fn sc_userns(env: &mut Env) -> Value {
    let mut mounts = runc_default_mounts();
    // gid 5 is not mapped in a single-id user namespace (runc spec --rootless drops it too).
    mounts[2]["options"] = json!([
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620"
    ]);
    // A bind of a source whose nosuid,nodev,noexec are locked: asking only "ro" must keep them.
    mounts.push(json!({"destination": "/locked", "type": "bind",
        "source": env.dir.join("locked").display().to_string(), "options": ["bind", "ro"]}));
    let spec = spec(
        mounts,
        json!({"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                              {"type": "mount"}, {"type": "user"}]}),
        true,
    );
    let (res, ok) = boot(env, &spec, false);
    if !ok {
        return res;
    }
    merge(
        merge(res, look_around(env)),
        json!({
            "hostname_write": try_write("/proc/sys/kernel/hostname", "evil"),
            "locked_read": read("/locked/file"),
            "locked_create": try_create("/locked/x"),
            "sys_create": try_create("/sys/kernel/x"),
            "cgroup_mkdir": try_mkdir("/sys/fs/cgroup/pids/newcg"),
            "root_create": try_create("/newfile"),
        }),
    )
}

/// `runc spec --rootless`, unchanged: /sys is an rbind, devpts has no gid.
fn sc_rootless_spec(env: &mut Env) -> Value {
    let mut mounts = runc_default_mounts();
    mounts[2]["options"] = json!([
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620"
    ]);
    mounts[5] = json!({"destination": "/sys", "type": "none", "source": "/sys",
                       "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
    let spec = spec(
        mounts,
        json!({"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                              {"type": "mount"}, {"type": "user"}],
               "uidMappings": [{"containerID": 0, "hostID": 0, "size": 1}],
               "gidMappings": [{"containerID": 0, "hostID": 0, "size": 1}]}),
        true,
    );
    let (res, ok) = boot(env, &spec, false);
    if !ok {
        return res;
    }
    merge(
        merge(res, look_around(env)),
        json!({
            "cgroup_mkdir": try_mkdir("/sys/fs/cgroup/pids/newcg"),
            "unified_mkdir": try_mkdir("/sys/fs/cgroup/unified/newcg"),
            "hostname_write": try_write("/proc/sys/kernel/hostname", "evil"),
        }),
    )
}

fn cgroup_scenario(env: &mut Env, cgroupns: bool) -> Value {
    let mut mounts = runc_default_mounts();
    mounts[6]["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
    let mut nss = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "mount"}]);
    if cgroupns {
        nss.as_array_mut().unwrap().push(json!({"type": "cgroup"}));
    }
    let spec = spec(mounts, json!({"namespaces": nss}), false);
    let (res, ok) = boot(env, &spec, false);
    if !ok {
        return res;
    }
    merge(
        merge(res, look_around(env)),
        json!({
            "pids_mkdir": try_mkdir("/sys/fs/cgroup/pids/newcg"),
            "unified_mkdir": try_mkdir("/sys/fs/cgroup/unified/newcg"),
            "tmpfs_create": try_create("/sys/fs/cgroup/x"),
        }),
    )
}

fn sc_cgroupns_rw(env: &mut Env) -> Value {
    cgroup_scenario(env, true)
}

fn sc_cgroup_rw_no_cgroupns(env: &mut Env) -> Value {
    cgroup_scenario(env, false)
}

fn sc_no_pivot(env: &mut Env) -> Value {
    std::fs::write(env.rootfs.join("etc/marker"), "in the rootfs").unwrap();
    let spec = spec(runc_default_mounts(), json!({}), false);
    let (res, ok) = boot(env, &spec, true);
    if !ok {
        return res;
    }
    merge(
        res,
        json!({
            "marker": read("/etc/marker"),
            "busybox": run(&["/bin/busybox", "cat", "/etc/hostname"]),
            "mountinfo": mountinfo(),
            "timer_list": read("/proc/timer_list"),
        }),
    )
}

fn propagation_scenario(env: &mut Env, propagation: Option<&str>) -> Value {
    let mut linux = json!({"maskedPaths": [], "readonlyPaths": []});
    if let Some(p) = propagation {
        linux["rootfsPropagation"] = json!(p);
    }
    let spec = spec(runc_default_mounts()[..2].to_vec(), linux, false);
    let (res, ok) = boot(env, &spec, false);
    if !ok {
        return res;
    }
    env.ask_host();
    merge(
        res,
        json!({
            "mountinfo": mountinfo(),
            "from_host": read("/mnt/from-host"),
        }),
    )
}

fn sc_propagation_default(env: &mut Env) -> Value {
    propagation_scenario(env, None)
}

fn sc_propagation_private(env: &mut Env) -> Value {
    propagation_scenario(env, Some("private"))
}

fn sc_propagation_shared(env: &mut Env) -> Value {
    propagation_scenario(env, Some("rshared"))
}

fn sc_propagation_unbindable(env: &mut Env) -> Value {
    propagation_scenario(env, Some("unbindable"))
}

/// In the "host" namespace, once the container is running: mount a tmpfs in the rootfs
/// and report whether any container mount leaked out here.
fn host_mounts_into_rootfs(dir: &Path) -> Value {
    use nix::mount::{mount, MsFlags};
    let rootfs = dir.join("rootfs");
    let leaked: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|mp| mp.starts_with(&format!("{}/", rootfs.display())))
        .collect();
    let mnt = rootfs.join("mnt");
    mount(
        Some("tmpfs"),
        &mnt,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    std::fs::write(mnt.join("from-host"), "hello from the host").unwrap();
    json!({"leaked": leaked})
}

fn sc_bad_input(env: &mut Env) -> Value {
    let rootfs = env.rootfs.clone();
    let host_file = env.dir.join("host-file");
    std::fs::write(&host_file, "x").unwrap();
    let hf = host_file.display().to_string();
    let before = mountinfo().as_array().unwrap().len();
    let cases: Vec<(&str, Spec)> = vec![
        ("bind_unknown_option", spec(
            serde_json::from_value(json!([{"destination": "/x", "type": "none", "source": "/tmp", "options": ["rbind", "bogus"]}])).unwrap(),
            json!({}), false)),
        ("bad_propagation", spec(vec![], json!({"rootfsPropagation": "sideways"}), false)),
        ("device_type_a", spec(vec![], json!({"devices": [{"path": "/dev/x", "type": "a"}]}), false)),
    ];
    let mut out = serde_json::Map::new();
    for (name, s) in &cases {
        out.insert(
            name.to_string(),
            result_of(prepare(s, &rootfs, &mut env.emitter())),
        );
    }
    // Those failed before touching anything.
    out.insert(
        "mounts_unchanged".into(),
        json!(mountinfo().as_array().unwrap().len() == before),
    );
    let proc = runc_default_mounts()[0].clone();
    let mounting: Vec<(&str, Vec<Value>)> = vec![
        ("tmpfs_bad_data", serde_json::from_value(json!([{"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "bogus=1"]}])).unwrap()),
        ("bind_missing_source", serde_json::from_value(json!([{"destination": "/x", "type": "none", "source": "/nonexistent-source", "options": ["rbind"]}])).unwrap()),
        ("bind_into_proc", vec![proc.clone(), json!({"destination": "/proc/sys/kernel/core_pattern", "type": "bind", "source": hf, "options": ["bind"]})]),
        ("tmpfs_on_proc", vec![json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"})]),
        ("lxcfs_file_allowed", vec![proc, json!({"destination": "/proc/uptime", "type": "bind", "source": hf, "options": ["bind", "ro"]})]),
    ];
    for (name, mounts) in mounting {
        let s = spec(
            mounts,
            json!({"maskedPaths": [], "readonlyPaths": []}),
            false,
        );
        out.insert(
            name.to_string(),
            result_of(prepare(&s, &rootfs, &mut env.emitter())),
        );
    }
    Value::Object(out)
}

fn sc_config_devices(env: &mut Env) -> Value {
    let linux = json!({"devices": [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600, "uid": 1000, "gid": 1001},
        {"path": "/dev/sub/myfifo", "type": "p", "fileMode": 0o640},
        {"path": "/dev/loop-test", "type": "b", "major": 7, "minor": 0, "fileMode": 0o660, "gid": 6},
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o604},
    ]});
    let mut mounts = runc_default_mounts()[..3].to_vec();
    // A read-only /dev: filled first, read-only in finalize.
    mounts[1]["options"] = json!(["nosuid", "strictatime", "mode=755", "size=65536k", "ro"]);
    let spec = spec(mounts, linux, false);
    let (res, ok) = boot(env, &spec, false);
    if !ok {
        return res;
    }
    merge(
        res,
        json!({
            "fuse": stat("/dev/fuse"),
            "fifo": stat("/dev/sub/myfifo"),
            "loop": stat("/dev/loop-test"),
            "null": stat("/dev/null"),
            "zero": stat("/dev/zero"),
            "dev_create": try_create("/dev/x"),
            "mountinfo": mountinfo(),
        }),
    )
}

fn sc_dev_bind(env: &mut Env) -> Value {
    let devsrc = env.dir.join("devsrc");
    std::fs::create_dir_all(&devsrc).unwrap();
    std::fs::write(devsrc.join("hostfile"), "x").unwrap();
    let mounts: Vec<Value> = serde_json::from_value(json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "none", "source": devsrc.display().to_string(), "options": ["rbind"]},
    ]))
    .unwrap();
    let spec = spec(
        mounts,
        json!({"maskedPaths": [], "readonlyPaths": []}),
        false,
    );
    let (res, ok) = boot(env, &spec, false);
    if !ok {
        return res;
    }
    merge(
        res,
        json!({"null": stat("/dev/null"), "ptmx": readlink("/dev/ptmx"), "hostfile": read("/dev/hostfile")}),
    )
}

const PLAIN: Opts = Opts {
    userns: false,
    extra: None,
    cgroup: false,
    shared_rootfs: false,
    locked_src: false,
};

const fn sc(name: &'static str, opts: Opts, run: ScenarioFn) -> Scenario {
    Scenario {
        name,
        opts,
        run,
        host: None,
    }
}

const fn with_host(name: &'static str, run: ScenarioFn) -> Scenario {
    Scenario {
        name,
        opts: Opts {
            shared_rootfs: true,
            ..PLAIN
        },
        run,
        host: Some(host_mounts_into_rootfs),
    }
}

const SCENARIOS: &[Scenario] = &[
    sc(
        "runc_default",
        Opts {
            extra: Some(CloneFlags::CLONE_NEWNET),
            cgroup: true,
            ..PLAIN
        },
        sc_runc_default,
    ),
    sc("binds", PLAIN, sc_binds),
    sc("escape", PLAIN, sc_escape),
    sc("proc_symlink", PLAIN, sc_proc_symlink),
    sc("dev_null_symlink", PLAIN, sc_dev_null_symlink),
    sc("dev_null_file", PLAIN, sc_dev_null_file),
    sc(
        "userns",
        Opts {
            userns: true,
            cgroup: true,
            locked_src: true,
            ..PLAIN
        },
        sc_userns,
    ),
    sc(
        "rootless_spec",
        Opts {
            userns: true,
            cgroup: true,
            ..PLAIN
        },
        sc_rootless_spec,
    ),
    sc(
        "cgroupns_rw",
        Opts {
            extra: Some(CloneFlags::CLONE_NEWCGROUP),
            cgroup: true,
            ..PLAIN
        },
        sc_cgroupns_rw,
    ),
    sc(
        "cgroup_rw_no_cgroupns",
        Opts {
            cgroup: true,
            ..PLAIN
        },
        sc_cgroup_rw_no_cgroupns,
    ),
    sc("no_pivot", PLAIN, sc_no_pivot),
    with_host("propagation_default", sc_propagation_default),
    with_host("propagation_private", sc_propagation_private),
    with_host("propagation_shared", sc_propagation_shared),
    with_host("propagation_unbindable", sc_propagation_unbindable),
    sc("bad_input", PLAIN, sc_bad_input),
    sc("config_devices", PLAIN, sc_config_devices),
    sc("dev_bind", PLAIN, sc_dev_bind),
];

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
            && e["source"].as_str().unwrap().ends_with("/rootfs")),
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
        .any(|e| e["destination"] == "/sys" && e["source"] == "/sys" && e["fstype"] == "bind"));
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
