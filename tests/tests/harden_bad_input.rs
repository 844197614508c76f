//! The bad-input table (issue 7): malformed bundles, configs and command lines. Each case
//! must exit non-zero with ONE line on stderr naming the field, path or id, and leave
//! nothing: state dirs, cgroups, mounts, processes, zombies (and this process's fds) are
//! counted before and after every case. Cases already in `runtime_bad_input.rs` (issue 2's
//! list: missing bundle or config, truncated JSON, pid twice, missing relative rootfs, an
//! id in use or with '/', '..', control characters, unknown ids, a namespace path that
//! does not exist, overlapping mappings, NOFILE above the hard limit, a program not found)
//! are not repeated here.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use initscope_tests::leaks::{serial, Scope, Snapshot};
use initscope_tests::{is_root, reap_orphans, stderr, Bundle, Runtime};
use serde_json::{json, Value};

/// What a case runs.
enum Input {
    /// `create -b CASE_DIR ID` where CASE_DIR/config.json is the base config edited by the
    /// function (which also gets CASE_DIR, to point at files there).
    Config(fn(&mut Value, &Path)),
    /// `create -b CASE_DIR ID` after the function prepared CASE_DIR (holding the base
    /// config.json) as it likes.
    Bundle(fn(&Path)),
    /// Any command line (after `--root R --events E`).
    Args(fn(&Ctx) -> Vec<String>),
}

struct Case {
    name: &'static str,
    input: Input,
    /// Every one must appear in the stderr line.
    want: &'static [&'static str],
}

/// What a case's command line may refer to.
struct Ctx {
    id: String,
    dir: PathBuf,
    file: PathBuf,
}

impl Ctx {
    fn s(p: &Path) -> String {
        p.display().to_string()
    }
}

fn create_in(c: &Ctx) -> Vec<String> {
    vec!["create".into(), "-b".into(), Ctx::s(&c.dir), c.id.clone()]
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn cases() -> Vec<Case> {
    use Input::*;
    vec![
        // --- the bundle and config.json as files
        Case {
            name: "config.json is empty",
            input: Bundle(|d| std::fs::write(d.join("config.json"), "").unwrap()),
            want: &["config.json", "invalid JSON", "EOF"],
        },
        Case {
            name: "config.json is binary garbage",
            input: Bundle(|d| {
                std::fs::write(d.join("config.json"), [0xffu8, 0xfe, 0, 1, 0x80, b'{']).unwrap()
            }),
            want: &["config.json", "invalid JSON"],
        },
        Case {
            name: "config.json is a JSON array",
            input: Bundle(|d| std::fs::write(d.join("config.json"), "[1, 2, 3]").unwrap()),
            want: &["config.json", "top level must be a JSON object"],
        },
        Case {
            name: "config.json has trailing garbage",
            input: Bundle(|d| {
                let mut t = std::fs::read(d.join("config.json")).unwrap();
                t.extend_from_slice(b"\n}}");
                std::fs::write(d.join("config.json"), t).unwrap()
            }),
            want: &["config.json", "invalid JSON", "trailing characters"],
        },
        Case {
            name: "config.json is a directory",
            input: Bundle(|d| {
                std::fs::remove_file(d.join("config.json")).unwrap();
                std::fs::create_dir(d.join("config.json")).unwrap();
            }),
            want: &["config.json", "directory"],
        },
        Case {
            name: "config.json is a dangling symlink",
            input: Bundle(|d| {
                std::fs::remove_file(d.join("config.json")).unwrap();
                symlink(d.join("gone.json"), d.join("config.json")).unwrap();
            }),
            want: &["config.json", "no such file"],
        },
        Case {
            name: "the bundle path is a file",
            input: Args(|c| args(&["create", "-b", &Ctx::s(&c.file), &c.id])),
            want: &["bundle", "not a directory"],
        },
        Case {
            name: "root.path is a file",
            input: Config(|v, d| v["root"]["path"] = Ctx::s(&d.join("config.json")).into()),
            want: &["rootfs", "config.json", "not a directory"],
        },
        Case {
            name: "a relative root.path that climbs out of the bundle",
            input: Config(|v, _| v["root"]["path"] = "../../../../../../etc".into()),
            want: &[
                "root.path",
                "../../../../../../etc",
                "climbs out of the bundle",
            ],
        },
        Case {
            name: "root.path is empty",
            input: Config(|v, _| v["root"]["path"] = "".into()),
            want: &["root.path", "empty"],
        },
        Case {
            name: "no root",
            input: Config(|v, _| {
                v.as_object_mut().unwrap().remove("root");
            }),
            want: &["root", "missing"],
        },
        Case {
            name: "a hook with a relative path",
            input: Config(|v, _| v["hooks"] = json!({"createRuntime": [{"path": "hook.sh"}]})),
            want: &["hooks.createRuntime[0].path", "hook.sh"],
        },
        Case {
            name: "a hook that fails (create is undone)",
            input: Config(|v, _| {
                v["hooks"] = json!({"createRuntime": [{"path": "/bin/false", "args": ["false"]}]})
            }),
            want: &["hooks.createRuntime[0]", "/bin/false", "exit status 1"],
        },
        Case {
            name: "an unknown seccomp action",
            input: Config(|v, _| v["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_FLY"})),
            want: &["linux.seccomp", "SCMP_ACT_FLY"],
        },
        Case {
            name: "a seccomp argument index beyond 5",
            input: Config(|v, _| {
                v["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                  "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]
                })
            }),
            want: &["linux.seccomp.syscalls[0].args[0].index"],
        },
        // --- wrong types: the field is named
        Case {
            name: "ociVersion is a number",
            input: Config(|v, _| v["ociVersion"] = 5.into()),
            want: &["ociVersion", "invalid type"],
        },
        Case {
            name: "process.args is a string",
            input: Config(|v, _| v["process"]["args"] = "sh".into()),
            want: &["process.args", "invalid type"],
        },
        Case {
            name: "hostname is a number",
            input: Config(|v, _| v["hostname"] = 42.into()),
            want: &["hostname", "invalid type"],
        },
        Case {
            name: "an unknown namespace type",
            input: Config(|v, _| push(v, "/linux/namespaces", json!({"type": "bogus"}))),
            want: &["linux.namespaces[5].type", "bogus"],
        },
        Case {
            name: "a device with a bad type",
            input: Config(|v, _| {
                v["linux"]["devices"] =
                    json!([{"path": "/dev/fuzz", "type": "x", "major": 1, "minor": 3}])
            }),
            want: &["linux.devices[0].type", "`x`"],
        },
        Case {
            name: "uid 2^32",
            input: Config(|v, _| v["process"]["user"]["uid"] = json!(1u64 << 32)),
            want: &["process.user.uid", "4294967296"],
        },
        Case {
            name: "a negative gid",
            input: Config(|v, _| v["process"]["user"]["gid"] = json!(-1)),
            want: &["process.user.gid", "-1"],
        },
        Case {
            name: "a negative additional gid",
            input: Config(|v, _| v["process"]["user"]["additionalGids"] = json!([10, -5])),
            want: &["process.user.additionalGids[1]", "-5"],
        },
        Case {
            name: "a memory limit of 2^64-1",
            input: Config(|v, _| v["linux"]["resources"]["memory"] = json!({"limit": u64::MAX})),
            want: &["linux.resources.memory.limit", "18446744073709551615"],
        },
        Case {
            name: "a pids limit that is a string",
            input: Config(|v, _| v["linux"]["resources"]["pids"] = json!({"limit": "many"})),
            want: &["linux.resources.pids.limit", "invalid type"],
        },
        Case {
            name: "an unknown rlimit type",
            input: Config(|v, _| {
                v["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}])
            }),
            want: &["process.rlimits[0].type", "RLIMIT_BOGUS"],
        },
        Case {
            name: "a negative rlimit",
            input: Config(|v, _| {
                v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": -1, "hard": 10}])
            }),
            want: &["process.rlimits[0].soft", "-1"],
        },
        Case {
            name: "an unknown capability",
            input: Config(|v, _| {
                v["process"]["capabilities"]["effective"] = json!(["CAP_CHOWN", "CAP_FLY"])
            }),
            want: &["process.capabilities.effective[1]", "CAP_FLY"],
        },
        Case {
            name: "oomScoreAdj beyond i32",
            input: Config(|v, _| v["process"]["oomScoreAdj"] = json!(1u64 << 40)),
            want: &["process.oomScoreAdj", "1099511627776"],
        },
        // --- values the runtime checks before anything runs
        Case {
            name: "oomScoreAdj out of range",
            input: Config(|v, _| v["process"]["oomScoreAdj"] = 5000.into()),
            want: &["process.oomScoreAdj", "5000", "-1000..1000"],
        },
        Case {
            name: "rlimit soft above its own hard",
            input: Config(|v, _| {
                v["process"]["rlimits"] = json!([{"type": "RLIMIT_NPROC", "soft": 100, "hard": 10}])
            }),
            want: &["process.rlimits", "RLIMIT_NPROC", "above the hard limit"],
        },
        Case {
            name: "an empty program name",
            input: Config(|v, _| v["process"]["args"] = json!(["", "x"])),
            want: &["process.args", "empty"],
        },
        Case {
            name: "an env entry without '='",
            input: Config(|v, _| push(v, "/process/env", "JUSTANAME".into())),
            want: &["process.env", "JUSTANAME", "NAME=value"],
        },
        Case {
            name: "cwd not absolute",
            input: Config(|v, _| v["process"]["cwd"] = "home/user".into()),
            want: &["process.cwd", "home/user", "absolute"],
        },
        Case {
            name: "a namespace path that is relative",
            input: Config(|v, _| set_ns_path(v, "network", "proc/1/ns/net")),
            want: &["linux.namespaces", "proc/1/ns/net", "absolute"],
        },
        Case {
            name: "uid mappings without a user namespace",
            input: Config(|v, _| {
                v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}])
            }),
            want: &["linux.uidMappings", "no user namespace"],
        },
        Case {
            name: "a user namespace without mappings",
            input: Config(|v, _| push(v, "/linux/namespaces", json!({"type": "user"}))),
            want: &["linux.uidMappings", "linux.gidMappings"],
        },
        Case {
            name: "a non-namespaced sysctl",
            input: Config(|v, _| v["linux"]["sysctl"] = json!({"vm.swappiness": "1"})),
            want: &["linux.sysctl", "vm.swappiness", "not a namespaced sysctl"],
        },
        Case {
            name: "a hostname without a UTS namespace",
            input: Config(|v, _| {
                v["hostname"] = "box".into();
                let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
                ns.retain(|n| n["type"] != "uts");
            }),
            want: &["hostname", "UTS namespace"],
        },
        Case {
            name: "a cgroupsPath with '..'",
            input: Config(|v, _| v["linux"]["cgroupsPath"] = "/a/../../escape".into()),
            want: &["linux.cgroupsPath", "'..'"],
        },
        // --- refused by the kernel or found wrong inside the stages: all cleaned up
        Case {
            name: "a uid mapping past 2^32 (outside the caller's range)",
            input: Config(|v, _| {
                user_ns(
                    v,
                    json!([{"containerID": 0, "hostID": 4294967290u64, "size": 100}]),
                    json!([{"containerID": 0, "hostID": 0, "size": 1}]),
                )
            }),
            want: &[
                "[0:PARENT] failed",
                "uid_map",
                "linux.uidMappings",
                "invalid argument",
            ],
        },
        Case {
            name: "a gid mapping of size 0",
            input: Config(|v, _| {
                user_ns(
                    v,
                    json!([{"containerID": 0, "hostID": 0, "size": 65536}]),
                    json!([{"containerID": 0, "hostID": 0, "size": 0}]),
                )
            }),
            want: &["[0:PARENT] failed", "gid_map", "linux.gidMappings"],
        },
        Case {
            name: "a namespace path that is not a namespace",
            input: Config(|v, _| set_ns_path(v, "network", "/etc/hostname")),
            want: &[
                "[1:CHILD] failed",
                "setns /etc/hostname",
                "CLONE_NEWNET",
                "invalid argument",
            ],
        },
        Case {
            name: "a negative memory limit",
            input: Config(|v, _| v["linux"]["resources"]["memory"] = json!({"limit": -5})),
            want: &["cgroup", "memory", "\"-5\""],
        },
        Case {
            name: "a memory limit of 1 byte (the OOM killer ends the bootstrap)",
            input: Config(|v, _| v["linux"]["resources"]["memory"] = json!({"limit": 1})),
            want: &[
                "killed by SIGKILL",
                "OOM killer",
                "linux.resources.memory.limit",
            ],
        },
        Case {
            name: "a cpuset beyond the machine's CPUs",
            input: Config(|v, _| v["linux"]["resources"]["cpu"] = json!({"cpus": "99"})),
            want: &["cpuset.cpus", "\"99\""],
        },
        Case {
            name: "RLIMIT_NOFILE hard = RLIM_INFINITY (no CAP_SYS_RESOURCE here)",
            input: Config(|v, _| {
                v["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": u64::MAX}])
            }),
            want: &["container init failed", "RLIMIT_NOFILE", "CAP_SYS_RESOURCE"],
        },
        Case {
            name: "a mount destination that is a symlink out of the rootfs",
            input: Config(|v, _| {
                push(
                    v,
                    "/mounts",
                    json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}),
                )
            }),
            want: &["container init failed", "/evil", "symbolic links"],
        },
        Case {
            name: "a bind mount whose source does not exist",
            input: Config(|v, _| {
                push(
                    v,
                    "/mounts",
                    json!({"destination": "/data", "type": "bind", "source": "/nonexistent/isc-src", "options": ["rbind"]}),
                )
            }),
            want: &[
                "container init failed",
                "/nonexistent/isc-src",
                "No such file",
            ],
        },
        Case {
            name: "a tmpfs mounted on /proc",
            input: Config(|v, _| {
                push(
                    v,
                    "/mounts",
                    json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}),
                )
            }),
            want: &["container init failed", "/proc", "procfs"],
        },
        Case {
            name: "a mount option the filesystem refuses",
            input: Config(|v, _| {
                push(
                    v,
                    "/mounts",
                    json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["frobnicate"]}),
                )
            }),
            want: &["container init failed", "/data", "'frobnicate'"],
        },
        Case {
            name: "a device with a negative major",
            input: Config(|v, _| {
                v["linux"]["devices"] =
                    json!([{"path": "/dev/fuzz", "type": "c", "major": -1, "minor": 3}])
            }),
            want: &["linux.devices[0]", "/dev/fuzz", "out of range"],
        },
        Case {
            name: "an unknown rootfsPropagation",
            input: Config(|v, _| v["linux"]["rootfsPropagation"] = "sideways".into()),
            want: &["linux.rootfsPropagation", "sideways"],
        },
        Case {
            name: "cwd that does not exist in the rootfs",
            input: Config(|v, _| v["process"]["cwd"] = "/no/such/dir".into()),
            want: &["container init failed", "process.cwd", "/no/such/dir"],
        },
        Case {
            name: "the program is a directory",
            input: Config(|v, _| v["process"]["args"] = json!(["/etc"])),
            want: &["container init failed", "/etc", "not a regular file"],
        },
        Case {
            name: "the program is not executable",
            input: Config(|v, _| v["process"]["args"] = json!(["/etc/passwd"])),
            want: &["container init failed", "/etc/passwd", "permission denied"],
        },
        // --- command lines
        Case {
            name: "an unknown subcommand",
            input: Args(|_| args(&["frobnicate", "x"])),
            want: &["unrecognized subcommand 'frobnicate'"],
        },
        Case {
            name: "an unknown flag",
            input: Args(|c| args(&["create", "--frobnicate", "-b", &Ctx::s(&c.dir), &c.id])),
            want: &["'--frobnicate'"],
        },
        Case {
            name: "create without an id",
            input: Args(|c| args(&["create", "-b", &Ctx::s(&c.dir)])),
            want: &["<ID>"],
        },
        Case {
            name: "a bad --log-format",
            input: Args(|c| args(&["--log-format", "xml", "state", &c.id])),
            want: &["'xml'", "--log-format"],
        },
        Case {
            name: "a negative --preserve-fds",
            input: Args(|c| {
                args(&[
                    "create",
                    "--preserve-fds",
                    "-1",
                    "-b",
                    &Ctx::s(&c.dir),
                    &c.id,
                ])
            }),
            want: &["'-1'"],
        },
        Case {
            name: "a 1 KiB id",
            input: Args(|c| {
                let id = format!("{}{}", c.id, "k".repeat(1024 - c.id.len()));
                args(&["create", "-b", &Ctx::s(&c.dir), &id])
            }),
            want: &["invalid container id", "longer than 255 bytes"],
        },
        Case {
            name: "delete --force of '..'",
            input: Args(|_| args(&["delete", "--force", ".."])),
            want: &["invalid container id \"..\""],
        },
        Case {
            name: "state of a path-like id",
            input: Args(|_| args(&["state", "../../etc"])),
            want: &["invalid container id", "'/'"],
        },
        Case {
            name: "kill of an id with '/'",
            input: Args(|c| args(&["kill", &format!("{}/x", c.id), "KILL"])),
            want: &["invalid container id", "'/'"],
        },
        Case {
            name: "a --pid-file in a missing directory (the container is made, then undone)",
            input: Args(|c| {
                let pf = c.dir.join("no-such-dir/pid");
                args(&[
                    "create",
                    "--pid-file",
                    &Ctx::s(&pf),
                    "-b",
                    &Ctx::s(&c.dir),
                    &c.id,
                ])
            }),
            want: &["pid file", "no-such-dir/pid", "No such file"],
        },
        Case {
            name: "run with a bad config",
            input: Args(|c| {
                let mut v: Value =
                    serde_json::from_slice(&std::fs::read(c.dir.join("config.json")).unwrap())
                        .unwrap();
                v["process"]["cwd"] = "nowhere".into();
                std::fs::write(c.dir.join("config.json"), v.to_string()).unwrap();
                args(&["run", "-b", &Ctx::s(&c.dir), &c.id])
            }),
            want: &["process.cwd", "nowhere"],
        },
        Case {
            name: "spec over an existing config.json",
            input: Args(|c| args(&["spec", "-b", &Ctx::s(&c.dir)])),
            want: &["config.json exists"],
        },
    ]
}

/// Append `item` to the array at JSON pointer `at`.
fn push(v: &mut Value, at: &str, item: Value) {
    v.pointer_mut(at)
        .unwrap()
        .as_array_mut()
        .unwrap()
        .push(item);
}

fn set_ns_path(v: &mut Value, typ: &str, path: &str) {
    for ns in v["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == typ {
            ns["path"] = path.into();
        }
    }
}

fn user_ns(v: &mut Value, uid: Value, gid: Value) {
    push(v, "/linux/namespaces", json!({"type": "user"}));
    v["linux"]["uidMappings"] = uid;
    v["linux"]["gidMappings"] = gid;
}

#[test]
fn every_bad_input_fails_in_one_line_and_leaves_nothing() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let _g = serial();
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["true"]);
    let rootfs = bundle.path.join("rootfs");
    // A symlink that leaves the rootfs through a magic link (resolved in the rootfs it
    // would be the host's /tmp).
    symlink("/proc/self/root/tmp", rootfs.join("evil")).unwrap();
    let mut base = bundle.config();
    base["root"]["path"] = rootfs.display().to_string().into();
    let work = tempfile::Builder::new()
        .prefix("isc-bad-")
        .tempdir()
        .unwrap();
    let a_file = work.path().join("a-file");
    std::fs::write(&a_file, "not a bundle").unwrap();

    let tag = format!("hb-{}-", std::process::id());
    let scope = Scope::of(&rt, &tag, &[&bundle.path, work.path()]);
    let cases = cases();
    assert!(cases.len() >= 30, "the table has {} cases", cases.len());
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let dir = work.path().join(format!("case-{n}"));
        std::fs::create_dir(&dir).unwrap();
        let mut cfg = base.clone();
        if let Input::Config(edit) = &case.input {
            edit(&mut cfg, &dir);
        }
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&cfg).unwrap(),
        )
        .unwrap();
        let ctx = Ctx {
            id: rt.id("hb"),
            dir: dir.clone(),
            file: a_file.clone(),
        };
        let argv = match &case.input {
            Input::Config(_) => create_in(&ctx),
            Input::Bundle(prepare) => {
                prepare(&dir);
                create_in(&ctx)
            }
            Input::Args(f) => f(&ctx),
        };
        let before = Snapshot::take(&scope);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = rt.run(&argv);
        let err = stderr(&out);
        let after = Snapshot::take(&scope);
        let mut why = Vec::new();
        if out.status.success() {
            why.push("exit status 0".to_string());
        }
        if err.lines().count() != 1 || !err.starts_with("initscope-runtime: ") {
            why.push(format!("stderr is not one line: {err:?}"));
        }
        for w in case.want {
            if !err.contains(w) {
                why.push(format!("stderr lacks {w:?}"));
            }
        }
        why.extend(before.leaked_since(&after));
        if !why.is_empty() {
            failures.push(format!(
                "{n}. {}: {}\n   stderr: {}",
                case.name,
                why.join("; "),
                err.trim_end()
            ));
        }
    }
    reap_orphans();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    rt.assert_clean(&[&bundle.path, work.path()]);
}

#[test]
fn bad_signals_leave_a_live_container_as_it_was() {
    let _g = serial();
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["sleep", "100"]);
    let tag = format!("hs-{}-", std::process::id());
    let scope = Scope::of(&rt, &tag, &[&bundle.path]);
    let before = Snapshot::take(&scope);
    let id = rt.id("hs");
    rt.ok(&["create", "-b", bundle.path_str(), &id]);
    let state = rt.state(&id).unwrap();
    for (sig, want) in [
        ("BOGUS", "unknown signal \"BOGUS\""),
        ("SIGFLY", "unknown signal \"SIGFLY\""),
        ("99", "unknown signal \"99\""),
        ("-9", "'-9'"), // read as a flag: still one clear line
        ("RTMIN+99", "RTMIN+99"),
    ] {
        let out = rt.run(&["kill", &id, sig]);
        let err = stderr(&out);
        assert!(!out.status.success(), "kill {sig} succeeded");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "kill {sig}: {err}");
        assert_eq!(
            rt.state(&id).unwrap(),
            state,
            "kill {sig} changed the container"
        );
    }
    rt.ok(&["delete", "--force", &id]);
    reap_orphans();
    let after = Snapshot::take(&scope);
    assert_eq!(before.leaked_since(&after), Vec::<String>::new());
}
