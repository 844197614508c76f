//! `process.rlimits`: translated from the config and applied with `setrlimit` in init.

use oci_spec::runtime::PosixRlimit;

use crate::bootstrap::failure::StageFailure;
use crate::events::emitter::Emitter;
use crate::events::schema::EventKind;

/// One resource limit to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    /// `RLIMIT_NOFILE`, as written in the config.
    pub name: String,
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

impl Rlimit {
    pub fn from_spec(r: &PosixRlimit) -> Result<Rlimit, String> {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let resource = resource_of(&name).ok_or_else(|| format!("unknown rlimit type {name}"))?;
        if r.soft() > r.hard() {
            return Err(format!(
                "{name}: soft limit {} is above the hard limit {}",
                r.soft(),
                r.hard()
            ));
        }
        Ok(Rlimit {
            name,
            resource,
            soft: r.soft(),
            hard: r.hard(),
        })
    }

    /// `setrlimit`, reported as `rlimit`. Raising a hard limit needs CAP_SYS_RESOURCE; the
    /// error then says what the current hard limit is.
    pub fn apply(&self, em: &mut Emitter) -> Result<(), StageFailure> {
        if let Err(err) = crate::sys::setrlimit(self.resource, self.soft, self.hard) {
            let mut what = format!(
                "setrlimit {} soft {} hard {}",
                self.name, self.soft, self.hard
            );
            if let Some((_, hard)) = crate::sys::getrlimit(self.resource) {
                if self.hard > hard {
                    what.push_str(&format!(
                        " (above the current hard limit {hard}; raising it needs CAP_SYS_RESOURCE)"
                    ));
                }
            }
            return Err(StageFailure::sys(em.stage(), "rlimit", what, err));
        }
        em.emit(EventKind::Rlimit {
            resource: self.name.clone(),
            soft: self.soft,
            hard: self.hard,
        });
        Ok(())
    }
}

fn resource_of(name: &str) -> Option<i32> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    } as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_map_to_resources() {
        let r: PosixRlimit =
            serde_json::from_str(r#"{"type":"RLIMIT_NOFILE","soft":512,"hard":1024}"#).unwrap();
        let r = Rlimit::from_spec(&r).unwrap();
        assert_eq!(r.name, "RLIMIT_NOFILE");
        assert_eq!(r.resource, libc::RLIMIT_NOFILE as i32);
        let r: PosixRlimit =
            serde_json::from_str(r#"{"type":"RLIMIT_RTTIME","soft":5,"hard":1}"#).unwrap();
        assert!(Rlimit::from_spec(&r)
            .unwrap_err()
            .contains("above the hard limit"));
    }
}
