//! `/proc/self/mountinfo`, parsed: which mount holds the rootfs (and whether it is shared),
//! where the cgroup hierarchies are, which host procfs/sysfs to hide under `--no-pivot`.

/// One line of mountinfo (proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u32,
    pub parent: u32,
    /// The path inside the filesystem that is mounted here (`/` for a full mount).
    pub root: String,
    pub mount_point: String,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
    /// Optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options (`rw,mode=755`, for cgroup v1 the controllers).
    pub super_options: String,
}

impl MountInfo {
    pub fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }
}

/// `\040` and friends back to bytes.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let mut fields = line.split(' ');
    let id = fields.next()?.parse().ok()?;
    let parent = fields.next()?.parse().ok()?;
    let _dev = fields.next()?;
    let root = unescape(fields.next()?);
    let mount_point = unescape(fields.next()?);
    let options = fields.next()?.to_string();
    let mut optional = Vec::new();
    loop {
        let f = fields.next()?;
        if f == "-" {
            break;
        }
        optional.push(f.to_string());
    }
    let fstype = fields.next()?.to_string();
    let source = unescape(fields.next()?);
    let super_options = fields.next().unwrap_or("").to_string();
    Some(MountInfo {
        id,
        parent,
        root,
        mount_point,
        options,
        optional,
        fstype,
        source,
        super_options,
    })
}

/// The calling process's mount table.
pub fn read_self() -> std::io::Result<Vec<MountInfo>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// Whether `path` is `dir` or below it (both absolute and clean).
pub fn is_under(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// The mount that holds `path` (the deepest mount point above it; the last one mounted
/// wins when several are stacked on the same point).
pub fn mount_of<'a>(mounts: &'a [MountInfo], path: &str) -> Option<&'a MountInfo> {
    let mut best: Option<&MountInfo> = None;
    for m in mounts {
        if is_under(path, &m.mount_point)
            && best.is_none_or(|b| m.mount_point.len() >= b.mount_point.len())
        {
            best = Some(m);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime master:4 - cgroup cgroup rw,cpu,cpuacct
50 27 0:40 / /tmp/with\\040space rw - tmpfs tmpfs rw
51 50 0:41 /sub /tmp/with\\040space/x rw shared:7 master:2 - tmpfs tmpfs rw
";

    #[test]
    fn parses_fields_optional_and_escapes() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 6);
        assert_eq!(m[1].mount_point, "/");
        assert!(m[1].is_shared());
        assert!(!m[0].is_shared());
        assert_eq!(m[3].super_options, "rw,cpu,cpuacct");
        assert_eq!(m[3].optional, vec!["master:4"]);
        assert_eq!(m[4].mount_point, "/tmp/with space");
        assert_eq!(m[5].root, "/sub");
        assert_eq!(m[5].optional, vec!["shared:7", "master:2"]);
        assert_eq!(m[5].fstype, "tmpfs");
    }

    #[test]
    fn finds_the_mount_holding_a_path() {
        let m = parse(SAMPLE);
        assert_eq!(mount_of(&m, "/tmp/x/rootfs").unwrap().mount_point, "/");
        assert_eq!(
            mount_of(&m, "/tmp/with space/x/y").unwrap().mount_point,
            "/tmp/with space/x"
        );
        assert_eq!(mount_of(&m, "/procfoo").unwrap().mount_point, "/");
        assert_eq!(mount_of(&m, "/proc").unwrap().mount_point, "/proc");
        assert!(is_under("/a/b", "/a") && !is_under("/ab", "/a") && is_under("/x", "/"));
    }
}
