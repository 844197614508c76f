//! Reading a runtime's command line back: `initscope-runtime --root R create -b B ID`,
//! `runc --root R run -d ID`. Our stages are forked from `create` without an exec, so
//! their `/proc/PID/cmdline` is create's — it names the root and the container, even for
//! init after pivot_root. runc's `runc:[0:PARENT]` … are children of the `runc create`
//! whose command line does the same.

use std::path::PathBuf;

use crate::model::roles::RuntimeKind;

/// What a runtime command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeArgs {
    pub runtime: RuntimeKind,
    pub root: Option<PathBuf>,
    /// `create`, `run`, `start`, `init` …
    pub command: String,
    /// The container id (the last positional argument), if the command takes one.
    pub id: Option<String>,
}

/// Options (global or of a command) that take a value, in the runtimes we know.
const WITH_VALUE: &[&str] = &[
    "--root",
    "--log",
    "--log-format",
    "--events",
    "--criu",
    "--rootless",
    "-b",
    "--bundle",
    "--pid-file",
    "--console-socket",
    "--preserve-fds",
    "--notify-socket",
    "--process",
    "-p",
    "--format",
    "-f",
    "--cgroup-manager",
];

const COMMANDS: &[&str] = &[
    "create", "run", "start", "exec", "delete", "kill", "state", "pause", "resume", "update",
    "init", "ps", "events",
];

/// Parse `argv`; `None` when it is not one of the runtimes we know.
pub fn parse(argv: &[String]) -> Option<RuntimeArgs> {
    let prog = argv.first()?;
    let base = prog.rsplit('/').next().unwrap_or(prog);
    let runtime = match base {
        b if b.starts_with("initscope-runtime") => RuntimeKind::Initscope,
        "runc" | "docker-runc" => RuntimeKind::Runc,
        "crun" => RuntimeKind::Crun,
        "youki" => RuntimeKind::Youki,
        _ => return None,
    };
    let mut root = None;
    let mut command = None;
    let mut positional = Vec::new();
    let mut it = argv[1..].iter();
    while let Some(a) = it.next() {
        if let Some((flag, value)) = a.split_once('=').filter(|(f, _)| f.starts_with('-')) {
            if flag == "--root" {
                root = Some(PathBuf::from(value));
            }
            continue;
        }
        if a.starts_with('-') {
            if WITH_VALUE.contains(&a.as_str()) {
                let v = it.next();
                if a == "--root" {
                    root = v.map(PathBuf::from);
                }
            }
            continue;
        }
        if command.is_none() && COMMANDS.contains(&a.as_str()) {
            command = Some(a.clone());
        } else if command.is_some() {
            positional.push(a.clone());
        }
    }
    let command = command?;
    // `exec ID CMD…` and `kill ID SIG`: the id comes first; the others end with it.
    let id = match command.as_str() {
        "init" => None,
        "exec" | "kill" => positional.first().cloned(),
        _ => positional.last().cloned(),
    };
    Some(RuntimeArgs {
        runtime,
        root,
        command,
        id,
    })
}

/// `/proc/PID/cmdline` as arguments.
pub fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn reads_root_command_and_id() {
        let a = parse(&args(
            "/usr/bin/initscope-runtime --root /tmp/r --events /tmp/e create -b /b --pid-file p c1",
        ))
        .unwrap();
        assert_eq!(a.runtime, RuntimeKind::Initscope);
        assert_eq!(a.root, Some(PathBuf::from("/tmp/r")));
        assert_eq!(
            (a.command.as_str(), a.id.as_deref()),
            ("create", Some("c1"))
        );
        let a = parse(&args("runc --root=/x run -d --bundle b web")).unwrap();
        assert_eq!(a.root, Some(PathBuf::from("/x")));
        assert_eq!((a.command.as_str(), a.id.as_deref()), ("run", Some("web")));
        let a = parse(&args("/usr/sbin/runc init")).unwrap();
        assert_eq!((a.command.as_str(), a.id), ("init", None));
        let a = parse(&args("runc exec -t web sh -c x")).unwrap();
        assert_eq!(a.id.as_deref(), Some("web"));
        assert_eq!(parse(&args("bash -c x")), None);
        assert_eq!(parse(&args("runc --help")), None);
    }
}
