//! The scenarios of `tests/rootfs.rs`: each runs inside the container as pid 1 (see
//! `rootfs_harness`), boots a config and records what it sees for the test to check.

use std::path::Path;

use initscope_runtime::rootfs::{finalize, pivot, prepare};
use nix::sched::CloneFlags;
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::rootfs_harness::*;

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

pub const MASKED: &[&str] = &[
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
pub const READONLY: &[&str] = &[
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

/// An id-mapped bind made by `prepare` itself (no tree from the host side): host uid 1000
/// shows as 0, and what root writes is stored as 1000.
fn sc_idmap_in_place(env: &mut Env) -> Value {
    use std::os::unix::fs::chown;
    let data = env.dir.join("idmap-data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "x").unwrap();
    chown(&data, Some(1000), Some(1000)).unwrap();
    chown(data.join("f"), Some(1000), Some(1000)).unwrap();
    let ids = json!([{"containerID": 1000, "hostID": 0, "size": 1}]);
    let mut mounts = runc_default_mounts()[..2].to_vec(); // proc, /dev
    mounts.push(json!({"destination": "/data", "type": "bind",
        "source": data.display().to_string(), "options": ["bind", "idmap"],
        "uidMappings": ids, "gidMappings": ids}));
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
        json!({"f": stat("/data/f"), "create": try_create("/data/new"),
               "new": stat("/data/new"), "mountinfo": mountinfo()}),
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

pub const SCENARIOS: &[Scenario] = &[
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
    sc("idmap_in_place", PLAIN, sc_idmap_in_place),
];
