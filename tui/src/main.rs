//! `initscope`: watch a container boot.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use initscope::commands::{self, export::Format, replay::ReplayOpts};

#[derive(Parser)]
#[command(
    name = "initscope",
    version,
    about = "Watch a container boot: the parent/child/grandchild diagram of an OCI runtime's bootstrap"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// A stage that reports nothing for this long is diagnosed and, if it is stuck,
    /// drawn red (live viewers; `diagnose` calls it stuck).
    #[arg(long, global = true, value_name = "SECONDS", default_value = "2", value_parser = parse_secs)]
    stuck_after: Duration,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a number of seconds (e.g. 2 or 0.5)"))
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RuntimeArg {
    Initscope,
    Runc,
    Crun,
    Youki,
}

#[derive(Subcommand)]
enum Cmd {
    /// Step through a recording (JSONL of runtime and kernel events).
    Replay {
        /// The recording (`--record`'s file, or one in tui/recordings/).
        file: PathBuf,
        /// Start playing at N events per second.
        #[arg(long, value_name = "N")]
        play: Option<u32>,
        /// Open at the end of the recording (the completed diagram).
        #[arg(long)]
        end: bool,
        /// Print the diagram as text and a summary instead of drawing the screen (the
        /// default when there is no terminal).
        #[arg(long)]
        print: bool,
    },
    /// Draw a recording as an SVG sequence diagram or Mermaid text.
    Export {
        /// The recording.
        file: PathBuf,
        /// svg (a picture that looks like the terminal diagram) or mermaid (text).
        #[arg(long, value_enum, default_value = "svg")]
        format: Format,
        /// Output file (default: standard output).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Build a small container and watch it boot under initscope-runtime, live (root).
    Demo {
        /// The runtime to run (default: initscope-runtime beside this program, else on PATH).
        #[arg(long, value_name = "PATH")]
        runtime: Option<PathBuf>,
        /// Also write every event (both sources) as JSONL to FILE, for `replay`.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// No user namespace in the demo container (no uid-map step).
        #[arg(long)]
        no_userns: bool,
        /// Hold a stage at a step (INITSCOPE_PAUSE_AT, e.g. child:before-unshare); select
        /// it and press c to let it go on.
        #[arg(long, value_name = "STAGE:STEP")]
        pause_at: Option<String>,
        /// The host's /bin, /lib, /usr bound read-only as the rootfs (the default when
        /// busybox-static is not installed).
        #[arg(long)]
        host_rootfs: bool,
        /// No screen: run to the end, then print the diagram as text and a summary, and
        /// exit with the container's status (the default when there is no terminal).
        #[arg(long)]
        print: bool,
    },
    /// Run your bundle under initscope-runtime and watch it boot, live (root).
    Run {
        /// The bundle: a directory with config.json (process.terminal false) and its rootfs.
        bundle: PathBuf,
        /// The container id (default: initscope-run-<pid>).
        id: Option<String>,
        /// The runtime to run (default: initscope-runtime beside this program, else on PATH).
        #[arg(long, value_name = "PATH")]
        runtime: Option<PathBuf>,
        /// Also write every event (both sources) as JSONL to FILE, for `replay`.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// No screen: run to the end, then print the diagram as text and a summary, and
        /// exit with the container's status (the default when there is no terminal).
        #[arg(long)]
        print: bool,
    },
    /// Bind the events socket and show every initscope-runtime bootstrap as it happens.
    Watch {
        /// The socket to bind (default: where initscope-runtime sends, /run/initscope/events.sock
        /// as root, $XDG_RUNTIME_DIR/initscope/events.sock otherwise).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Also write every event (both sources) as JSONL to FILE, for `replay`.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// Do not load the kernel probe (runtime events only).
        #[arg(long)]
        no_probe: bool,
    },
    /// Which stage of a container's bootstrap waits for what, and what to do about it
    ///
    /// Which stage waits for what, who holds the other end, since when, and what to do:
    /// from the runtime's state and events and from /proc (root, to read other processes').
    Diagnose {
        /// A container id, or the pid of any of its processes.
        target: String,
        /// The runtime that made it (default: look in each one's state root).
        #[arg(long, value_enum)]
        runtime: Option<RuntimeArg>,
        /// The runtime's state root (its --root).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Read this JSONL log instead of the state directory's events.jsonl (the runtime's
        /// --events file, or a recording): a failed create leaves no state directory.
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Trace a command or running processes with the eBPF probe, any runtime (root)
    ///
    /// On a terminal, the live diagram; with --text or --json (or not on a terminal), what
    /// the kernel saw, printed as it happens.
    Trace(initscope::trace_cmd::TraceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    initscope::view::set_default_stuck_after(cli.stuck_after);
    let r = match cli.cmd {
        Cmd::Diagnose {
            target,
            runtime,
            root,
            events,
            json,
        } => {
            use initscope::model::RuntimeKind;
            let opts = initscope::diagnose::Opts {
                target,
                runtime: runtime.map(|r| match r {
                    RuntimeArg::Initscope => RuntimeKind::Initscope,
                    RuntimeArg::Runc => RuntimeKind::Runc,
                    RuntimeArg::Crun => RuntimeKind::Crun,
                    RuntimeArg::Youki => RuntimeKind::Youki,
                }),
                root,
                events,
                stuck_after: cli.stuck_after,
            };
            if let Err(e) = commands::diagnose::run(&opts, json) {
                eprintln!("initscope diagnose: {e}");
                return ExitCode::FAILURE;
            }
            Ok(())
        }
        Cmd::Replay {
            file,
            play,
            end,
            print,
        } => commands::replay::run(
            &file,
            ReplayOpts {
                play,
                at_end: end,
                print,
            },
        ),
        Cmd::Export {
            file,
            format,
            output,
        } => commands::export::run(&file, format, output),
        Cmd::Demo {
            runtime,
            record,
            no_userns,
            pause_at,
            host_rootfs,
            print,
        } => {
            return exit_with(commands::demo::run(commands::demo::DemoOpts {
                runtime,
                record,
                userns: !no_userns,
                pause_at,
                host_rootfs,
                print,
            }))
        }
        Cmd::Run {
            bundle,
            id,
            runtime,
            record,
            print,
        } => {
            return exit_with(commands::run::run(commands::run::RunOpts {
                bundle,
                id,
                runtime,
                record,
                print,
            }))
        }
        Cmd::Watch {
            socket,
            record,
            no_probe,
        } => commands::watch::run(commands::watch::WatchOpts {
            socket: socket.unwrap_or_else(initscope::sources::socket::well_known),
            record,
            probe: !no_probe,
        }),
        Cmd::Trace(args) => {
            if let Err(e) = commands::need_bpf() {
                eprintln!("initscope trace: {e}");
                return ExitCode::FAILURE;
            }
            if args.json || args.text || !std::io::stdout().is_terminal() {
                let status = initscope::trace_cmd::run(args);
                return ExitCode::from(status.clamp(0, 255) as u8);
            }
            if let Err(e) = commands::trace_view::run(args) {
                eprintln!("initscope trace: {e}");
                return ExitCode::FAILURE;
            }
            Ok(())
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("initscope: {e}");
            ExitCode::FAILURE
        }
    }
}

/// demo/run: the container's status (when printed), or the error in one line.
fn exit_with(r: Result<i32, commands::CmdError>) -> ExitCode {
    match r {
        Ok(status) => ExitCode::from(status.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("initscope: {e}");
            ExitCode::FAILURE
        }
    }
}
