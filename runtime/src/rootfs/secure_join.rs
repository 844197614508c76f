//! Paths inside the rootfs, resolved as if the rootfs were `/`: a symlink — absolute or
//! full of `..` — never leads out of it (CVE-2021-30465). Existing paths are opened with
//! `openat2(RESOLVE_IN_ROOT)`, so the kernel does the scoping; missing ones are created one
//! component at a time relative to directory fds, never through a path string.
//!
//! Everything returns `O_PATH` fds: mounting on `/proc/self/fd/N` mounts on exactly that
//! file, even if someone swaps the path for a symlink in between.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};

/// Symlinks followed in one resolution before giving up (the kernel's limit too).
const MAX_SYMLINKS: usize = 40;

/// A directory treated as the root for path resolution.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    host: PathBuf,
}

/// `/a/./b//c/../d` → `/a/b/d`, always absolute (runc's `CleanPath("/" + p)`). Used for
/// comparing destinations (`== "/dev"`), never for opening.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

impl Root {
    /// Open `host` (an absolute host path) as the root.
    pub fn open(host: &Path) -> nix::Result<Root> {
        let fd = nix::fcntl::open(
            host,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            fd,
            host: host.to_path_buf(),
        })
    }

    pub fn host(&self) -> &Path {
        &self.host
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn how(flags: OFlag, no_symlinks: bool) -> OpenHow {
        let mut resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
        if no_symlinks {
            resolve |= ResolveFlag::RESOLVE_NO_SYMLINKS;
        }
        OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(resolve)
    }

    /// Open `path` inside the root with `flags` (`O_PATH`, `O_RDONLY|O_DIRECTORY`, …).
    /// `no_symlinks` refuses any symlink on the way with `ELOOP`.
    pub fn open_at(&self, path: &str, flags: OFlag, no_symlinks: bool) -> nix::Result<OwnedFd> {
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        openat2(self.fd(), rel, Self::how(flags, no_symlinks))
    }

    /// An `O_PATH` fd for an existing `path` inside the root.
    pub fn resolve(&self, path: &str) -> nix::Result<OwnedFd> {
        self.open_at(path, OFlag::O_PATH, false)
    }

    /// `mkdir -p` inside the root; returns an `O_PATH` fd for the directory. `ENOTDIR` when
    /// something on the way (or the end) is not a directory.
    pub fn mkdir_all(&self, path: &str, mode: u32, no_symlinks: bool) -> nix::Result<OwnedFd> {
        match self.open_at(path, OFlag::O_PATH | OFlag::O_DIRECTORY, no_symlinks) {
            Err(Errno::ENOENT) => {}
            other => return other,
        }
        self.walk_create(path, mode, no_symlinks)?;
        // Reopen through the kernel's scoped resolution: what we return is checked by it.
        self.open_at(path, OFlag::O_PATH | OFlag::O_DIRECTORY, no_symlinks)
    }

    /// Ensure a regular file exists at `path` (parents created); returns an `O_PATH` fd.
    /// An existing path of any type is returned as it is. A dangling symlink at the end is
    /// refused with `ELOOP` rather than guessed at.
    pub fn create_file(&self, path: &str) -> nix::Result<OwnedFd> {
        match self.resolve(path) {
            Err(Errno::ENOENT) => {}
            other => return other,
        }
        let (parent, name) = self.parent(path)?;
        match openat(
            &parent,
            name.as_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o755),
        ) {
            Ok(_) => {}
            Err(Errno::EEXIST) => return Err(Errno::ELOOP),
            Err(e) => return Err(e),
        }
        self.resolve(path)
    }

    /// The directory holding `path` (created if missing) and the last component's name.
    pub fn parent(&self, path: &str) -> nix::Result<(OwnedFd, String)> {
        let clean_path = clean(path);
        let (dir, name) = clean_path.rsplit_once('/').ok_or(Errno::EINVAL)?;
        if name.is_empty() {
            return Err(Errno::EINVAL);
        }
        let dir = if dir.is_empty() { "/" } else { dir };
        Ok((self.mkdir_all(dir, 0o755, false)?, name.to_string()))
    }

    /// Where `fd` is, as a path inside the root; `None` if it is not inside at all.
    pub fn path_of(&self, fd: impl AsFd) -> Option<String> {
        let link = std::fs::read_link(super::sys::proc_fd_path(fd)).ok()?;
        let rest = link.strip_prefix(&self.host).ok()?;
        Some(format!("/{}", rest.display()))
    }

    /// Create the missing directories of `path`, one component at a time, resolving
    /// symlinks inside the root by hand (`..` never climbs above it, an absolute target
    /// starts again at it).
    fn walk_create(&self, path: &str, mode: u32, no_symlinks: bool) -> nix::Result<()> {
        let mut stack: Vec<OwnedFd> = vec![self.fd.try_clone().map_err(|_| Errno::EMFILE)?];
        let mut todo: VecDeque<String> = components(path).map(str::to_string).collect();
        let mut links = 0;
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let cur = stack.last().expect("stack holds the root");
            match fstatat(cur, c.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => {
                    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
                    if kind == SFlag::S_IFLNK {
                        if no_symlinks {
                            return Err(Errno::ELOOP);
                        }
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(Errno::ELOOP);
                        }
                        let target = readlinkat(cur, c.as_str())?;
                        let target = target.to_string_lossy();
                        if target.starts_with('/') {
                            stack.truncate(1);
                        }
                        for comp in components(&target).collect::<Vec<_>>().into_iter().rev() {
                            todo.push_front(comp.to_string());
                        }
                        continue;
                    }
                    if kind != SFlag::S_IFDIR {
                        return Err(Errno::ENOTDIR);
                    }
                    let fd = openat(
                        cur,
                        c.as_str(),
                        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )?;
                    stack.push(fd);
                }
                Err(Errno::ENOENT) => {
                    match mkdirat(cur, c.as_str(), Mode::from_bits_truncate(mode)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(e),
                    }
                    // Look at it again: now it exists (made by us or by a racer).
                    todo.push_front(c);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean_paths() {
        assert_eq!(clean("/dev"), "/dev");
        assert_eq!(clean("dev/"), "/dev");
        assert_eq!(clean("/a/./b//c/../d"), "/a/b/d");
        assert_eq!(clean("/../../x"), "/x");
        assert_eq!(clean(""), "/");
    }

    // These need no privileges: symlinks and mkdir in a temp dir.
    #[test]
    fn symlinks_resolve_inside_the_root_when_creating() {
        let t = tempfile::tempdir().unwrap();
        let root_dir = t.path().join("root");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&root_dir).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        symlink("../../outside", root_dir.join("rel")).unwrap();
        symlink(&outside, root_dir.join("abs")).unwrap();
        let root = Root::open(&root_dir).unwrap();

        root.mkdir_all("/rel/made", 0o755, false).unwrap();
        assert!(root_dir.join("outside/made").is_dir());
        assert!(!outside.join("made").exists());

        let fd = root.mkdir_all("/abs/deeper/x", 0o755, false).unwrap();
        let inner = format!("{}/deeper/x", outside.display());
        assert!(root_dir.join(inner.trim_start_matches('/')).is_dir());
        assert!(!outside.join("deeper").exists());
        assert_eq!(root.path_of(&fd).unwrap(), inner);

        let f = root.create_file("/rel/file").unwrap();
        assert_eq!(root.path_of(&f).unwrap(), "/outside/file");
        assert!(root_dir.join("outside/file").is_file());
        assert!(!outside.join("file").exists());
    }

    #[test]
    fn no_symlinks_mode_and_non_directories() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("real")).unwrap();
        symlink("real", t.path().join("link")).unwrap();
        std::fs::write(t.path().join("file"), b"x").unwrap();
        let root = Root::open(t.path()).unwrap();
        assert_eq!(
            root.mkdir_all("/link", 0o755, true).unwrap_err(),
            Errno::ELOOP
        );
        assert_eq!(
            root.mkdir_all("/link/new", 0o755, true).unwrap_err(),
            Errno::ELOOP
        );
        assert!(root.mkdir_all("/link/new", 0o755, false).is_ok());
        assert!(t.path().join("real/new").is_dir());
        assert_eq!(
            root.mkdir_all("/file/x", 0o755, false).unwrap_err(),
            Errno::ENOTDIR
        );
        symlink("nowhere", t.path().join("dangling")).unwrap();
        assert_eq!(root.create_file("/dangling").unwrap_err(), Errno::ELOOP);
    }
}
