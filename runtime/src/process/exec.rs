//! The container's program: found in the container's `PATH` (from `process.env`, not the
//! host's) *before* init blocks on exec.fifo, so a missing program fails `create`, as in
//! runc; then exec'd with exactly `process.args` and `process.env`.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::unistd::AccessFlags;

use crate::bootstrap::failure::StageFailure;
use crate::events::schema::Stage;

/// `PATH` when `process.env` has none (the default of `runc spec`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything execve needs, resolved.
#[derive(Debug, Clone)]
pub struct Program {
    pub path: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
}

/// `process.env` plus `HOME` from the container's `/etc/passwd` (or `/`) when unset.
pub fn build_env(env: &[String], uid: u32, passwd: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = env.to_vec();
    if !out.iter().any(|e| e.starts_with("HOME=")) {
        let home = passwd
            .and_then(|text| home_of(text, uid))
            .unwrap_or_else(|| "/".to_string());
        out.push(format!("HOME={home}"));
    }
    out
}

fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

/// Find `args[0]`: a name with a `/` is used as is; otherwise each directory of the
/// container's `PATH` is tried, and the first executable regular file wins.
pub fn resolve(args: &[String], env: &[String]) -> Result<PathBuf, String> {
    let name = &args[0];
    if name.contains('/') {
        return check_executable(Path::new(name)).map(|()| PathBuf::from(name));
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(format!(
        // runc's wording: docker and podman match "executable file not found in" to exit 127.
        "exec {name:?}: executable file not found in $PATH of the container ({path_var})"
    ))
}

fn check_executable(p: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(p).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        format!("exec {}: {}", p.display(), crate::sys::errno_text(errno))
    })?;
    if !meta.is_file() {
        return Err(format!("exec {}: not a regular file", p.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 || nix::unistd::access(p, AccessFlags::X_OK).is_err()
    {
        return Err(format!("exec {}: permission denied", p.display()));
    }
    Ok(())
}

impl Program {
    /// Resolve the program for `args`/`env` as `uid` sees the container (after the root
    /// switch and the user switch).
    pub fn prepare(args: &[String], env: &[String], uid: u32) -> Result<Program, StageFailure> {
        let passwd = std::fs::read_to_string("/etc/passwd").ok();
        let env = build_env(env, uid, passwd.as_deref());
        let path =
            resolve(args, &env).map_err(|m| StageFailure::new(Stage::Init, "exec-lookup", m))?;
        Ok(Program {
            path,
            args: args.to_vec(),
            env,
        })
    }

    /// execve; returns only on failure.
    pub fn exec(&self) -> nix::Error {
        let to_c = |s: &str| CString::new(s.as_bytes()).unwrap_or_default();
        let path = to_c(&self.path.to_string_lossy());
        let args: Vec<CString> = self.args.iter().map(|a| to_c(a)).collect();
        let env: Vec<CString> = self.env.iter().map(|e| to_c(e)).collect();
        match nix::unistd::execve(&path, &args, &env) {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_comes_from_passwd_or_defaults_to_root_dir() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n";
        let env = build_env(&["PATH=/bin".into()], 1000, Some(passwd));
        assert_eq!(env, vec!["PATH=/bin", "HOME=/home/bob"]);
        assert_eq!(build_env(&[], 5, Some(passwd)), vec!["HOME=/"]);
        assert_eq!(
            build_env(&["HOME=/x".into()], 0, Some(passwd)),
            vec!["HOME=/x"]
        );
    }

    #[test]
    fn lookup_uses_the_given_path_not_the_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let tool = bin.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = bin.join("plain");
        std::fs::write(&plain, "").unwrap();
        let env = vec![format!("PATH=/nonexistent:{}", bin.display())];
        assert_eq!(resolve(&["tool".into()], &env).unwrap(), tool);
        let e = resolve(&["plain".into()], &env).unwrap_err();
        assert!(e.contains("executable file not found in $PATH"), "{e}");
        let e = resolve(&["sh".into()], &["PATH=/nonexistent".into()]).unwrap_err();
        assert!(e.contains("\"sh\""), "{e}");
        let e = resolve(&[plain.display().to_string()], &env).unwrap_err();
        assert!(e.contains("permission denied"), "{e}");
        assert_eq!(resolve(&[tool.display().to_string()], &[]).unwrap(), tool);
    }
}
