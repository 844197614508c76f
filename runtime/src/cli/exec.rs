//! `exec [--process F | CMD…] … ID`: build the process as runc does (`--process` as given,
//! or the container's own `process` with the command and the flags applied), run the exec
//! bootstrap, then either return at once (`--detach`, after the pid file) or wait for the
//! process, forwarding signals, and exit with its status (128+N for signal N).

use std::path::PathBuf;

use clap::Args;
use oci_spec::runtime::{Capability, Process};

use super::run::{block_forwarded, wait_forwarding};
use super::{root_of, Cli};
use crate::bootstrap::exec::{exec, ExecRequest};
use crate::bootstrap::plan::parse_named;
use crate::error::RuntimeError;
use crate::state::{validate_id, StateDir};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The process as OCI JSON (`process` of config.json); the command-line flags for the
    /// process are then ignored, as with runc.
    #[arg(short = 'p', long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Return once the process runs (write --pid-file first).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Write the process's host pid to this file (atomically).
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket to receive the terminal's master fd (with --tty).
    #[arg(long = "console-socket", value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Give the process a terminal (sent to --console-socket).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Add an environment variable (KEY=VALUE), repeatable.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// UID[:GID] to run as (numbers, as runc).
    #[arg(short = 'u', long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Additional group ids, repeatable.
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (to bounding, effective, permitted; ambient only if the process
    /// has inheritable ones, as runc since CVE-2022-29162), repeatable.
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Pass this many extra fds (from 3) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Accepted for compatibility; this host has no SELinux (ignored).
    #[arg(long = "process-label", value_name = "LABEL")]
    pub process_label: Option<String>,
    /// Accepted for compatibility; this host has no AppArmor (ignored).
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Exec into a paused container too (the process starts frozen).
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Container id.
    pub id: String,
    /// The command and its arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(cli: &Cli, a: &ExecArgs) -> Result<i32, RuntimeError> {
    validate_id(&a.id)?;
    let process = match &a.process {
        Some(file) => read_process(file)?,
        None => {
            let dir = StateDir::new(&root_of(cli), &a.id);
            let st = dir.load()?;
            from_flags(st.config.process().clone().unwrap_or_default(), a)?
        }
    };
    let mask = if a.detach {
        nix::sys::signal::SigSet::empty()
    } else {
        block_forwarded()?
    };
    let req = ExecRequest {
        root: root_of(cli),
        id: a.id.clone(),
        process,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        tty_proxy: !a.detach && a.console_socket.is_none(),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        events: cli.events.clone(),
    };
    let mut done = exec(&req)?;
    if a.detach {
        done.em.exit(0);
        return Ok(0);
    }
    let master = match done.console.take() {
        Some(ours) => Some(super::tty::master_from(&ours)?),
        None => None,
    };
    let code = wait_forwarding(done.pid, &mask, &mut done.em, master.as_ref())?;
    done.em.exit(0);
    Ok(code)
}

/// `--process FILE`: the OCI process JSON, bad values named by field.
fn read_process(file: &std::path::Path) -> Result<Process, RuntimeError> {
    let data = std::fs::read(file)
        .map_err(|e| RuntimeError::io(format!("--process {}", file.display()), e))?;
    parse_named::<Process>(&data)
        .map_err(|e| RuntimeError::Usage(format!("--process {}: {e}", file.display())))
}

/// runc's `getProcess` without `--process`: the container's process, with the command,
/// cwd, capabilities, env, terminal, no_new_privs, user and groups of the flags.
pub fn from_flags(mut p: Process, a: &ExecArgs) -> Result<Process, RuntimeError> {
    if a.command.is_empty() {
        return Err(RuntimeError::Usage(
            "exec: no command given: pass the command after the id, or --process FILE".into(),
        ));
    }
    p.set_args(Some(a.command.clone()));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let has_inheritable = caps.inheritable().as_ref().is_some_and(|i| !i.is_empty());
        for name in &a.cap {
            let cap = parse_cap(name)?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
            // Ambient needs inheritable; never *add* inheritable (CVE-2022-29162).
            if has_inheritable {
                caps.set_ambient(add(caps.ambient()));
            }
        }
        p.set_capabilities(Some(caps));
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        if !e.contains('=') {
            return Err(RuntimeError::Usage(format!(
                "--env {e:?}: expected KEY=VALUE"
            )));
        }
        env.push(e.clone());
    }
    p.set_env(Some(env));
    // The terminal is what --tty says (runc keeps the config's when -t is absent; a
    // config written with `terminal: true` would then need a console socket here).
    p.set_terminal(Some(a.tty));
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    let mut user = p.user().clone();
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let num = |s: &str, what: &str| {
            s.parse::<u32>().map_err(|_| {
                RuntimeError::Usage(format!(
                    "--user {u:?}: {what} {s:?} is not a number (runc's exec takes UID[:GID])"
                ))
            })
        };
        user.set_uid(num(uid, "uid")?);
        if let Some(g) = gid {
            user.set_gid(num(g, "gid")?);
        }
    }
    if !a.additional_gids.is_empty() {
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        gids.extend(&a.additional_gids);
        user.set_additional_gids(Some(gids));
    }
    p.set_user(user);
    Ok(p)
}

fn parse_cap(name: &str) -> Result<Capability, RuntimeError> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    serde_json::from_value(serde_json::Value::String(full.clone()))
        .map_err(|_| RuntimeError::Usage(format!("--cap {name}: unknown capability {full}")))
}
