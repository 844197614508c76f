//! The command line, runc-compatible (clap). Global flags come before or after the
//! command; runc's spellings are accepted (`--log-format=json`, `-b`, `kill ID 9`,
//! `delete -f`, `list -f json`).

pub mod exec;
pub mod lifecycle;
pub mod log;
pub mod manage;
pub mod run;
pub mod signal;
pub mod spec;
pub mod tty;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bootstrap::create::{create, CreateRequest};
use crate::bootstrap::plan::CreateOptions;
use crate::error::RuntimeError;
use crate::state::default_root;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Parser)]
#[command(
    name = "initscope-runtime",
    about = "An OCI runtime with runc's command line whose every bootstrap step emits a structured event",
    disable_version_flag = true
)]
pub struct Cli {
    /// State directory (default /run/initscope as root, $XDG_RUNTIME_DIR/initscope otherwise).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Also write errors (and debug lines) to this file.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of --log: text or json.
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Write debug lines (the command line) to --log.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for compatibility; cgroupfs is always used.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for compatibility with runc (auto-detected).
    #[arg(id = "global_rootless", long = "rootless", hide = true, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub rootless: Option<String>,
    /// Stream events live to PATH (a file, FIFO or unix datagram socket); default
    /// $INITSCOPE_EVENTS, else the well-known socket if a viewer listens there.
    #[arg(long, global = true, value_name = "PATH")]
    pub events: Option<PathBuf>,
    /// Print the version.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle directory (holding config.json).
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Write init's pid to this file.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket to receive the terminal's master fd (process.terminal).
    #[arg(long = "console-socket", value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Switch root with a move + chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not give the container a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra fds (from 3) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container: run the bootstrap up to init waiting for `start`.
    Create(CreateArgs),
    /// Start a created container: init execs the user process.
    Start {
        /// Container id.
        id: String,
    },
    /// Create and start a container; without --detach, wait and exit with its status.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container is started.
        #[arg(short = 'd', long)]
        detach: bool,
    },
    /// Run a new process in a created or running container
    ///
    /// `exec ID CMD…`, or `exec --process F ID`; without --detach, wait and exit with its
    /// status.
    Exec(exec::ExecArgs),
    /// Print the OCI state of a container as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal (default TERM; a name like KILL, SIGKILL or a number) to init.
    Kill {
        /// Signal every process of the container's cgroup.
        #[arg(short = 'a', long)]
        all: bool,
        /// Container id.
        id: String,
        /// KILL, SIGKILL, kill, 9 or RTMIN+3 (default TERM).
        signal: Option<String>,
    },
    /// Delete a stopped container (--force kills a running one first).
    Delete {
        /// Kill a created, running or paused container first; succeed when the id is gone.
        #[arg(short = 'f', long)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Freeze every process of a created or running container.
    Pause {
        /// Container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// Container id.
        id: String,
    },
    /// List the container's processes (ps's table, or a JSON array of host pids)
    ///
    /// `ps -ef` (or the given ps options) filtered to the container's processes, or with
    /// `--format json` a JSON array of their host pids.
    Ps {
        /// `table` (ps's own output) or `json` (the host pids).
        #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Container id.
        id: String,
        /// Options for ps(1) (default -ef), after `--` or the id.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change the resource limits of a container's cgroup.
    Update(manage::UpdateArgs),
    /// Print the container's cgroup stats as JSON lines (runc's format).
    Events {
        /// Print the stats once and exit.
        #[arg(long)]
        stats: bool,
        /// How often to print them (Go duration: 5s, 500ms).
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Container id.
        id: String,
    },
    /// List containers.
    #[command(alias = "ls")]
    List {
        /// `table` (runc's columns) or `json` (an array of states).
        #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Print only the ids.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Write a default config.json (the same content as `runc spec`).
    Spec {
        /// A config for an unprivileged user (user namespace, no network namespace).
        #[arg(long)]
        rootless: bool,
        /// Write DIR/config.json (default: the current directory).
        #[arg(short = 'b', long, value_name = "DIR")]
        bundle: Option<PathBuf>,
    },
    /// Print what this runtime supports (OCI features JSON).
    Features,
}

impl CreateArgs {
    fn request(&self, cli: &Cli) -> CreateRequest {
        CreateRequest {
            root: root_of(cli),
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            opts: CreateOptions {
                no_pivot: self.no_pivot,
                no_new_keyring: self.no_new_keyring,
                preserve_fds: self.preserve_fds,
                console_socket: self.console_socket.clone(),
                tty_proxy: false,
                pid_file: self.pid_file.clone(),
                systemd_cgroup: cli.systemd_cgroup,
            },
            events: cli.events.clone(),
        }
    }
}

/// `--root`, or the default for this user.
pub fn root_of(cli: &Cli) -> PathBuf {
    cli.root.clone().unwrap_or_else(default_root)
}

/// The first lines of `--version`, runc-like.
pub fn version_text() -> String {
    format!(
        "initscope-runtime version {VERSION}\nspec: {}\n",
        crate::state::OCI_VERSION
    )
}

/// Run a parsed command line; `Ok(code)` is the exit status.
pub fn execute(cli: &Cli) -> Result<i32, RuntimeError> {
    if cli.version {
        print!("{}", version_text());
        return Ok(0);
    }
    let Some(cmd) = &cli.command else {
        return Err(RuntimeError::Usage(
            "no command given: try `initscope-runtime --help`".into(),
        ));
    };
    match cmd {
        Command::Create(args) => {
            let mut created = create(&args.request(cli))?;
            created.em.exit(0);
            Ok(0)
        }
        Command::Start { id } => lifecycle::start(cli, id).map(|()| 0),
        Command::Run { create, detach } => {
            let mut req = create.request(cli);
            // runc's foreground run gives the process a terminal of its own when the config
            // asks for one and nobody takes it (no --console-socket).
            req.opts.tty_proxy = !*detach && req.opts.console_socket.is_none();
            run::run(cli, &req, *detach)
        }
        Command::Exec(args) => exec::run(cli, args),
        Command::Pause { id } => manage::pause(cli, id).map(|()| 0),
        Command::Resume { id } => manage::resume(cli, id).map(|()| 0),
        Command::Ps {
            format,
            id,
            ps_args,
        } => manage::ps(cli, id, *format, ps_args).map(|()| 0),
        Command::Update(args) => manage::update(cli, args).map(|()| 0),
        Command::Events {
            stats,
            interval,
            id,
        } => manage::events(cli, id, *stats, interval).map(|()| 0),
        Command::State { id } => lifecycle::state(cli, id).map(|()| 0),
        Command::Kill { all, id, signal } => {
            lifecycle::kill(cli, id, signal.as_deref(), *all).map(|()| 0)
        }
        Command::Delete { force, id } => lifecycle::delete(cli, id, *force).map(|()| 0),
        Command::List { format, quiet } => lifecycle::list(cli, *format, *quiet).map(|()| 0),
        Command::Spec { rootless, bundle } => {
            spec::write_spec(bundle.as_deref(), *rootless).map(|()| 0)
        }
        Command::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&spec::features()).expect("json")
            );
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("initscope-runtime").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn accepts_what_podman_and_containerd_pass() {
        let c = parse(&[
            "--log-format=json",
            "--log",
            "/x/oci-log",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/pidfile",
            "--no-pivot",
            "abc",
        ]);
        assert_eq!(c.log_format, LogFormat::Json);
        let Some(Command::Create(a)) = c.command else {
            panic!()
        };
        assert!(a.no_pivot);
        assert_eq!(a.id, "abc");

        let c = parse(&[
            "--root",
            "/r",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "create",
            "-b",
            "/b",
            "x",
        ]);
        assert_eq!(c.root.as_deref(), Some(std::path::Path::new("/r")));
        let c = parse(&["--systemd-cgroup", "kill", "x", "9"]);
        assert!(
            matches!(c.command, Some(Command::Kill { ref signal, all: false, .. }) if signal.as_deref() == Some("9"))
        );
        let c = parse(&["kill", "--all", "x", "KILL"]);
        assert!(matches!(c.command, Some(Command::Kill { all: true, .. })));
        let c = parse(&["delete", "-f", "x"]);
        assert!(matches!(
            c.command,
            Some(Command::Delete { force: true, .. })
        ));
        let c = parse(&["list", "-f", "json"]);
        assert!(matches!(
            c.command,
            Some(Command::List {
                format: ListFormat::Json,
                ..
            })
        ));
        let c = parse(&["list", "--format", "json"]);
        assert!(matches!(
            c.command,
            Some(Command::List {
                format: ListFormat::Json,
                ..
            })
        ));
        let c = parse(&["run", "-d", "--bundle", "/b", "x"]);
        assert!(matches!(c.command, Some(Command::Run { detach: true, .. })));
        let c = parse(&["spec", "--rootless"]);
        assert!(matches!(
            c.command,
            Some(Command::Spec { rootless: true, .. })
        ));
        let c = parse(&["--version"]);
        assert!(c.version);
        let c = parse(&["state", "x", "--events", "/tmp/ev"]);
        assert_eq!(c.events.as_deref(), Some(std::path::Path::new("/tmp/ev")));
    }

    #[test]
    fn usage_errors_are_one_line_naming_the_argument() {
        let err = |args: &[&str]| {
            let e = Cli::try_parse_from(
                std::iter::once("initscope-runtime").chain(args.iter().copied()),
            )
            .unwrap_err();
            log::usage_line(&e.to_string())
        };
        for (args, want) in [
            (&["bogus"][..], "unrecognized subcommand 'bogus'"),
            (
                &["create", "--bogus", "x"][..],
                "unexpected argument '--bogus'",
            ),
            (&["create", "-b", "/b"][..], "<ID>"),
            (
                &["--log-format", "xml", "state", "x"][..],
                "'xml' for '--log-format",
            ),
        ] {
            let line = err(args);
            assert_eq!(line.lines().count(), 1, "{line}");
            assert!(line.contains(want), "{args:?}: {line}");
            assert!(line.ends_with("(see `initscope-runtime --help`)"), "{line}");
        }
    }

    #[test]
    fn version_starts_like_runcs() {
        let v = version_text();
        assert!(
            v.starts_with("initscope-runtime version 0.1.0\nspec: 1."),
            "{v}"
        );
    }
}
