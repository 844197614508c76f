//! `initscope-runtime`: parse the command line, run the command, and report an error as
//! one line on stderr and, with `--log`, as the log's last line.

use clap::Parser;

use initscope_runtime::cli::{self, log, Cli};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help
        Err(e) => {
            // One line, like every other error (clients show the first line only), on
            // stderr and as the last line of --log.
            let line = log::usage_line(&e.to_string());
            let args: Vec<_> = std::env::args_os().collect();
            if let Some((path, format)) = log::target_from_args(&args) {
                log::append(&path, format, "error", &line);
            }
            eprintln!("initscope-runtime: {line}");
            std::process::exit(2);
        }
    };
    if let (true, Some(path)) = (cli.debug, &cli.log) {
        let argv: Vec<String> = std::env::args().collect();
        log::append(
            path,
            cli.log_format,
            "debug",
            &format!("command: {}", argv.join(" ")),
        );
    }
    let code = match cli::execute(&cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = e.to_string();
            eprintln!("initscope-runtime: {msg}");
            if let Some(path) = &cli.log {
                log::append(path, cli.log_format, "error", &msg);
            }
            1
        }
    };
    std::process::exit(code);
}
