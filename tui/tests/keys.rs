//! Keys and the mouse on the view, without a terminal: replay stepping, selection, filter,
//! search, panes, and the stuck state's rendering.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use initscope::model::{Diagnosis, Source};
use initscope::session::Session;
use initscope::synth::{self, Options};
use initscope::ui;
use initscope::view::{Action, FilterItem, Mode, Pane, View};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn key(v: &mut View, s: &Session, code: KeyCode) -> Action {
    v.handle_key(s, KeyEvent::new(code, KeyModifiers::NONE))
}

fn session() -> Session {
    Session::from_events(&synth::initscope_bootstrap(Options::default()))
}

fn draw(s: &Session, v: &mut View, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, s, v)).unwrap();
    t.backend().to_string()
}

#[test]
fn replay_steps_one_event_and_jumps_to_the_ends() {
    let s = session();
    let n = s.model.len() as u32;
    let mut v = View::new(Mode::Replay, "t");
    assert_eq!(v.at(&s.model), 0);
    key(&mut v, &s, KeyCode::Right);
    key(&mut v, &s, KeyCode::Right);
    assert_eq!(v.at(&s.model), 2);
    assert_eq!(
        v.sel,
        Some(1),
        "the selection follows the newest shown event"
    );
    key(&mut v, &s, KeyCode::Left);
    assert_eq!(v.at(&s.model), 1);
    key(&mut v, &s, KeyCode::End);
    assert_eq!(v.at(&s.model), n);
    key(&mut v, &s, KeyCode::Home);
    assert_eq!(v.at(&s.model), 0);
    // Play: space, then time passes at 4 events/s (speed index 2).
    key(&mut v, &s, KeyCode::Char(' '));
    assert!(v.playing);
    let t0 = std::time::Instant::now();
    v.tick(&s.model, t0);
    v.tick(&s.model, t0 + std::time::Duration::from_millis(1000));
    assert_eq!(v.at(&s.model), 5, "1 at once, then 4 per second");
    assert!(matches!(key(&mut v, &s, KeyCode::Char('q')), Action::Quit));
}

#[test]
fn filter_hides_a_source_and_search_finds_a_message() {
    let s = session();
    let mut v = View::new(Mode::Replay, "t");
    v.cursor = s.model.len() as u32;
    let all = v.event_list(&s.model).len();
    key(&mut v, &s, KeyCode::Char('f'));
    assert!(v.filter_open);
    assert_eq!(v.filter_items[1], FilterItem::Source(Source::Kernel));
    key(&mut v, &s, KeyCode::Down);
    key(&mut v, &s, KeyCode::Char(' '));
    key(&mut v, &s, KeyCode::Enter);
    assert!(!v.filter_open);
    let list = v.event_list(&s.model).to_vec();
    assert_eq!(
        list.len() as u64,
        s.model.counts[0],
        "only runtime events remain"
    );
    assert!(list.len() < all);
    assert!(list
        .iter()
        .all(|&q| s.model.events[q as usize].source == Source::Runtime));

    key(&mut v, &s, KeyCode::Char('/'));
    for c in "grandchild".chars() {
        key(&mut v, &s, KeyCode::Char(c));
    }
    key(&mut v, &s, KeyCode::Enter);
    let found = s.event(v.sel.unwrap()).unwrap().to_json();
    assert!(found.contains("SYNC_GRANDCHILD"), "{found}");
    let first = v.sel;
    key(&mut v, &s, KeyCode::Char('n'));
    assert_ne!(v.sel, first, "n finds the next match (the receive)");
    assert!(s
        .event(v.sel.unwrap())
        .unwrap()
        .to_json()
        .contains("SYNC_GRANDCHILD"));
}

#[test]
fn tab_cycles_panes_and_a_click_selects_a_diagram_row() {
    let s = session();
    let mut v = View::new(Mode::Replay, "t");
    v.cursor = s.model.len() as u32;
    v.sync(&s.model);
    key(&mut v, &s, KeyCode::Tab);
    assert_eq!((v.focus, v.bottom), (Pane::Events, Pane::Events));
    key(&mut v, &s, KeyCode::BackTab);
    assert_eq!(v.focus, Pane::Diagram);
    draw(&s, &mut v, 100, 30);
    let (y, row) = v.hits.diagram_rows[2];
    v.handle_mouse(
        &s,
        MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 20,
            row: y,
            modifiers: KeyModifiers::NONE,
        },
    );
    assert_eq!(v.sel, Some(s.model.row(row).seq));
    assert!(!v.follow);
    // Up/down in the diagram walks rows.
    key(&mut v, &s, KeyCode::Down);
    assert_eq!(v.selected_row(&s.model), Some(v.hits.diagram_rows[3].1));
}

#[test]
fn a_stuck_stage_is_red_with_its_verdict() {
    let mut s = session();
    let init = s.model.lanes.iter().position(|l| l.pid == 4103).unwrap() as u32;
    s.model.set_diagnosis(
        init,
        Some(Diagnosis {
            stuck: true,
            since_ns: 0,
            waits_on: "exec.fifo".into(),
            verdict: "init is waiting for `start`: run initscope-runtime start demo".into(),
            ..Diagnosis::default()
        }),
    );
    let mut v = View::new(Mode::Replay, "t");
    v.theme = initscope::ui::theme::Theme::plain();
    v.cursor = s.model.len() as u32;
    v.sync(&s.model);
    let screen = draw(&s, &mut v, 160, 48);
    assert!(screen.contains("STUCK"), "{screen}");
    assert!(
        screen.contains("stuck: [2:INIT] 4103 exec.fifo"),
        "{screen}"
    );
    assert!(screen.contains("init is waiting for `start`"), "{screen}");
    s.model.set_diagnosis(init, None);
    assert!(s.model.stuck.is_empty());
}

#[test]
fn space_holds_live_events_back_and_lets_them_through() {
    let evs = synth::initscope_bootstrap(Options::default());
    let mut s = Session::new(initscope::store::EventStore::memory());
    for e in &evs[..10] {
        s.push_line(&e.to_json());
    }
    let mut v = View::new(Mode::Live, "t");
    let Action::PauseLive(true) = key(&mut v, &s, KeyCode::Char(' ')) else {
        panic!("pause")
    };
    s.set_paused(true);
    for e in &evs[10..] {
        s.push_line(&e.to_json());
    }
    assert_eq!(s.model.len(), 10, "the screen stands still");
    assert_eq!(s.held_back(), evs.len() - 10);
    assert_eq!(
        s.store.len(),
        evs.len(),
        "but everything is stored (and recorded)"
    );
    assert!(draw(&s, &mut v, 100, 30).contains(&format!("({} new held back)", evs.len() - 10)));
    let Action::PauseLive(false) = key(&mut v, &s, KeyCode::Char(' ')) else {
        panic!("resume")
    };
    s.set_paused(false);
    assert_eq!(s.model.len(), evs.len());
    assert_eq!(s.held_back(), 0);
}
