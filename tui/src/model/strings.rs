//! A string interner: labels repeat (comm names, message names, paths), so rows keep a
//! 4-byte symbol instead of a heap string, which keeps the model small at a million events.

use std::collections::HashMap;

/// An interned string. `Sym::NONE` stands for "no string".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Sym(pub u32);

impl Sym {
    pub const NONE: Sym = Sym(0);
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

#[derive(Debug, Clone)]
pub struct Strings {
    all: Vec<Box<str>>,
    index: HashMap<Box<str>, Sym>,
}

impl Default for Strings {
    fn default() -> Self {
        Strings {
            all: vec!["".into()],
            index: HashMap::new(),
        }
    }
}

impl Strings {
    pub fn intern(&mut self, s: &str) -> Sym {
        if s.is_empty() {
            return Sym::NONE;
        }
        if let Some(&sym) = self.index.get(s) {
            return sym;
        }
        let sym = Sym(self.all.len() as u32);
        self.all.push(s.into());
        self.index.insert(s.into(), sym);
        sym
    }

    pub fn get(&self, sym: Sym) -> &str {
        self.all.get(sym.0 as usize).map(|s| &**s).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.len() <= 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_empty_is_none() {
        let mut s = Strings::default();
        let a = s.intern("SYNC_USERMAP_PLS");
        assert_eq!(s.intern("SYNC_USERMAP_PLS"), a);
        assert_ne!(s.intern("SYNC_USERMAP_ACK"), a);
        assert_eq!(s.intern(""), Sym::NONE);
        assert_eq!(s.get(a), "SYNC_USERMAP_PLS");
        assert_eq!(s.get(Sym::NONE), "");
    }
}
