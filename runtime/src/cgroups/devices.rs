//! Device access rules (`linux.resources.devices`).
//!
//! The spec's semantics: rules apply in the listed order on top of "deny everything", so
//! the last rule matching an access decides. We always append runc's default allow list
//! (`/dev/null`, `/dev/zero`, …, ptys, and mknod of anything) so that a container whose
//! config denies all devices, as `runc spec` writes it, can still use the basics.
//!
//! - v1: `devices.deny` `a` (the cgroup starts from "allow all"), then each rule into
//!   `devices.allow` or `devices.deny`, in order; the kernel keeps the order in
//!   `devices.list`.
//! - v2: there is no devices controller; an eBPF program of type `cgroup_device` attached
//!   to the cgroup decides (`device_filter.rs`).

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use super::layout::Version;
use super::resources::{FileWrite, Host};
use super::CgroupError;

/// Access bits, as the kernel's `bpf_cgroup_dev_ctx` has them.
pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;

/// One validated rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// `a`, `b` or `c`.
    pub kind: char,
    /// `None` is the wildcard `*`.
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// [`READ`] | [`WRITE`] | [`MKNOD`].
    pub access: u8,
}

impl Rule {
    const fn allow_c(major: Option<i64>, minor: Option<i64>, access: u8) -> Rule {
        Rule {
            allow: true,
            kind: 'c',
            major,
            minor,
            access,
        }
    }

    /// The v1 file syntax: `c 1:3 rwm`.
    pub fn to_v1(&self) -> String {
        let n = |x: Option<i64>| x.map_or_else(|| "*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            n(self.major),
            n(self.minor),
            access_string(self.access)
        )
    }
}

fn access_string(bits: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
        if bits & bit != 0 {
            s.push(c);
        }
    }
    s
}

const RWM: u8 = READ | WRITE | MKNOD;

/// runc's default allow list (since runc 1.2 without tun/tap), appended after the
/// config's rules.
pub const DEFAULT_ALLOWED: [Rule; 10] = [
    Rule {
        allow: true,
        kind: 'c',
        major: None,
        minor: None,
        access: MKNOD,
    },
    Rule {
        allow: true,
        kind: 'b',
        major: None,
        minor: None,
        access: MKNOD,
    },
    Rule::allow_c(Some(1), Some(3), RWM), // /dev/null
    Rule::allow_c(Some(1), Some(8), RWM), // /dev/random
    Rule::allow_c(Some(1), Some(7), RWM), // /dev/full
    Rule::allow_c(Some(5), Some(0), RWM), // /dev/tty
    Rule::allow_c(Some(1), Some(5), RWM), // /dev/zero
    Rule::allow_c(Some(1), Some(9), RWM), // /dev/urandom
    Rule::allow_c(Some(136), None, RWM),  // /dev/pts/*
    Rule::allow_c(Some(5), Some(2), RWM), // /dev/ptmx
];

/// Validate the config's rules (index in messages) and append the defaults.
pub fn rules(config: Option<&[LinuxDeviceCgroup]>) -> Result<Vec<Rule>, CgroupError> {
    let mut out = Vec::new();
    for (i, d) in config.unwrap_or(&[]).iter().enumerate() {
        let field = format!("linux.resources.devices[{i}]");
        let kind = match d.typ().unwrap_or_default() {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            // `u` (unbuffered character) is a character device to the cgroup.
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => {
                return Err(CgroupError::Unsupported {
                    field: format!("{field}.type"),
                    reason: "\"p\" (FIFO) is not a device type cgroups control; use a, b or c"
                        .into(),
                })
            }
        };
        let access = match d.access().as_deref() {
            None | Some("") => RWM,
            Some(a) => {
                let mut bits = 0;
                for c in a.chars() {
                    bits |= match c {
                        'r' => READ,
                        'w' => WRITE,
                        'm' => MKNOD,
                        _ => {
                            return Err(CgroupError::Unsupported {
                                field: format!("{field}.access"),
                                reason: format!("{a:?} may hold only r, w and m"),
                            })
                        }
                    };
                }
                bits
            }
        };
        let num = |v: Option<i64>, what: &str| match v {
            Some(n) if n < 0 => Ok(None), // -1 is the spec's wildcard too
            Some(n) if n > u32::MAX as i64 => Err(CgroupError::Unsupported {
                field: format!("{field}.{what}"),
                reason: format!("{n} is out of range"),
            }),
            other => Ok(other),
        };
        out.push(Rule {
            allow: d.allow(),
            kind,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            access,
        });
    }
    out.extend(DEFAULT_ALLOWED);
    Ok(out)
}

/// The v1 writes for `create` (`None` when devices are not handled by a v1 hierarchy).
pub fn plan(
    config: Option<&[LinuxDeviceCgroup]>,
    host: &dyn Host,
) -> Result<Vec<FileWrite>, CgroupError> {
    let rules = rules(config)?;
    match host.side("devices") {
        Some(Version::V1) => {}
        // v2: the eBPF program does it (device_filter.rs); nothing to write.
        _ if host.has_file(Version::V2, "", "cgroup.procs") => return Ok(Vec::new()),
        _ => {
            if config.is_some_and(|c| !c.is_empty()) {
                return Err(CgroupError::NoController {
                    field: "linux.resources.devices".into(),
                    controller: "devices".into(),
                });
            }
            return Ok(Vec::new());
        }
    }
    check_v1_expressible(&rules, config.map_or(0, <[_]>::len))?;
    let mut out = vec![write("devices.deny", "a".into())];
    for r in rules {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push(write(file, r.to_v1()));
    }
    Ok(out)
}

/// v1 keeps a default (allow or deny all, set by type `a` rules) and a list of
/// exceptions; a rule that agrees with the default removes only the exceptions with
/// *exactly* its type and numbers. So "allow `c 1:*`, then deny `c 1:11`" leaves 1:11
/// allowed, and so does "allow `c 1:11`, then deny `c 1:*`" — the spec says the later
/// rule wins. Refuse such configs instead of running a
/// container with more access than it asked for. (The defaults we append are exempt: they
/// only add convenience access and never widen what the config denied on purpose.)
fn check_v1_expressible(rules: &[Rule], config_len: usize) -> Result<(), CgroupError> {
    let mut default_allow = false; // we begin with `devices.deny a`
    let mut exceptions: Vec<(usize, Rule)> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if r.kind == 'a' {
            default_allow = r.allow;
            exceptions.clear();
            continue;
        }
        if r.allow != default_allow {
            exceptions.push((i, *r));
            continue;
        }
        let overlapping = exceptions.iter().find(|(_, e)| {
            e.kind == r.kind
                && e.access & r.access != 0
                && (e.major, e.minor) != (r.major, r.minor)
                && (e.major.is_none() || r.major.is_none() || e.major == r.major)
                && (e.minor.is_none() || r.minor.is_none() || e.minor == r.minor)
        });
        if let (Some((j, e)), true) = (overlapping, i < config_len) {
            let (verb, other) = if r.allow {
                ("allow", "deny")
            } else {
                ("deny", "allow")
            };
            return Err(CgroupError::Unsupported {
                field: format!("linux.resources.devices[{i}]"),
                reason: format!(
                    "cgroup v1 cannot {verb} {} over the overlapping {other} {} of devices[{j}] (the kernel only removes exactly matching rules); write rules with the same type and numbers, or reset with a type \"a\" rule first",
                    r.to_v1(),
                    e.to_v1()
                ),
            });
        }
        exceptions.retain(|(_, e)| !(e.kind == r.kind && e.major == r.major && e.minor == r.minor));
    }
    Ok(())
}

fn write(file: &str, value: String) -> FileWrite {
    FileWrite {
        version: Version::V1,
        controller: "devices",
        file: file.into(),
        value,
        verify: false,
    }
}

/// `resources` with an allow rule (`rwm`) appended for every `linux.devices` entry, as
/// runc does: a device the config asks to create must also be usable. Call this before
/// [`super::Cgroup::create`].
pub fn with_linux_devices(
    resources: Option<&LinuxResources>,
    devices: &[LinuxDevice],
) -> LinuxResources {
    let mut r = resources.cloned().unwrap_or_default();
    if devices.is_empty() {
        return r;
    }
    let mut list = r.devices().clone().unwrap_or_default();
    list.extend(devices.iter().map(LinuxDeviceCgroup::from));
    r.set_devices(Some(list));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn rules_keep_config_order_then_defaults() {
        let cfg = vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(10)
                .minor(229)
                .access("rw")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .typ(LinuxDeviceType::B)
                .major(8)
                .access("m")
                .build()
                .unwrap(),
        ];
        let r = rules(Some(&cfg)).unwrap();
        let v1: Vec<String> = r.iter().map(Rule::to_v1).collect();
        assert_eq!(v1[0], "a *:* rwm");
        assert!(!r[0].allow);
        assert_eq!(v1[1], "c 10:229 rw");
        assert_eq!(v1[2], "b 8:* m");
        assert_eq!(v1[3], "c *:* m");
        assert_eq!(v1[5], "c 1:3 rwm");
        assert_eq!(v1.last().unwrap(), "c 5:2 rwm");
        assert_eq!(r.len(), 3 + DEFAULT_ALLOWED.len());
    }

    #[test]
    fn bad_rules_name_the_field() {
        let bad = vec![LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rwx")
            .build()
            .unwrap()];
        let e = rules(Some(&bad)).unwrap_err().to_string();
        assert!(e.contains("linux.resources.devices[0].access"), "{e}");
        let fifo = vec![LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::P)
            .build()
            .unwrap()];
        let e = rules(Some(&fifo)).unwrap_err().to_string();
        assert!(e.contains("devices[0].type"), "{e}");
    }

    #[test]
    fn v1_refuses_rules_the_kernel_would_not_honour() {
        let r = |allow, kind, major, minor| Rule {
            allow,
            kind,
            major,
            minor,
            access: RWM,
        };
        let cfg = [
            r(false, 'a', None, None),
            r(true, 'c', Some(1), None),
            r(false, 'c', Some(1), Some(11)),
        ];
        let e = check_v1_expressible(&cfg, 3).unwrap_err().to_string();
        assert!(
            e.contains("devices[2]") && e.contains("c 1:* rwm of devices[1]"),
            "{e}"
        );
        // Exactly matching, or after a reset by an `a` rule: fine.
        let ok = [
            r(true, 'c', Some(1), Some(11)),
            r(false, 'c', Some(1), Some(11)),
            r(true, 'c', Some(1), None),
            r(false, 'a', None, None),
            r(false, 'c', Some(1), Some(11)),
        ];
        assert!(check_v1_expressible(&ok, 5).is_ok());
        // Blacklist mode: an allow inside a wider deny; appended defaults are exempt.
        let cfg = [
            r(true, 'a', None, None),
            r(false, 'c', Some(1), None),
            r(true, 'c', Some(1), Some(3)),
        ];
        assert!(check_v1_expressible(&cfg, 3)
            .unwrap_err()
            .to_string()
            .contains("cannot allow"));
        assert!(check_v1_expressible(&cfg, 2).is_ok());
    }

    #[test]
    fn linux_devices_become_allow_rules() {
        let dev: LinuxDevice =
            serde_json::from_str(r#"{"path":"/dev/fuse","type":"c","major":10,"minor":229}"#)
                .unwrap();
        let r = with_linux_devices(None, &[dev]);
        let rules = rules(r.devices().as_deref()).unwrap();
        assert_eq!(rules[0].to_v1(), "c 10:229 rwm");
        assert!(rules[0].allow);
    }
}
