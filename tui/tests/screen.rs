//! The screen at 80×24 and 160×48 on ratatui's TestBackend, as insta snapshots: a bootstrap
//! halfway, completed, failed; replay with the event list; runc seen by the kernel alone.

use initscope::event::Event;
use initscope::session::Session;
use initscope::synth::{self, FailAt, Options};
use initscope::ui;
use initscope::view::{Mode, Pane, View};
use initscope_runtime::events::schema::EventKind;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn screen(s: &Session, v: &mut View, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, s, v)).unwrap();
    t.backend().to_string()
}

fn replay_view(s: &Session, at: u32) -> View {
    let mut v = View::new(Mode::Replay, "replay demo.jsonl");
    v.theme = initscope::ui::theme::Theme::plain();
    v.cursor = at;
    v.sync(&s.model);
    v
}

fn ours() -> Vec<Event> {
    synth::initscope_bootstrap(Options::default())
}

/// Just after [1:CHILD] asked its parent for the uid map.
fn mid(evs: &[Event]) -> u32 {
    evs.iter()
        .position(|e| matches!(e, Event::Runtime(r) if matches!(&r.kind, EventKind::SyncSend { msg, .. } if msg == "SYNC_USERMAP_PLS")))
        .unwrap() as u32
        + 1
}

#[test]
fn mid_bootstrap() {
    let evs = ours();
    let s = Session::from_events(&evs);
    for (w, h) in [(80, 24), (160, 48)] {
        let mut v = replay_view(&s, mid(&evs));
        insta::assert_snapshot!(format!("mid_bootstrap_{w}x{h}"), screen(&s, &mut v, w, h));
    }
}

#[test]
fn completed() {
    let s = Session::from_events(&ours());
    for (w, h) in [(80, 24), (160, 48)] {
        let mut v = replay_view(&s, u32::MAX);
        insta::assert_snapshot!(format!("completed_{w}x{h}"), screen(&s, &mut v, w, h));
    }
}

#[test]
fn failed_bootstrap() {
    let s = Session::from_events(&synth::initscope_bootstrap(Options {
        fail: Some(FailAt::InitMount),
        ..Options::default()
    }));
    for (w, h) in [(80, 24), (160, 48)] {
        let mut v = replay_view(&s, u32::MAX);
        insta::assert_snapshot!(format!("failed_{w}x{h}"), screen(&s, &mut v, w, h));
    }
}

#[test]
fn replay_event_list_and_namespaces() {
    let evs = ours();
    let s = Session::from_events(&evs);
    // Stepped to just after init was cloned, event list in the bottom pane.
    let at = evs.iter().position(|e| matches!(e, Event::Runtime(r) if matches!(r.kind, EventKind::StageStart { .. }) && r.pid == 4103)).unwrap() as u32 + 1;
    let mut v = replay_view(&s, at);
    v.focus = Pane::Events;
    v.bottom = Pane::Events;
    insta::assert_snapshot!("replay_events_80x24", screen(&s, &mut v, 80, 24));
    v.bottom = Pane::Namespaces;
    v.focus = Pane::Namespaces;
    insta::assert_snapshot!("replay_namespaces_80x24", screen(&s, &mut v, 80, 24));
    insta::assert_snapshot!("replay_160x48", screen(&s, &mut v, 160, 48));
}

#[test]
fn runc_from_the_kernel_alone() {
    // The shipped recording of Debian's runc, made with `initscope trace --record`.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/runc.jsonl");
    let s = Session::load(&path).unwrap();
    let mut v = replay_view(&s, u32::MAX);
    insta::assert_snapshot!("runc_recorded_160x48", screen(&s, &mut v, 160, 48));
    let mut v = replay_view(&s, u32::MAX);
    insta::assert_snapshot!("runc_recorded_80x24", screen(&s, &mut v, 80, 24));
}

#[test]
fn initscope_runtime_recorded_waiting_for_start() {
    // The shipped recording of `initscope demo`: both sources.
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/initscope-runtime.jsonl");
    let s = Session::load(&path).unwrap();
    let m = &s.model;
    // The moment create reported "created": init blocks on exec.fifo.
    let created = m.boots[0]
        .state
        .iter()
        .find(|(_, st)| m.str(*st) == "created")
        .unwrap()
        .0
        + 1;
    let mut v = replay_view(&s, created);
    insta::assert_snapshot!(
        "initscope_recorded_created_160x48",
        screen(&s, &mut v, 160, 48)
    );
    let mut v = replay_view(&s, u32::MAX);
    insta::assert_snapshot!("initscope_recorded_end_80x24", screen(&s, &mut v, 80, 24));
}

#[test]
fn crun_from_the_kernel_alone() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/crun.jsonl");
    let s = Session::load(&path).unwrap();
    let mut v = replay_view(&s, u32::MAX);
    insta::assert_snapshot!("crun_recorded_80x24", screen(&s, &mut v, 80, 24));
}

#[test]
fn help_and_filter_popups() {
    let s = Session::from_events(&ours());
    let mut v = replay_view(&s, u32::MAX);
    v.help = true;
    insta::assert_snapshot!("help_80x24", screen(&s, &mut v, 80, 24));
}
