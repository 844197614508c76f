//! Config → plan: the bundle's `config.json` (oci-spec's types) translated into what the
//! stages will do, and validated, before anything is created. Pure, so it is unit tested
//! without root.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::namespaces;
use crate::process::caps::CapsPlan;
use crate::process::rlimits::Rlimit;

/// Why a config cannot be run; each message names the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("bundle {0}: no such directory (pass the bundle with --bundle DIR)")]
    NoBundle(PathBuf),
    #[error(
        "{0}: no such file (a bundle needs a config.json; `initscope-runtime spec` writes one)"
    )]
    NoConfig(PathBuf),
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: invalid JSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("config.json: {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("rootfs {0}: no such directory (root.path in config.json)")]
    NoRootfs(PathBuf),
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.into(),
    }
}

/// Options from the command line that shape the bootstrap.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    /// `--systemd-cgroup`: read `linux.cgroupsPath` as `slice:prefix:name` (the cgroup is
    /// still managed with cgroupfs).
    pub systemd_cgroup: bool,
}

/// A namespace joined by path, in join order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinNs {
    /// The `CLONE_NEW*` bit.
    pub flag: u64,
    pub path: PathBuf,
}

/// What `[1:CHILD]` does with namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespacePlan {
    /// setns, user namespace first, mount namespace last (runc's order).
    pub join: Vec<JoinNs>,
    /// `unshare(CLONE_NEWUSER)` then ask the parent for the id maps.
    pub new_user: bool,
    /// The other namespaces to unshare (incl. cgroup and time), as one flag word.
    pub unshare: u64,
}

impl NamespacePlan {
    /// Whether the container gets (or joins) a namespace of this kind.
    pub fn has(&self, flag: u64) -> bool {
        self.unshare & flag != 0
            || (flag == libc::CLONE_NEWUSER as u64 && self.new_user)
            || self.join.iter().any(|j| j.flag == flag)
    }
}

/// What init applies to itself before exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPlan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub caps: Option<CapsPlan>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privs: bool,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
}

/// The whole bootstrap, decided up front.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub bundle: PathBuf,
    /// Absolute host path of the rootfs.
    pub rootfs: PathBuf,
    pub spec: Spec,
    pub ns: NamespacePlan,
    pub uid_mappings: Vec<LinuxIdMapping>,
    pub gid_mappings: Vec<LinuxIdMapping>,
    /// Write `deny` to setgroups before gid_map (needed when not root on the host).
    pub setgroups_deny: bool,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// `linux.sysctl`, validated to be namespaced.
    pub sysctl: BTreeMap<String, String>,
    pub process: ProcessPlan,
    pub cgroups_path: Option<String>,
    pub opts: CreateOptions,
}

/// Read `<bundle>/config.json` with oci-spec's types.
pub fn load_spec(bundle: &Path) -> Result<Spec, ConfigError> {
    if !bundle.is_dir() {
        return Err(ConfigError::NoBundle(bundle.to_path_buf()));
    }
    let path = bundle.join("config.json");
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NoConfig(path))
        }
        Err(e) => {
            return Err(ConfigError::Read {
                path,
                message: e.to_string(),
            })
        }
    };
    serde_json::from_slice(&data).map_err(|e| ConfigError::Json {
        path,
        message: e.to_string(),
    })
}

impl Plan {
    /// Translate and validate. `bundle` must be absolute. Checks nothing on disk except
    /// what [`Plan::check_host`] does.
    pub fn from_spec(
        id: &str,
        bundle: &Path,
        spec: Spec,
        opts: CreateOptions,
        euid_is_root: bool,
    ) -> Result<Plan, ConfigError> {
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| invalid("root", "missing: set root.path to the rootfs directory"))?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            bundle.join(root.path())
        };
        let process = process_plan(&spec)?;
        if process.terminal && opts.console_socket.is_none() {
            return Err(invalid(
                "process.terminal",
                "true, but no --console-socket was given to receive the terminal: set \
                 \"terminal\": false in config.json, or pass --console-socket SOCKET",
            ));
        }
        if process.terminal {
            return Err(invalid(
                "process.terminal",
                "terminals (--console-socket) are not supported yet: set \"terminal\": false",
            ));
        }

        if let Some(h) = spec.hooks() {
            let any = [
                h.prestart(),
                h.create_runtime(),
                h.create_container(),
                h.start_container(),
                h.poststart(),
                h.poststop(),
            ]
            .iter()
            .any(|l| l.as_ref().is_some_and(|v| !v.is_empty()));
            if any {
                // Refuse rather than silently skip what the config asks for.
                return Err(invalid(
                    "hooks",
                    "hooks are not supported yet: remove the hooks section to run this bundle",
                ));
            }
        }
        let linux = spec.linux().clone().unwrap_or_default();
        // Refused rather than silently skipped: running without the filter a config asks
        // for would be a security hole, wrong clocks a silent lie.
        if linux.seccomp().is_some() {
            return Err(invalid(
                "linux.seccomp",
                "seccomp filters are not applied yet: remove linux.seccomp to run this bundle",
            ));
        }
        if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(invalid(
                "linux.timeOffsets",
                "time namespace offsets are not written yet: remove linux.timeOffsets",
            ));
        }
        let ns = namespace_plan(linux.namespaces().as_deref().unwrap_or(&[]))?;
        let uid_mappings = linux.uid_mappings().clone().unwrap_or_default();
        let gid_mappings = linux.gid_mappings().clone().unwrap_or_default();
        let user_ns = ns.has(libc::CLONE_NEWUSER as u64);
        if ns.new_user && (uid_mappings.is_empty() || gid_mappings.is_empty()) {
            return Err(invalid(
                "linux.uidMappings",
                "a new user namespace needs both linux.uidMappings and linux.gidMappings",
            ));
        }
        let has_mappings = !uid_mappings.is_empty() || !gid_mappings.is_empty();
        if has_mappings && !user_ns {
            return Err(invalid(
                "linux.uidMappings",
                "id mappings are given but linux.namespaces has no user namespace: add {\"type\": \"user\"}",
            ));
        }
        if !user_ns && !euid_is_root {
            return Err(invalid(
                "linux.namespaces",
                "running as non-root needs a new user namespace (see `spec --rootless`)",
            ));
        }
        let hostname = spec.hostname().clone().filter(|h| !h.is_empty());
        let domainname = spec.domainname().clone().filter(|h| !h.is_empty());
        if (hostname.is_some() || domainname.is_some()) && !ns.has(libc::CLONE_NEWUTS as u64) {
            return Err(invalid(
                "hostname",
                "setting a hostname needs a private UTS namespace: add {\"type\": \"uts\"} to linux.namespaces",
            ));
        }
        let sysctl: BTreeMap<String, String> = linux
            .sysctl()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        crate::sysctl::validate(&sysctl, &ns).map_err(|m| invalid("linux.sysctl", m))?;
        let cgroups_path = linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        Ok(Plan {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            rootfs,
            ns,
            uid_mappings,
            gid_mappings,
            setgroups_deny: !euid_is_root,
            hostname,
            domainname,
            sysctl,
            process,
            cgroups_path,
            opts,
            spec,
        })
    }

    /// Checks against the host that give a clearer error now than a stage could later.
    pub fn check_host(&self) -> Result<(), ConfigError> {
        if !self.rootfs.is_dir() {
            return Err(ConfigError::NoRootfs(self.rootfs.clone()));
        }
        if self.ns.new_user {
            let writer = super::idmap::Writer::current();
            super::idmap::check(&self.uid_mappings, &self.gid_mappings, writer)
                .map_err(|(field, m)| invalid(field, m))?;
        }
        for j in &self.ns.join {
            if let Err(e) = std::fs::metadata(&j.path) {
                return Err(invalid(
                    "linux.namespaces",
                    format!(
                        "{} namespace path {}: {}",
                        namespaces::short_name(j.flag),
                        j.path.display(),
                        crate::sys::errno_text(e.raw_os_error().unwrap_or(libc::EIO))
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn namespace_plan(
    list: &[oci_spec::runtime::LinuxNamespace],
) -> Result<NamespacePlan, ConfigError> {
    let mut plan = NamespacePlan::default();
    let mut seen = HashSet::new();
    for ns in list {
        let flag = namespaces::flag_of(ns.typ());
        if !seen.insert(flag) {
            return Err(invalid(
                "linux.namespaces",
                format!(
                    "the {} namespace is listed twice",
                    namespaces::short_name(flag)
                ),
            ));
        }
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                if !p.is_absolute() {
                    return Err(invalid(
                        "linux.namespaces",
                        format!("path {} must be absolute", p.display()),
                    ));
                }
                plan.join.push(JoinNs {
                    flag,
                    path: p.clone(),
                })
            }
            _ if ns.typ() == LinuxNamespaceType::User => plan.new_user = true,
            _ => plan.unshare |= flag,
        }
    }
    plan.join.sort_by_key(|j| namespaces::join_rank(j.flag));
    Ok(plan)
}

fn process_plan(spec: &Spec) -> Result<ProcessPlan, ConfigError> {
    let p = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing: the container needs a process to run"))?;
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(invalid("process.args", "empty: name the program to run"));
    }
    if !p.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("{} must be an absolute path", p.cwd().display()),
        ));
    }
    let caps = match p.capabilities() {
        Some(c) => Some(CapsPlan::from_spec(c).map_err(|m| invalid("process.capabilities", m))?),
        None => None,
    };
    let mut rlimits = Vec::new();
    for r in p.rlimits().as_deref().unwrap_or(&[]) {
        rlimits.push(Rlimit::from_spec(r).map_err(|m| invalid("process.rlimits", m))?);
    }
    if let Some(adj) = p.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return Err(invalid(
                "process.oomScoreAdj",
                format!("{adj} is outside -1000..1000"),
            ));
        }
    }
    let user = p.user();
    Ok(ProcessPlan {
        args,
        env: p.env().clone().unwrap_or_default(),
        cwd: p.cwd().clone(),
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        caps,
        rlimits,
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        oom_score_adj: p.oom_score_adj(),
        terminal: p.terminal().unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `runc spec` as runc 1.1 writes it, with the terminal off as tests and the demo use.
    pub(crate) fn runc_spec() -> Spec {
        let mut v = crate::cli::spec::runc_default_spec(false);
        v["process"]["terminal"] = false.into();
        serde_json::from_value(v).unwrap()
    }

    fn plan(spec: Spec) -> Result<Plan, ConfigError> {
        Plan::from_spec("c1", Path::new("/b"), spec, CreateOptions::default(), true)
    }

    fn with(mut v: serde_json::Value, f: impl FnOnce(&mut serde_json::Value)) -> Spec {
        f(&mut v);
        serde_json::from_value(v).unwrap()
    }

    fn base() -> serde_json::Value {
        serde_json::to_value(runc_spec()).unwrap()
    }

    #[test]
    fn runc_spec_translates_to_new_namespaces_and_process() {
        let p = plan(runc_spec()).unwrap();
        assert_eq!(p.rootfs, PathBuf::from("/b/rootfs"));
        assert!(!p.ns.new_user);
        assert!(p.ns.join.is_empty());
        let names = crate::events::flags::clone_flag_names(p.ns.unshare);
        assert_eq!(
            names,
            vec![
                "CLONE_NEWNS",
                "CLONE_NEWUTS",
                "CLONE_NEWIPC",
                "CLONE_NEWPID",
                "CLONE_NEWNET"
            ]
        );
        assert_eq!(p.hostname.as_deref(), Some("runc"));
        assert_eq!(p.process.args, vec!["sh"]);
        assert!(p.process.no_new_privs);
        assert_eq!(p.process.rlimits.len(), 1);
        let caps = p.process.caps.unwrap();
        assert_eq!(caps.bounding.len(), 3);
        assert!(caps.inheritable.is_empty());
    }

    #[test]
    fn joined_namespaces_are_ordered_user_first_mount_last() {
        let spec = with(base(), |v| {
            v["linux"]["namespaces"] = serde_json::json!([
                {"type": "mount", "path": "/proc/1/ns/mnt"},
                {"type": "network", "path": "/var/run/netns/x"},
                {"type": "user", "path": "/proc/1/ns/user"},
                {"type": "pid"},
                {"type": "uts"}
            ]);
        });
        let p = plan(spec).unwrap();
        let order: Vec<&str> =
            p.ns.join
                .iter()
                .map(|j| namespaces::short_name(j.flag))
                .collect();
        assert_eq!(order, vec!["user", "net", "mnt"]);
        assert!(!p.ns.new_user, "a joined user namespace is not a new one");
        assert_eq!(
            crate::events::flags::clone_flag_names(p.ns.unshare),
            vec!["CLONE_NEWUTS", "CLONE_NEWPID"]
        );
    }

    #[test]
    fn user_namespace_needs_mappings_and_mappings_need_it() {
        let spec = with(base(), |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "user"}));
        });
        let e = plan(spec).unwrap_err();
        assert!(e.to_string().contains("linux.uidMappings"), "{e}");

        let spec = with(base(), |v| {
            v["linux"]["uidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        });
        let e = plan(spec).unwrap_err();
        assert!(e.to_string().contains("no user namespace"), "{e}");

        let spec = with(base(), |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "user"}));
            v["linux"]["uidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            v["linux"]["gidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        });
        let p = plan(spec).unwrap();
        assert!(p.ns.new_user);
        assert_eq!(p.uid_mappings[0].host_id(), 100000);
    }

    #[test]
    fn bad_fields_are_named() {
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| v["process"]["args"] = serde_json::json!([])),
                "process.args",
            ),
            (
                Box::new(|v| v["process"]["cwd"] = "rel".into()),
                "process.cwd",
            ),
            (
                Box::new(|v| v["process"]["terminal"] = true.into()),
                "--console-socket",
            ),
            (
                Box::new(|v| {
                    v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "pid"}])
                }),
                "listed twice",
            ),
            (
                Box::new(|v| v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}])),
                "UTS namespace",
            ),
            (
                Box::new(|v| {
                    v["process"]["rlimits"] =
                        serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}])
                }),
                "process.rlimits",
            ),
            (
                Box::new(|v| v["process"]["oomScoreAdj"] = 5000.into()),
                "oomScoreAdj",
            ),
            (
                Box::new(|v| {
                    v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"})
                }),
                "linux.seccomp",
            ),
            (
                Box::new(|v| {
                    v["linux"]["timeOffsets"] =
                        serde_json::json!({"monotonic": {"secs": 1, "nanosecs": 0}})
                }),
                "linux.timeOffsets",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("process");
                }),
                "process",
            ),
        ];
        for (f, want) in cases {
            let spec = with(base(), f);
            let e = plan(spec).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn missing_bundle_config_and_bad_json_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_spec(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(e, ConfigError::NoBundle(_)));
        let e = load_spec(dir.path()).unwrap_err();
        assert!(e.to_string().contains("config.json: no such file"), "{e}");
        std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
        let e = load_spec(dir.path()).unwrap_err();
        assert!(e.to_string().contains("invalid JSON"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
