//! Id-mapped bind mounts through the CLI: `mounts[].uidMappings`/`gidMappings`, `idmap`
//! without mappings (the container's user namespace), `ridmap` on a tree with a submount,
//! and the errors — each run leaves no state, cgroup, mount, stage or helper process.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use initscope_tests::{find, is_root, mounts_under, stderr, stdout, Bundle, Runtime};
use serde_json::{json, Value};

/// A host directory for a mount's source; submounts made with [`Source::tmpfs`] are
/// unmounted (before the directory is removed) even when the test fails.
struct Source {
    dir: tempfile::TempDir,
    submounts: Vec<PathBuf>,
}

impl Source {
    fn new() -> Source {
        let dir = tempfile::Builder::new()
            .prefix("isc-idmap-")
            .tempdir()
            .unwrap();
        Source {
            dir,
            submounts: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn str(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// Create `rel` as a file (a directory if it ends in `/`; `""` is the source itself)
    /// owned by `uid:gid`.
    fn owned(&self, rel: &str, uid: u32, gid: u32) -> &Self {
        let p = self.path().join(rel.trim_end_matches('/'));
        if rel.is_empty() || rel.ends_with('/') {
            std::fs::create_dir_all(&p).unwrap();
        } else {
            std::fs::write(&p, b"x").unwrap();
        }
        std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        self
    }

    /// A tmpfs on `rel` (a directory below the source), owned by `uid:gid` at its root.
    fn tmpfs(&mut self, rel: &str, uid: u32, gid: u32) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(&p).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &p,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("mode=755,uid={uid},gid={gid}").as_str()),
        )
        .unwrap();
        self.submounts.push(p);
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        for p in self.submounts.iter().rev() {
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn map(container: u32, host: u32, size: u32) -> Value {
    json!([{"containerID": container, "hostID": host, "size": size}])
}

/// Add `mount` to the bundle's mounts; returns its index.
fn add_mount(b: &Bundle, mount: Value) -> usize {
    let mut at = 0;
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(mount);
        at = m.len() - 1;
    });
    at
}

fn with_userns(b: &Bundle) {
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = map(0, 200000, 65536);
        c["linux"]["gidMappings"] = map(0, 200000, 65536);
    });
}

/// Id-mapping helpers still around as children of this (subreaper) test process: one
/// that outlived its `create` would have been reparented here.
fn orphaned_helpers() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|st| st.contains("(isc:userns)"))
        .filter(|st| {
            st.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1))
                == Some(me.as_str())
        })
        .collect()
}

#[test]
fn uid_mappings_show_host_1000_as_root_and_map_writes_back() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let src = Source::new();
    src.owned("", 1000, 1000).owned("f", 1000, 1000);
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "stat -c %u:%g /data/f /data; touch /data/new && stat -c %u:%g /data/new; \
         grep ' /data ' /proc/self/mountinfo",
    ]);
    add_mount(
        &b,
        json!({"destination": "/data", "type": "bind", "source": src.str(),
               "options": ["bind", "idmap"],
               "uidMappings": map(1000, 0, 1), "gidMappings": map(1000, 0, 1)}),
    );
    let id = rt.id("idmap");
    let o = rt.run(&["run", "-b", b.path_str(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    // Owned by 1000 on the host, root in the container; what root writes is 1000 again.
    assert_eq!(lines[..3], ["0:0", "0:0", "0:0"], "{out}");
    assert!(lines[3].contains("idmapped"), "{out}");
    let new = std::fs::metadata(src.path().join("new")).unwrap();
    assert_eq!((new.uid(), new.gid()), (1000, 1000));

    // create cloned and mapped the tree, init attached it.
    let ev = rt.events_of(&id);
    let mounts: Vec<&Value> = find(&ev, "mount")
        .into_iter()
        .filter(|e| e["destination"] == "/data")
        .collect();
    let flags = |e: &Value| e["flags"].as_array().unwrap().clone();
    assert_eq!(mounts[0]["stage"], "create");
    assert_eq!(flags(mounts[0]), vec![json!("OPEN_TREE_CLONE")]);
    assert_eq!(mounts[1]["stage"], "create");
    assert_eq!(flags(mounts[1]), vec![json!("+MOUNT_ATTR_IDMAP")]);
    assert_eq!(mounts[1]["data"], "uids=1000-0-1;gids=1000-0-1");
    assert_eq!(mounts[2]["stage"], "init");
    assert_eq!(mounts[2]["mount_source"], src.str());
    assert!(flags(mounts[2]).contains(&json!("MOVE_MOUNT_F_EMPTY_PATH")));
    assert_eq!(mounts[2]["data"], "uids=1000-0-1;gids=1000-0-1");
    assert!(orphaned_helpers().is_empty());
    rt.assert_clean(&[&b.path, src.path()]);
}

#[test]
fn ridmap_maps_the_submounts_idmap_only_the_top() {
    let rt = Runtime::new();
    let mut src = Source::new();
    src.owned("", 1000, 1000).owned("f", 1000, 1000);
    src.tmpfs("sub", 1000, 1000);
    src.owned("sub/g", 1000, 1000);
    for (opt, want_sub) in [("ridmap", "0"), ("idmap", "1000")] {
        let b = Bundle::busybox(&["sh", "-c", "stat -c %u /data/f /data/sub/g"]);
        add_mount(
            &b,
            json!({"destination": "/data", "type": "bind", "source": src.str(),
                   "options": ["rbind", opt],
                   "uidMappings": map(1000, 0, 1), "gidMappings": map(1000, 0, 1)}),
        );
        let id = rt.id(opt);
        let o = rt.run(&["run", "-b", b.path_str(), &id]);
        assert!(o.status.success(), "{opt}: {}", stderr(&o));
        let out = stdout(&o);
        let uids: Vec<&str> = out.lines().collect();
        assert_eq!(uids, ["0", want_sub], "{opt}");
        let ev = rt.events_of(&id);
        let clone = find(&ev, "mount")
            .into_iter()
            .find(|e| e["flags"][0] == "OPEN_TREE_CLONE")
            .unwrap();
        assert_eq!(clone["flags"][1], "AT_RECURSIVE", "rbind clones the tree");
        let idmap = find(&ev, "mount")
            .into_iter()
            .find(|e| {
                e["flags"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("+MOUNT_ATTR_IDMAP"))
            })
            .unwrap();
        assert_eq!(
            idmap["flags"][0] == "AT_RECURSIVE",
            opt == "ridmap",
            "{idmap}"
        );
        rt.assert_clean(&[&b.path]);
        // Only the test's own submount is under the source.
        assert_eq!(mounts_under(&[src.path().to_path_buf()]).len(), 1);
    }
}

/// A host directory owned by root with a root-owned file `f`, and a busybox bundle that
/// sees it twice — `/data` with `idmap` alone, `/plain` as a plain bind — and prints both
/// owners, then writes `/data/new`. `user` edits the bundle's user namespace first.
fn root_owned_source_seen_twice(user: impl FnOnce(&Bundle)) -> (Source, Bundle) {
    let src = Source::new();
    src.owned("", 0, 0).owned("f", 0, 0);
    std::fs::set_permissions(
        src.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "stat -c %u:%g /data/f /plain/f; touch /data/new && echo wrote",
    ]);
    user(&b);
    // The container's root may not write the host-owned rootfs: the mount points exist.
    for d in ["data", "plain"] {
        std::fs::create_dir(b.path.join("rootfs").join(d)).unwrap();
    }
    add_mount(
        &b,
        json!({"destination": "/data", "type": "bind", "source": src.str(),
               "options": ["bind", "idmap"]}),
    );
    add_mount(
        &b,
        json!({"destination": "/plain", "type": "bind", "source": src.str(),
               "options": ["bind"]}),
    );
    (src, b)
}

/// What [`root_owned_source_seen_twice`]'s container printed and wrote, with the
/// container's root mapped to host 200000: host root's file is the container's root
/// through the id-mapped mount, and nobody (unmapped) through the plain bind; what it
/// writes is host root's.
fn assert_seen_as_the_containers_root(o: &std::process::Output, src: &Source) {
    assert!(o.status.success(), "{}", stderr(o));
    assert_eq!(
        stdout(o).lines().collect::<Vec<_>>(),
        ["0:0", "65534:65534", "wrote"]
    );
    let new = std::fs::metadata(src.path().join("new")).unwrap();
    assert_eq!((new.uid(), new.gid()), (0, 0));
}

#[test]
fn idmap_alone_uses_the_containers_user_namespace() {
    let rt = Runtime::new();
    let (src, b) = root_owned_source_seen_twice(with_userns);
    let id = rt.id("idmap-userns");
    let o = rt.run(&["run", "-b", b.path_str(), &id]);
    assert_seen_as_the_containers_root(&o, &src);
    let ev = rt.events_of(&id);
    assert!(find(&ev, "mount")
        .iter()
        .any(|e| e["data"] == "uids=0-200000-65536;gids=0-200000-65536"));
    rt.assert_clean(&[&b.path, src.path()]);
}

/// A pod's second container joins the first one's user namespace by path and mounts
/// with `idmap` alone: the joined namespace is the mapping (no helper is made).
#[test]
fn idmap_alone_with_a_user_namespace_joined_by_path() {
    let rt = Runtime::new();
    // The first container holds the user namespace (0 → 200000, 65536).
    let holder = Bundle::busybox(&["sleep", "1000"]);
    with_userns(&holder);
    let hid = rt.id("idmap-holder");
    rt.ok(&["run", "-d", "-b", holder.path_str(), &hid]);
    let hpid = rt.state(&hid).unwrap()["pid"].as_i64().unwrap();
    let ns_path = format!("/proc/{hpid}/ns/user");
    let (src, b) = root_owned_source_seen_twice(|b| {
        b.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user", "path": ns_path}));
        });
    });
    let id = rt.id("idmap-joined");
    let o = rt.run(&["run", "-b", b.path_str(), &id]);
    assert_seen_as_the_containers_root(&o, &src);
    let ev = rt.events_of(&id);
    let want = format!("userns={ns_path};uids=0-200000-65536;gids=0-200000-65536");
    assert!(
        find(&ev, "mount")
            .iter()
            .any(|e| e["data"] == want.as_str()),
        "{:?}",
        find(&ev, "mount")
    );
    assert_eq!(orphaned_helpers(), Vec::<String>::new());
    rt.ok(&["delete", "--force", &hid]);
    rt.assert_clean(&[&b.path, &holder.path, src.path()]);
}

#[test]
fn bad_id_mapped_mounts_fail_naming_the_field_and_leave_nothing() {
    let rt = Runtime::new();
    let src = Source::new();
    src.owned("f", 1000, 1000);
    let ids = map(1000, 0, 1);
    let cases: Vec<(Value, bool, Vec<String>)> = vec![
        (
            json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                   "uidMappings": ids, "gidMappings": ids}),
            false,
            vec![".uidMappings (/t)".into(), "only for bind mounts".into()],
        ),
        (
            json!({"destination": "/data", "type": "bind", "source": src.str(),
                   "options": ["bind", "idmap"]}),
            false,
            vec![
                ".options (/data)".into(),
                "linux.namespaces has none".into(),
            ],
        ),
        (
            json!({"destination": "/data", "type": "bind", "source": src.str(),
                   "options": ["bind", "idmap"], "uidMappings": ids}),
            false,
            vec![".gidMappings (/data)".into(), "missing".into()],
        ),
        (
            json!({"destination": "/k", "type": "bind", "source": "/sys/kernel",
                   "options": ["bind", "idmap"], "uidMappings": ids, "gidMappings": ids}),
            false,
            vec![
                ".uidMappings (/k)".into(),
                "/sys/kernel is on sysfs, which does not support id-mapped mounts".into(),
            ],
        ),
        // A refused source in a container with a user namespace: also no helper left.
        (
            json!({"destination": "/k", "type": "bind", "source": "/proc/sys",
                   "options": ["rbind", "ridmap"]}),
            true,
            vec![
                ".options (/k)".into(),
                "/proc/sys is on proc".into(),
                "(or a mount below it is)".into(),
            ],
        ),
    ];
    for (mount, userns, want) in cases {
        let b = Bundle::busybox(&["true"]);
        if userns {
            with_userns(&b);
        }
        let at = add_mount(&b, mount);
        let id = rt.id("idmap-bad");
        let o = rt.run(&["run", "-b", b.path_str(), &id]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{want:?} should fail");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(&format!("mounts[{at}]")), "{err}");
        for w in &want {
            assert!(err.contains(w.as_str()), "{err:?} should contain {w:?}");
        }
        assert!(orphaned_helpers().is_empty(), "{err}");
        rt.assert_clean(&[&b.path, src.path()]);
    }
}
