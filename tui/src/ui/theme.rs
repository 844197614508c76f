//! Colours and styles. With `NO_COLOR` set (https://no-color.org) only bold, dim,
//! underline and reverse are used, so the screen still reads in monochrome.

use initscope_runtime::events::schema::Stage;
use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to a non-empty value.
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    pub fn plain() -> Theme {
        Theme { color: false }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn role(&self, role: Option<Stage>) -> Style {
        let c = match role {
            Some(Stage::Create) => Color::Cyan,
            Some(Stage::Parent) => Color::Yellow,
            Some(Stage::Child) => Color::Magenta,
            Some(Stage::Init) => Color::Green,
            Some(Stage::Start) => Color::Blue,
            Some(Stage::Hook) => Color::LightBlue,
            _ => Color::White,
        };
        self.fg(c).add_modifier(Modifier::BOLD)
    }

    pub fn lifeline(&self) -> Style {
        self.fg(Color::DarkGray)
    }
    pub fn time(&self) -> Style {
        self.fg(Color::DarkGray)
    }
    pub fn clone_arrow(&self) -> Style {
        self.fg(Color::White).add_modifier(Modifier::BOLD)
    }
    pub fn sync_arrow(&self) -> Style {
        self.fg(Color::Cyan)
    }
    pub fn in_flight(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::DIM)
    }
    pub fn ns(&self) -> Style {
        self.fg(Color::Magenta)
    }
    pub fn idmap(&self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn step(&self) -> Style {
        Style::new()
    }
    pub fn exec(&self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }
    pub fn exit(&self, ok: bool) -> Style {
        if ok {
            self.fg(Color::Gray)
        } else {
            self.error()
        }
    }
    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    /// A process that made no progress for too long (diagnosis).
    pub fn stuck(&self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
    pub fn selected(&self) -> Style {
        if self.color {
            Style::new().bg(Color::Rgb(40, 48, 72))
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }
    pub fn new_ns(&self) -> Style {
        self.fg(Color::Magenta)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }
    pub fn dim(&self) -> Style {
        self.fg(Color::DarkGray).add_modifier(Modifier::DIM)
    }
    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn focus_title(&self) -> Style {
        self.fg(Color::Cyan)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }
    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn source(&self, kernel: bool) -> Style {
        self.fg(if kernel {
            Color::LightMagenta
        } else {
            Color::LightCyan
        })
    }
    pub fn matched(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::new().add_modifier(Modifier::UNDERLINED | Modifier::BOLD)
        }
    }
}
