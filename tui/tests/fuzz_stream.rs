//! Garbage in the viewer (issue 7), as property tests: random bytes, truncated and
//! mutated lines, and the shipped recordings and synthetic streams reordered, duplicated
//! and cut short. The JSONL reader, a recording's loader, a live session, the model, the
//! screen (TestBackend at 80×24 and 160×48) and the exports never panic; a bad line gets
//! one clear message naming the file and its line number.

use std::path::PathBuf;

use initscope::event::Event;
use initscope::export::{mermaid, svg};
use initscope::model::Model;
use initscope::session::Session;
use initscope::store::{EventStore, StoreError};
use initscope::synth::{self, Options};
use initscope::ui;
use initscope::view::{Mode, View};
use proptest::prelude::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn recording_lines(name: &str) -> Vec<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("recordings")
        .join(name);
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// Every real line we have: the three shipped recordings and synthetic bootstraps
/// (ours with both sources, a failed one, runc's).
fn corpus() -> Vec<String> {
    let mut v: Vec<String> = ["initscope-runtime.jsonl", "runc.jsonl", "crun.jsonl"]
        .iter()
        .flat_map(|n| recording_lines(n))
        .collect();
    let synthetic = synth::initscope_bootstrap(Options::default())
        .into_iter()
        .chain(synth::initscope_bootstrap(Options {
            fail: Some(synth::FailAt::InitMount),
            container: "failed".into(),
            pid: 7000,
            ..Options::default()
        }))
        .chain(synth::runc_run(9000, 5_000_000_000));
    v.extend(synthetic.map(|e| e.to_json()));
    v
}

fn parse_all(lines: &[String]) -> Vec<Event> {
    lines
        .iter()
        .map(|l| Event::parse_line(l).unwrap_or_else(|e| panic!("corpus line: {e}: {l}")))
        .collect()
}

/// Draw the session at both sizes, in replay at `at` and at the end, live at the end.
fn draw_everywhere(s: &Session, at: u32) {
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        for (mode, cursor) in [
            (Mode::Replay, at),
            (Mode::Replay, u32::MAX),
            (Mode::Live, 0),
        ] {
            let mut v = View::new(mode, "fuzz");
            v.cursor = cursor;
            v.sync(&s.model);
            let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
            t.draw(|f| ui::draw(f, s, &mut v)).unwrap();
        }
    }
}

/// How a line may be damaged.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    FlipByte(usize, u8),
    Insert(usize, char),
    DropRange(usize, usize),
    Keep,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::FlipByte(i, b)),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Damage::Insert(i, c)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Damage::DropRange(i, n)),
        Just(Damage::Keep),
    ]
}

/// Apply `d` to `line`'s bytes (the result may not be UTF-8).
fn apply(line: &str, d: &Damage) -> Vec<u8> {
    let mut b = line.as_bytes().to_vec();
    let n = b.len().max(1);
    match *d {
        Damage::Truncate(i) => b.truncate(i % n),
        Damage::FlipByte(i, x) => {
            if !b.is_empty() {
                let i = i % b.len();
                b[i] ^= x | 1;
            }
        }
        Damage::Insert(i, c) => {
            let mut s = [0u8; 4];
            let at = i % (b.len() + 1);
            b.splice(at..at, c.encode_utf8(&mut s).bytes());
        }
        Damage::DropRange(i, k) => {
            let at = i % n;
            let end = (at + k).min(b.len());
            if at < end {
                b.drain(at..end);
            }
        }
        Damage::Keep => {}
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any string: an event or an error, never a panic; the error is one line.
    #[test]
    fn any_text_parses_or_fails_in_one_line(s in any::<String>()) {
        if let Err(e) = Event::parse_line(&s) {
            prop_assert_eq!(e.to_string().lines().count(), 1);
        }
    }

    /// JSON-shaped garbage: objects with the envelope's keys and wrong or odd values.
    #[test]
    fn json_shaped_garbage_never_panics(
        source in prop_oneof![Just("runtime"), Just("kernel"), Just("other"), Just("")],
        kind in "[a-z_]{0,16}",
        ts in any::<i64>(),
        pid in any::<i64>(),
        extra in proptest::collection::vec(("[a-z_]{1,10}", any::<i64>()), 0..6),
    ) {
        let mut o = serde_json::json!({"v": 1, "source": source, "kind": kind, "ts_ns": ts, "pid": pid, "tgid": pid, "stage": "init", "container": "c"});
        for (k, v) in extra {
            o[k] = v.into();
        }
        let line = o.to_string();
        if let Ok(ev) = Event::parse_line(&line) {
            // Whatever was read folds and draws.
            let s = Session::from_events(&[ev]);
            draw_everywhere(&s, 1);
        }
    }

    /// Real lines, damaged: the reader never panics.
    #[test]
    fn damaged_real_lines_never_panic(i in any::<usize>(), d in damage()) {
        let corpus = corpus();
        let line = &corpus[i % corpus.len()];
        let bytes = apply(line, &d);
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = Event::parse_line(&text) {
            prop_assert_eq!(e.to_string().lines().count(), 1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A recording with damaged lines (random bytes, truncations, invalid UTF-8, blank
    /// lines): it loads, or fails with one line naming the file and the first bad line.
    #[test]
    fn a_damaged_recording_loads_or_names_its_first_bad_line(
        picks in proptest::collection::vec((any::<usize>(), damage()), 1..40),
        junk in proptest::collection::vec(any::<u8>(), 0..64),
        junk_at in any::<usize>(),
    ) {
        let corpus = corpus();
        let mut lines: Vec<Vec<u8>> = picks
            .iter()
            .map(|(i, d)| apply(&corpus[i % corpus.len()], d))
            .map(|mut b| { b.retain(|&c| c != b'\n'); b })
            .collect();
        if !junk.is_empty() {
            let mut j = junk.clone();
            j.retain(|&c| c != b'\n');
            let at = junk_at % (lines.len() + 1);
            lines.insert(at, j);
        }
        // The first line the reader must refuse (1-based), by our own reading of it.
        let first_bad = lines.iter().position(|b| match std::str::from_utf8(b) {
            Ok(t) => !t.trim().is_empty() && Event::parse_line(t.trim_end_matches('\r')).is_err(),
            Err(_) => true,
        }).map(|i| i + 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.jsonl");
        let mut data = lines.join(&b'\n');
        data.push(b'\n');
        std::fs::write(&path, &data).unwrap();
        match Session::load(&path) {
            Ok(s) => {
                prop_assert!(first_bad.is_none(), "line {:?} was accepted", first_bad);
                draw_everywhere(&s, (s.model.len() / 2) as u32);
                let _ = svg::render(&s.model, u32::MAX);
                let _ = mermaid::render(&s.model, u32::MAX);
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert_eq!(msg.lines().count(), 1, "{}", msg);
                prop_assert!(msg.starts_with(&path.display().to_string()), "{}", msg);
                match (first_bad, &e) {
                    (Some(n), _) => prop_assert!(
                        msg.contains(&format!("damaged.jsonl:{n}: ")),
                        "first bad line is {}: {}", n, msg
                    ),
                    (None, StoreError::Empty(_)) => {}
                    (None, _) => prop_assert!(false, "refused a good file: {}", msg),
                }
            }
        }
    }

    /// Real streams reordered, duplicated and cut: the model folds them, the screen
    /// draws them, the exports render them, and folding is deterministic.
    #[test]
    fn reordered_duplicated_and_cut_streams_fold_and_draw(
        order in proptest::collection::vec(any::<usize>(), 0..300),
        at in any::<u32>(),
    ) {
        let events = parse_all(&corpus());
        let stream: Vec<Event> = order.iter().map(|i| events[i % events.len()].clone()).collect();
        // In the order given (as a live session folds them) …
        let m1 = Model::from_events(&stream);
        let m2 = Model::from_events(&stream);
        prop_assert_eq!(m1.len(), stream.len());
        prop_assert_eq!(m1.lanes.len(), m2.lanes.len());
        prop_assert_eq!(m1.rows.len(), m2.rows.len());
        let _ = svg::render(&m1, at);
        let _ = mermaid::render(&m1, u32::MAX);
        // … and in time order (as replay does).
        let s = Session::from_events(&stream);
        draw_everywhere(&s, at % (stream.len() as u32 + 1));
    }

    /// A live source sending a mix of events and garbage: every garbage line is counted
    /// as bad, every event is folded.
    #[test]
    fn a_live_session_counts_bad_lines(
        picks in proptest::collection::vec((any::<usize>(), any::<bool>(), "\\PC{0,40}"), 0..80),
    ) {
        let corpus = corpus();
        let mut s = Session::new(EventStore::memory());
        let (mut good, mut bad) = (0usize, 0u64);
        for (i, real, junk) in &picks {
            if *real {
                s.push_line(&corpus[i % corpus.len()]);
                good += 1;
            } else {
                let t = junk.trim_end();
                if !t.is_empty() && Event::parse_line(t).is_err() {
                    bad += 1;
                } else if !t.is_empty() {
                    good += 1;
                }
                s.push_line(junk);
            }
        }
        prop_assert_eq!(s.bad_lines, bad);
        prop_assert_eq!(s.model.len(), good);
        draw_everywhere(&s, u32::MAX);
    }
}
