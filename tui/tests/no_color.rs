//! NO_COLOR (https://no-color.org): with it set, the screen uses no colour at all, only
//! bold/dim/underline/reverse; without it, stages have their colours.

use initscope::session::Session;
use initscope::synth::{self, Options};
use initscope::ui;
use initscope::ui::theme::Theme;
use initscope::view::{Mode, View};
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

fn colours(theme: Theme) -> usize {
    let s = Session::from_events(&synth::initscope_bootstrap(Options::default()));
    let mut v = View::new(Mode::Replay, "t");
    v.theme = theme;
    v.cursor = s.model.len() as u32;
    v.sync(&s.model);
    let mut t = Terminal::new(TestBackend::new(160, 48)).unwrap();
    t.draw(|f| ui::draw(f, &s, &mut v)).unwrap();
    t.backend()
        .buffer()
        .content()
        .iter()
        .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
        .count()
}

#[test]
fn no_color_means_no_colour() {
    // The only test in this binary: setting the variable races with nothing.
    std::env::set_var("NO_COLOR", "1");
    let plain = Theme::from_env();
    std::env::remove_var("NO_COLOR");
    let coloured = Theme::from_env();
    assert_eq!(colours(plain), 0);
    assert!(colours(coloured) > 100);
}
