//! Recognising a bootstrap stage from a process name, so that foreign runtimes (seen only
//! by the kernel probe) get the same lanes as ours.
//!
//! runc's nsexec names its stages `runc:[0:PARENT]`, `runc:[1:CHILD]`, `runc:[2:INIT]`
//! (prctl PR_SET_NAME); initscope-runtime uses `isc:[…]` (the 15-byte comm limit cuts
//! `initscope:[1:CHILD]`), youki `youki:[1:INTER]` / `youki:[2:INIT]`. crun does not
//! rename its processes, so its lanes keep their comm.

use initscope_runtime::events::schema::Stage;

/// Which runtime a process name points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeKind {
    Initscope,
    Runc,
    Crun,
    Youki,
    Other,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Initscope => "initscope-runtime",
            RuntimeKind::Runc => "runc",
            RuntimeKind::Crun => "crun",
            RuntimeKind::Youki => "youki",
            RuntimeKind::Other => "other",
        }
    }
}

/// `runc:[1:CHILD]` → (Runc, Child). `None` when the name is not a stage name.
pub fn stage_from_comm(comm: &str) -> Option<(RuntimeKind, Stage)> {
    let (prefix, rest) = comm.split_once(":[")?;
    let runtime = match prefix {
        "runc" => RuntimeKind::Runc,
        "isc" | "initscope" => RuntimeKind::Initscope,
        "youki" => RuntimeKind::Youki,
        "crun" => RuntimeKind::Crun,
        _ => RuntimeKind::Other,
    };
    // The comm may be cut at 15 bytes, so only the digit is required.
    let stage = match rest.chars().next()? {
        '0' => Stage::Parent,
        '1' => Stage::Child,
        '2' => Stage::Init,
        _ => return None,
    };
    Some((runtime, stage))
}

/// The runtime a plain command name belongs to (`runc`, `crun`, `initscope-runt…`).
pub fn runtime_from_comm(comm: &str) -> Option<RuntimeKind> {
    match comm {
        "runc" => Some(RuntimeKind::Runc),
        "crun" => Some(RuntimeKind::Crun),
        "youki" => Some(RuntimeKind::Youki),
        c if c.starts_with("initscope-runt") => Some(RuntimeKind::Initscope),
        _ => stage_from_comm(comm).map(|(r, _)| r),
    }
}

/// The lane title for a stage, in runc's spelling.
pub fn stage_title(stage: Stage) -> &'static str {
    match stage {
        Stage::Create => "create",
        Stage::Parent => "[0:PARENT]",
        Stage::Child => "[1:CHILD]",
        Stage::Init => "[2:INIT]",
        Stage::Start => "start",
        Stage::Exec => "exec",
        Stage::Delete => "delete",
        Stage::Kill => "kill",
        Stage::Manage => "manage",
        Stage::Hook => "hook",
        Stage::Unknown => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_runc_ours_and_youki() {
        assert_eq!(
            stage_from_comm("runc:[0:PARENT]"),
            Some((RuntimeKind::Runc, Stage::Parent))
        );
        assert_eq!(
            stage_from_comm("isc:[1:CHILD]"),
            Some((RuntimeKind::Initscope, Stage::Child))
        );
        // cut at 15 bytes by the kernel
        assert_eq!(
            stage_from_comm("initscope:[2:IN"),
            Some((RuntimeKind::Initscope, Stage::Init))
        );
        assert_eq!(
            stage_from_comm("youki:[1:INTER]"),
            Some((RuntimeKind::Youki, Stage::Child))
        );
        assert_eq!(stage_from_comm("bash"), None);
        assert_eq!(stage_from_comm("x:[9:NINE]"), None);
        assert_eq!(runtime_from_comm("runc"), Some(RuntimeKind::Runc));
        assert_eq!(
            runtime_from_comm("initscope-runt"),
            Some(RuntimeKind::Initscope)
        );
    }
}
