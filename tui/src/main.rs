use clap::{Parser, Subcommand};

/// Watch a container boot.
#[derive(Parser)]
#[command(name = "initscope", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Trace a command (or running processes) with the eBPF probe and print what the kernel saw.
    Trace(initscope::trace_cmd::TraceArgs),
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Trace(args) => std::process::exit(initscope::trace_cmd::run(args)),
    }
}
