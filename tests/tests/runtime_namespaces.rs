//! Namespaces for real: a user namespace whose mapping the parent wrote, and a network
//! namespace joined by path (a bind-mounted nsfs file made with `unshare --net=FILE`).

use std::path::PathBuf;
use std::process::Command;

use initscope_tests::{find, is_root, Bundle, Runtime};

fn inode_of(link: &str) -> String {
    std::fs::read_link(link)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn user_namespace_gets_the_configured_mapping() {
    assert!(is_root(), "end-to-end runtime tests need root");
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        c["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 300000, "size": 1000}]);
    });
    let id = rt.id("userns");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let gid_map = std::fs::read_to_string(format!("/proc/{pid}/gid_map")).unwrap();
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(words(&uid_map), ["0", "200000", "65536"]);
    assert_eq!(words(&gid_map), ["0", "300000", "1000"]);
    // Seen from the host, container root is the mapped id.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        words(uid_line)[1..],
        ["200000", "200000", "200000", "200000"]
    );
    assert_ne!(
        inode_of(&format!("/proc/{pid}/ns/user")),
        inode_of("/proc/self/ns/user")
    );
    rt.ok(&["start", &id]);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
}

/// A network namespace pinned on a file; unmounted and removed on drop.
struct PinnedNetns {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl PinnedNetns {
    fn new() -> PinnedNetns {
        let dir = tempfile::Builder::new()
            .prefix("isc-ns-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("net");
        std::fs::write(&path, "").unwrap();
        let st = Command::new("unshare")
            .arg(format!("--net={}", path.display()))
            .arg("true")
            .status()
            .expect("unshare (util-linux)");
        assert!(st.success());
        PinnedNetns { _dir: dir, path }
    }
}

impl Drop for PinnedNetns {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn network_namespace_joined_by_path() {
    let rt = Runtime::new();
    let ns = PinnedNetns::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let ns_path = ns.path.to_str().unwrap().to_string();
    b.edit(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = ns_path.clone().into();
            }
        }
    });
    let id = rt.id("joinns");
    rt.ok(&["create", "-b", b.path_str(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let want = {
        use std::os::unix::fs::MetadataExt;
        format!("net:[{}]", std::fs::metadata(&ns.path).unwrap().ino())
    };
    assert_eq!(inode_of(&format!("/proc/{pid}/ns/net")), want);
    let ev = rt.state_events(&id);
    let setns = find(&ev, "setns");
    assert_eq!(setns.len(), 1, "{setns:?}");
    assert_eq!(setns[0]["stage"], "child");
    assert_eq!(setns[0]["path"], ns_path.as_str());
    assert_eq!(setns[0]["nstype"], "CLONE_NEWNET");
    let unshare = find(&ev, "unshare");
    assert!(!unshare[0]["flags"]
        .as_array()
        .unwrap()
        .contains(&"CLONE_NEWNET".into()));
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&[&b.path]);
    drop(ns);
}
