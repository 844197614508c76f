//! Config → plan: the bundle's `config.json` (oci-spec's types) translated into what the
//! stages will do, and validated, before anything is created. Pure, so it is unit tested
//! without root.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Hooks, LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::console::WinSize;
use crate::namespaces;
use crate::process::caps::CapsPlan;
use crate::process::rlimits::Rlimit;
use crate::seccomp::Filter;

/// Why a config cannot be run; each message names the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("bundle {0}: no such directory (pass the bundle with --bundle DIR)")]
    NoBundle(PathBuf),
    #[error(
        "bundle {0}: not a directory (pass the bundle directory, the one holding config.json)"
    )]
    BundleNotDir(PathBuf),
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
    /// A message that already starts with the field it is about (`hooks.poststop[1].path: …`,
    /// `process.capabilities.bounding[0]: …`).
    #[error("{file}: {0}", file = CONFIG_FILE)]
    Field(String),
    #[error("rootfs {0}: no such directory (root.path in config.json)")]
    NoRootfs(PathBuf),
    #[error("rootfs {0}: not a directory (root.path in config.json)")]
    RootfsNotDir(PathBuf),
}

pub(super) const CONFIG_FILE: &str = "config.json";

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
    /// No --console-socket, but a foreground `run` that proxies the terminal itself.
    pub tty_proxy: bool,
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
    /// Already opened (by `exec`, which checked the process behind `path` is still the
    /// container's init after opening it): joined through this fd, `path` is for the event.
    pub fd: Option<std::os::fd::RawFd>,
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
    /// `process.consoleSize`, when both sides are set.
    pub console_size: Option<WinSize>,
}

/// `linux.seccomp`, compiled in `create` (plain data, inherited through the clones).
#[derive(Debug, Clone)]
pub struct SeccompPlan {
    pub filter: Filter,
    /// `listenerPath`: where `create` hands the notify fd (resolved in the runtime's
    /// namespaces).
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
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
    /// `None` when the config has no `process`: create succeeds, start refuses (the spec).
    pub process: Option<ProcessPlan>,
    /// Validated hooks (absolute paths, positive timeouts).
    pub hooks: Option<Hooks>,
    pub seccomp: Option<SeccompPlan>,
    /// `linux.timeOffsets` as the lines the parent writes to `timens_offsets`
    /// (`monotonic 86400 0`).
    pub time_offsets: Vec<String>,
    pub cgroups_path: Option<String>,
    pub opts: CreateOptions,
    /// Set for `exec`: the exec id the events carry; the stages then join the container
    /// instead of making one (see `bootstrap::exec`).
    pub exec: Option<String>,
}

pub use super::config_json::{load_spec, parse_named, parse_spec, JsonError};

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
        if root.path().as_os_str().is_empty() {
            // Joined to the bundle it would make the bundle itself the rootfs.
            return Err(invalid(
                "root.path",
                "empty: set it to the rootfs directory",
            ));
        }
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else if climbs_out(root.path()) {
            // The stages would make mount points (proc, dev, sys) in whatever host
            // directory this names: refuse it rather than write outside the bundle.
            return Err(invalid(
                "root.path",
                format!(
                    "{} climbs out of the bundle {}: give an absolute path or one inside the bundle",
                    root.path().display(),
                    bundle.display()
                ),
            ));
        } else {
            bundle.join(root.path())
        };
        let process = process_plan(&spec)?;
        if let Some(p) = &process {
            if p.terminal && opts.console_socket.is_none() && !opts.tty_proxy {
                return Err(invalid(
                    "process.terminal",
                    "true, but no --console-socket was given to receive the terminal: set \
                     \"terminal\": false in config.json, pass --console-socket SOCKET, or use \
                     a foreground `run`",
                ));
            }
        }
        let hooks = spec.hooks().clone();
        if let Some(h) = &hooks {
            crate::hooks::validate(h).map_err(|e| ConfigError::Field(e.to_string()))?;
        }
        let linux = spec.linux().clone().unwrap_or_default();
        // Compiled only when configured: nothing on the hot path otherwise.
        let seccomp = Plan::seccomp_of(&spec)?;
        let ns = namespace_plan(linux.namespaces().as_deref().unwrap_or(&[]))?;
        let time_offsets = time_offset_lines(&linux, &ns)?;
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
            hooks,
            seccomp,
            time_offsets,
            cgroups_path,
            opts,
            spec,
            exec: None,
        })
    }

    /// Compile `linux.seccomp` of `spec` (for `exec`, which applies the container's profile
    /// to the new process as runc does).
    pub fn seccomp_of(spec: &Spec) -> Result<Option<SeccompPlan>, ConfigError> {
        let Some(cfg) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
            return Ok(None);
        };
        Ok(Some(SeccompPlan {
            filter: crate::seccomp::compile(cfg).map_err(|e| ConfigError::Field(e.to_string()))?,
            listener_path: cfg.listener_path().clone(),
            listener_metadata: cfg.listener_metadata().clone(),
        }))
    }

    /// Checks against the host that give a clearer error now than a stage could later.
    pub fn check_host(&self) -> Result<(), ConfigError> {
        if !self.rootfs.is_dir() {
            if self.rootfs.exists() {
                return Err(ConfigError::RootfsNotDir(self.rootfs.clone()));
            }
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
                    fd: None,
                })
            }
            _ if ns.typ() == LinuxNamespaceType::User => plan.new_user = true,
            _ => plan.unshare |= flag,
        }
    }
    plan.join.sort_by_key(|j| namespaces::join_rank(j.flag));
    Ok(plan)
}

/// Whether a relative path, read lexically, leaves the directory it is relative to
/// (`../x`, `a/../../x`).
fn climbs_out(rel: &Path) -> bool {
    use std::path::Component;
    let mut depth = 0i32;
    for c in rel.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// A path through one of procfs's magic links (`/proc/self/fd/N`, `/proc/1/cwd`,
/// `/proc/thread-self/root`, …), which may point at a directory outside the container.
pub fn is_proc_magic_link(path: &Path) -> bool {
    let parts: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    parts.first().is_some_and(|p| *p == "proc")
        && parts[1..]
            .iter()
            .any(|p| matches!(p.to_str(), Some("fd" | "cwd" | "root" | "map_files")))
}

/// `linux.timeOffsets` → `timens_offsets` lines; they need a new time namespace.
fn time_offset_lines(
    linux: &oci_spec::runtime::Linux,
    ns: &NamespacePlan,
) -> Result<Vec<String>, ConfigError> {
    let Some(offsets) = linux.time_offsets().as_ref().filter(|o| !o.is_empty()) else {
        return Ok(Vec::new());
    };
    let time = libc::CLONE_NEWTIME as u64;
    if ns.unshare & time == 0 {
        return Err(invalid(
            "linux.timeOffsets",
            if ns.has(time) {
                "offsets can only be set on a new time namespace, not one joined by path"
            } else {
                "offsets need a time namespace: add {\"type\": \"time\"} to linux.namespaces"
            },
        ));
    }
    let mut clocks: Vec<(&String, _)> = offsets.iter().collect();
    clocks.sort_by_key(|(k, _)| k.as_str());
    let mut lines = Vec::new();
    for (clock, off) in clocks {
        if clock != "monotonic" && clock != "boottime" {
            return Err(invalid(
                "linux.timeOffsets",
                format!(
                    "unknown clock {clock:?}: only \"monotonic\" and \"boottime\" can be offset"
                ),
            ));
        }
        let nanos = off.nanosecs().unwrap_or(0);
        if nanos >= 1_000_000_000 {
            return Err(invalid(
                "linux.timeOffsets",
                format!("{clock}.nanosecs {nanos} must be below 1000000000"),
            ));
        }
        lines.push(format!("{clock} {} {nanos}", off.secs().unwrap_or(0)));
    }
    Ok(lines)
}

fn process_plan(spec: &Spec) -> Result<Option<ProcessPlan>, ConfigError> {
    let Some(p) = spec.process().as_ref() else {
        return Ok(None);
    };
    process_plan_of(p).map(Some)
}

/// Translate one `process` (the config's, or `exec`'s).
pub fn process_plan_of(p: &oci_spec::runtime::Process) -> Result<ProcessPlan, ConfigError> {
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
    if is_proc_magic_link(p.cwd()) {
        return Err(invalid(
            "process.cwd",
            format!(
                "{} is refused: a /proc link (fd, cwd, root) can lead outside the container (CVE-2024-21626); use a directory of the container",
                p.cwd().display()
            ),
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
    let env = p.env().clone().unwrap_or_default();
    // As runc: an entry without '=' is a mistake, not a variable.
    if let Some((i, bad)) = env
        .iter()
        .enumerate()
        .find(|(_, e)| e.split_once('=').is_none_or(|(name, _)| name.is_empty()))
    {
        return Err(invalid(
            "process.env",
            format!("entry {i} {bad:?} is not NAME=value"),
        ));
    }
    let console_size =
        crate::console::console_size(p).map_err(|e| ConfigError::Field(e.to_string()))?;
    let user = p.user();
    Ok(ProcessPlan {
        args,
        env,
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
        console_size,
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
