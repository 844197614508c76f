//! Container ids: they become a directory name under `--root`, so they must be a single,
//! printable path component.

/// The longest id accepted, in bytes: it names a directory under `--root` and in every
/// cgroup hierarchy, and a file name has at most NAME_MAX (255) bytes.
pub const MAX_ID_LEN: usize = 255;

/// Why an id is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid container id {id:?}: {reason}")]
pub struct InvalidId {
    pub id: String,
    pub reason: &'static str,
}

/// Accept `id` as a container id, or say why not.
pub fn validate_id(id: &str) -> Result<(), InvalidId> {
    let bad = |reason| {
        Err(InvalidId {
            id: id.chars().take(64).collect(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad("it is longer than 255 bytes (it names a directory; NAME_MAX)");
    }
    if id == "." || id == ".." {
        return bad("it is \".\" or \"..\"");
    }
    if id.contains('/') {
        return bad("it contains '/'");
    }
    if id.contains("..") {
        return bad("it contains \"..\"");
    }
    if id.chars().any(|c| c.is_control()) {
        return bad("it contains a control character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        for id in ["a", "web-1", "3f2b_c.d", "Ünïcode", &"x".repeat(255)] {
            assert_eq!(validate_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn refuses_paths_and_control_characters() {
        for (id, why) in [
            ("", "empty"),
            ("a/b", "'/'"),
            ("..", "\"..\""),
            ("a..b", "\"..\""),
            (".", "\".\""),
            ("a\nb", "control"),
            ("a\u{7f}", "control"),
        ] {
            let e = validate_id(id).unwrap_err();
            assert!(e.to_string().contains(why), "{id:?}: {e}");
        }
        assert!(validate_id(&"x".repeat(256)).is_err());
        assert!(validate_id(&"x".repeat(1024)).is_err());
    }
}
