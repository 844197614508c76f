//! The bootstrap as a whole: which process the others end up waiting for, and the chain
//! of waits that leads to it.

use serde::Serialize;

use super::facts::StageFacts;
use super::verdict::{Finding, Kind};

/// The bootstrap as a whole: which process the others end up waiting for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The process the verdict is about.
    pub culprit: Option<i32>,
    pub verdict: String,
    pub next: Option<String>,
    /// `create waits for procHooks or procReady from [2:INIT] (pid 42)`, one per waiting process.
    pub chain: Vec<String>,
    pub stuck: bool,
    /// The culprit's state is expected (init waiting for `start`).
    pub normal: bool,
}

/// Pick the process at the end of the waits: a dead stage first (the bootstrap failed
/// because of it), then one frozen, held, stopped, in a hook …; a process that only waits
/// for another member is not the cause.
pub fn summarize(facts: &[StageFacts], found: &[Finding]) -> Summary {
    let alive_member = |pid: i32| {
        facts.iter().zip(found).any(|(f, x)| {
            f.pid == pid && !matches!(x.kind, Kind::Gone | Kind::Exited | Kind::Killed)
        })
    };
    let candidates = facts.iter().zip(found).filter(|(_, x)| {
        x.blocked_by.is_none_or(|b| !alive_member(b))
            && !matches!(x.kind, Kind::Exited | Kind::Gone)
    });
    let culprit = candidates.min_by_key(|(f, x)| {
        // Killed before failed: a peer's "failed: end-of-file" follows from a death.
        (
            x.kind,
            if x.normal { 1 } else { 0 },
            f.first_ns.unwrap_or(0),
        )
    });
    let chain: Vec<String> = facts
        .iter()
        .zip(found)
        .filter_map(|(f, x)| {
            let b = x.blocked_by?;
            let peer = facts
                .iter()
                .find(|g| g.pid == b)
                .map_or("?", |g| g.label.as_str());
            Some(format!(
                "{} (pid {}) waits for {} — {peer} (pid {b})",
                f.label, f.pid, x.waits_on
            ))
        })
        .collect();
    let failed_others: Vec<&Finding> = found.iter().filter(|x| x.kind == Kind::Failed).collect();
    match culprit {
        Some((f, x)) => {
            let mut verdict = x.verdict.clone();
            if x.kind == Kind::Frozen {
                let also: Vec<String> = facts
                    .iter()
                    .zip(found)
                    .filter(|(g, y)| y.kind == Kind::Frozen && g.pid != f.pid)
                    .map(|(g, _)| format!("{} (pid {})", g.label, g.pid))
                    .collect();
                if !also.is_empty() {
                    verdict = format!("{verdict}; frozen with it: {}", also.join(", "));
                }
            }
            if x.kind == Kind::Killed {
                let follow: Vec<&str> = failed_others.iter().map(|y| y.verdict.as_str()).collect();
                if !follow.is_empty() {
                    verdict = format!("{verdict}; then {}", follow.join("; "));
                }
            }
            Summary {
                culprit: Some(f.pid),
                verdict,
                next: x.next.clone(),
                chain,
                stuck: x.stuck,
                normal: x.normal,
            }
        }
        None => Summary {
            culprit: None,
            verdict: if facts.is_empty() {
                "no process of this bootstrap is left".into()
            } else {
                "every process of the bootstrap finished".into()
            },
            next: None,
            chain,
            stuck: false,
            normal: true,
        },
    }
}
