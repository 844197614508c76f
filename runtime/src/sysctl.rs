//! `linux.sysctl`: only namespaced keys are accepted (as runc's validator does), each
//! needing the namespace it lives in, so a container can never change the host's kernel.
//! Written by init through the container's `/proc/sys`, after the root switch and before
//! `/proc/sys` is made read-only.

use std::collections::BTreeMap;

use crate::bootstrap::failure::StageFailure;
use crate::bootstrap::plan::NamespacePlan;
use crate::events::emitter::Emitter;
use crate::events::schema::{EventKind, Stage};

const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Check every key against the namespaces the container has; returns the error message.
pub fn validate(sysctl: &BTreeMap<String, String>, ns: &NamespacePlan) -> Result<(), String> {
    for key in sysctl.keys() {
        let (flag, name) = if IPC_KEYS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            (libc::CLONE_NEWIPC, "ipc")
        } else if key.starts_with("net.") {
            (libc::CLONE_NEWNET, "network")
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            (libc::CLONE_NEWUTS, "uts")
        } else {
            return Err(format!(
                "{key} is not a namespaced sysctl: setting it would change the host's kernel"
            ));
        };
        if key.contains("..") || key.contains('/') {
            return Err(format!("{key} is not a sysctl name"));
        }
        if !ns.has(flag as u64) {
            return Err(format!(
                "{key} needs the container's own {name} namespace: add {{\"type\": \"{name}\"}} to linux.namespaces"
            ));
        }
    }
    Ok(())
}

/// Write each sysctl (in key order), reported as `sysctl`.
pub fn apply(sysctl: &BTreeMap<String, String>, em: &mut Emitter) -> Result<(), StageFailure> {
    for (key, value) in sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value).map_err(|e| {
            StageFailure::sys(
                Stage::Init,
                "sysctl",
                format!("write {value:?} to {path} (linux.sysctl {key})"),
                nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?;
        em.emit(EventKind::Sysctl {
            key: key.clone(),
            value: value.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(k: &str) -> BTreeMap<String, String> {
        [(k.to_string(), "1".to_string())].into()
    }

    #[test]
    fn only_namespaced_keys_with_their_namespace() {
        let ns = NamespacePlan {
            unshare: (libc::CLONE_NEWNET | libc::CLONE_NEWIPC) as u64,
            ..Default::default()
        };
        assert!(validate(&map("net.ipv4.ip_forward"), &ns).is_ok());
        assert!(validate(&map("kernel.shmmax"), &ns).is_ok());
        assert!(validate(&map("fs.mqueue.msg_max"), &ns).is_ok());
        let e = validate(&map("kernel.hostname"), &ns).unwrap_err();
        assert!(e.contains("uts"), "{e}");
        let e = validate(&map("vm.swappiness"), &ns).unwrap_err();
        assert!(e.contains("not a namespaced sysctl"), "{e}");
        let e = validate(&map("net.ipv4.ip_forward"), &NamespacePlan::default()).unwrap_err();
        assert!(e.contains("network namespace"), "{e}");
    }
}
