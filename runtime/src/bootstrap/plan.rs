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
}

const CONFIG_FILE: &str = "config.json";

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
    parse_spec(&data).map_err(|e| match e {
        ConfigError::Json { message, .. } => ConfigError::Json { path, message },
        other => other,
    })
}

/// Parse a config; a value the typed config cannot hold is named by its field
/// (`process.capabilities.bounding[0]: unknown capability "CAP_BOGUS" …`), not only by
/// line and column.
pub fn parse_spec(data: &[u8]) -> Result<Spec, ConfigError> {
    parse_named::<Spec>(data).map_err(|e| match e {
        JsonError::Syntax(message) => ConfigError::Json {
            path: PathBuf::from(CONFIG_FILE),
            message,
        },
        JsonError::Field(m) => ConfigError::Field(m),
    })
}

/// Why a JSON document does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all (with serde's line and column).
    Syntax(String),
    /// Valid JSON with a wrong value: the message starts with the field's path.
    Field(String),
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonError::Syntax(m) => write!(f, "invalid JSON: {m}"),
            JsonError::Field(m) => f.write_str(m),
        }
    }
}

/// Parse `data` as `T` (a config, or exec's `--process`), naming the field of a bad value.
pub fn parse_named<T: serde::de::DeserializeOwned>(data: &[u8]) -> Result<T, JsonError> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    let err = match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let field = err.path().to_string();
    let inner = err.into_inner();
    if inner.is_syntax() || inner.is_eof() || field == "." {
        return Err(JsonError::Syntax(inner.to_string()));
    }
    let raw: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
    if field.starts_with("capabilities.") || field.contains(".capabilities.") {
        let name = pointer_of(&raw, &field)
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        return Err(JsonError::Field(format!(
            "{field}: unknown capability {name:?}: use a name like CAP_NET_BIND_SERVICE that this kernel knows (see `capsh --print` or `initscope-runtime features`)"
        )));
    }
    if field.starts_with("linux.seccomp") {
        if let Err(e) = crate::seccomp::check_json(&raw["linux"]["seccomp"]) {
            return Err(JsonError::Field(e.to_string()));
        }
    }
    Err(JsonError::Field(format!(
        "{field}: {}",
        strip_position(&inner.to_string())
    )))
}

/// The value at a serde_path_to_error path (`a.b[2].c`).
fn pointer_of<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut cur = v;
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            cur = cur.get(idx.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

/// serde_json's " at line 3 column 7" suffix, dropped when the field is named instead.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
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
            return Err(ConfigError::NoRootfs(self.rootfs.clone()));
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
    let console_size =
        crate::console::console_size(p).map_err(|e| ConfigError::Field(e.to_string()))?;
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
        console_size,
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
        let proc_ = p.process.clone().unwrap();
        assert_eq!(proc_.args, vec!["sh"]);
        assert!(proc_.no_new_privs);
        assert_eq!(proc_.rlimits.len(), 1);
        let caps = proc_.caps.unwrap();
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
                    v["linux"]["seccomp"] = serde_json::json!({
                        "defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                      "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]
                    })
                }),
                "linux.seccomp.syscalls[0].args[0].index",
            ),
            (
                Box::new(|v| {
                    v["linux"]["timeOffsets"] =
                        serde_json::json!({"monotonic": {"secs": 1, "nanosecs": 0}})
                }),
                "offsets need a time namespace",
            ),
            (
                Box::new(|v| {
                    v["linux"]["namespaces"]
                        .as_array_mut()
                        .unwrap()
                        .push(serde_json::json!({"type": "time"}));
                    v["linux"]["timeOffsets"] =
                        serde_json::json!({"realtime": {"secs": 1, "nanosecs": 0}})
                }),
                "unknown clock \"realtime\"",
            ),
            (
                Box::new(|v| v["hooks"] = serde_json::json!({"createRuntime": [{"path": "rel"}]})),
                "config.json: hooks.createRuntime[0].path: \"rel\" is not an absolute path",
            ),
            (
                Box::new(|v| v["process"]["cwd"] = "/proc/self/fd/7".into()),
                "CVE-2024-21626",
            ),
            (
                Box::new(|v| v["process"]["cwd"] = "/proc/1/task/1/root/etc".into()),
                "CVE-2024-21626",
            ),
            (
                Box::new(|v| {
                    v["process"]["consoleSize"] = serde_json::json!({"height": 70000, "width": 2})
                }),
                "process.consoleSize.height",
            ),
        ];
        for (f, want) in cases {
            let spec = with(base(), f);
            let e = plan(spec).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn a_config_without_process_plans_no_process() {
        let spec = with(base(), |v| {
            v.as_object_mut().unwrap().remove("process");
        });
        assert!(plan(spec).unwrap().process.is_none());
    }

    #[test]
    fn time_offsets_become_timens_lines_on_a_new_time_namespace() {
        let spec = with(base(), |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "time"}));
            v["linux"]["timeOffsets"] = serde_json::json!({
                "monotonic": {"secs": 86400, "nanosecs": 5},
                "boottime": {"secs": -10}
            });
        });
        let p = plan(spec).unwrap();
        assert_eq!(p.time_offsets, vec!["boottime -10 0", "monotonic 86400 5"]);
    }

    #[test]
    fn seccomp_and_hooks_are_carried_compiled_and_validated() {
        let spec = with(base(), |v| {
            v["linux"]["seccomp"] = serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": "/run/agent.sock",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
            });
            v["hooks"] = serde_json::json!({"poststart": [{"path": "/bin/true"}]});
        });
        let p = plan(spec).unwrap();
        let sc = p.seccomp.unwrap();
        assert_eq!(sc.filter.summary().syscalls, 1);
        assert_eq!(
            sc.listener_path.as_deref(),
            Some(Path::new("/run/agent.sock"))
        );
        assert!(p.hooks.is_some());
        assert!(
            plan(runc_spec()).unwrap().seccomp.is_none(),
            "compiled only when configured"
        );
    }

    #[test]
    fn unknown_capabilities_and_bad_types_name_their_field() {
        let mut v = base();
        v["process"]["capabilities"]["bounding"][1] = "CAP_BOGUS".into();
        let e = parse_spec(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "config.json: process.capabilities.bounding[1]: unknown capability \"CAP_BOGUS\""
            ),
            "{e}"
        );
        let mut v = base();
        v["process"]["user"]["uid"] = "root".into();
        let e = parse_spec(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("config.json: process.user.uid: invalid type"),
            "{e}"
        );
        let mut v = base();
        v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_BOGUS"});
        let e = parse_spec(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.seccomp.defaultAction"), "{e}");
    }

    #[test]
    fn proc_magic_links_are_recognised() {
        for p in [
            "/proc/self/fd/3",
            "/proc/thread-self/fd/9",
            "/proc/1/cwd",
            "/proc/self/root/x",
        ] {
            assert!(is_proc_magic_link(Path::new(p)), "{p}");
        }
        for p in ["/", "/proc", "/proc/sys", "/home/fd", "/srv/proc/self/fd/1"] {
            assert!(!is_proc_magic_link(Path::new(p)), "{p}");
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
