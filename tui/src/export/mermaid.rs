//! Mermaid `sequenceDiagram` text: participants appear where they first act, or where
//! they are cloned (`create participant`); clones are solid arrows, sync messages dotted,
//! steps are notes.

use super::{describe, Shape};
use crate::model::{Model, Seq};

/// Mermaid treats `;` and `#` specially in text.
fn clean(s: &str) -> String {
    s.replace(';', ",").replace('#', "no.")
}

pub fn render(m: &Model, at: Seq) -> String {
    let d = describe(m, at);
    let mut out = String::from("sequenceDiagram\n");
    out.push_str(&format!("    %% {}\n", clean(&d.title)));
    let name = |i: usize| format!("P{}", i);
    let alias = |i: usize| {
        let l = &d.lanes[i];
        clean(&format!("{} {}", l.title, l.pid))
    };
    let mut declared = vec![false; d.lanes.len()];
    for r in &d.rows {
        let label = clean(&r.label);
        let Some(from) = r.from else {
            if !d.lanes.is_empty() {
                out.push_str(&format!(
                    "    Note over {},{}: {label}\n",
                    name(0),
                    name(d.lanes.len() - 1)
                ));
            }
            continue;
        };
        if !declared[from] {
            out.push_str(&format!(
                "    participant {} as {}\n",
                name(from),
                alias(from)
            ));
            declared[from] = true;
        }
        match (r.shape, r.to) {
            (Shape::Clone, Some(to)) if !declared[to] => {
                out.push_str(&format!(
                    "    create participant {} as {}\n",
                    name(to),
                    alias(to)
                ));
                declared[to] = true;
                out.push_str(&format!("    {}->>{}: {label}\n", name(from), name(to)));
            }
            (Shape::Clone, Some(to)) => {
                out.push_str(&format!("    {}->>{}: {label}\n", name(from), name(to)))
            }
            (Shape::Sync { .. }, Some(to)) | (Shape::IdMap, Some(to)) => {
                if !declared[to] {
                    out.push_str(&format!("    participant {} as {}\n", name(to), alias(to)));
                    declared[to] = true;
                }
                let arrow = if r.shape == Shape::IdMap {
                    "--)"
                } else {
                    "-->>"
                };
                out.push_str(&format!("    {}{arrow}{}: {label}\n", name(from), name(to)));
            }
            _ => out.push_str(&format!("    Note right of {}: {label}\n", name(from))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn participants_and_messages_in_order() {
        let m = Model::from_events(&synth::initscope_bootstrap(synth::Options::default()));
        let text = render(&m, u32::MAX);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "sequenceDiagram");
        let want = [
            "    participant P0 as create 4100",
            "    create participant P1 as [0:PARENT] 4101",
            "    P0->>P1: fork",
            "    P0-->>P1: BOOTSTRAP_DATA",
            "    create participant P2 as [1:CHILD] 4102",
            "    P1->>P2: clone(PARENT)",
            "    P2-->>P1: SYNC_USERMAP_PLS",
            "    P1--)P2: writes uid_map of [1:CHILD]",
            "    P1-->>P2: SYNC_USERMAP_ACK",
            "    create participant P3 as [2:INIT] → sh 4103",
            "    P2->>P3: clone(PARENT)",
            "    P1-->>P3: SYNC_GRANDCHILD",
            "    P3-->>P0: procReady",
            "    Note right of P3: execve /bin/sh",
        ];
        let mut pos = 0;
        for w in want {
            let found = lines[pos..].iter().position(|l| *l == w);
            assert!(found.is_some(), "missing {w:?} after line {pos}:\n{text}");
            pos += found.unwrap() + 1;
        }
    }
}
