//! Capabilities, all five sets, applied in runc's order: the bounding set is dropped while
//! init is still fully privileged; the user switch keeps the permitted set (KEEPCAPS);
//! then inheritable, effective, permitted are set and the ambient set is raised.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;

use crate::bootstrap::failure::StageFailure;
use crate::events::emitter::Emitter;
use crate::events::schema::EventKind;

/// The five sets from `process.capabilities` (absent sets are empty, as in runc), each in
/// kernel order without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapsPlan {
    pub bounding: Vec<Capability>,
    pub effective: Vec<Capability>,
    pub inheritable: Vec<Capability>,
    pub permitted: Vec<Capability>,
    pub ambient: Vec<Capability>,
}

fn convert(set: &Option<oci_spec::runtime::Capabilities>) -> Result<Vec<Capability>, String> {
    let mut out = Vec::new();
    for c in set.iter().flatten() {
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let cap = Capability::from_str(&name).map_err(|_| {
            format!("unknown capability {name}: this kernel/runtime does not know it")
        })?;
        out.push(cap);
    }
    // Capability is not Ord: keep kernel (index) order, each once.
    out.sort_by_key(|c| c.index());
    out.dedup();
    Ok(out)
}

fn names(set: &[Capability]) -> Vec<String> {
    set.iter().map(|c| c.to_string()).collect()
}

fn hash(set: &[Capability]) -> CapsHashSet {
    set.iter().copied().collect()
}

impl CapsPlan {
    pub fn from_spec(c: &LinuxCapabilities) -> Result<CapsPlan, String> {
        Ok(CapsPlan {
            bounding: convert(c.bounding())?,
            effective: convert(c.effective())?,
            inheritable: convert(c.inheritable())?,
            permitted: convert(c.permitted())?,
            ambient: convert(c.ambient())?,
        })
    }

    /// Step 1 (still root with every capability): drop what is not in the bounding set.
    pub fn drop_bounding(&self, em: &mut Emitter) -> Result<(), StageFailure> {
        let current =
            caps::read(None, CapSet::Bounding).map_err(|e| fail(em, "read bounding set", e))?;
        for cap in current {
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| fail(em, &format!("drop {cap} from the bounding set"), e))?;
            }
        }
        Ok(())
    }

    /// Step 3 (after the user switch): inheritable, effective, permitted, then ambient.
    /// An ambient capability must also be permitted and inheritable; the kernel refuses
    /// others, and like runc we skip those rather than fail (runc's own default config
    /// asks for ambient capabilities without inheritable ones). The event lists what was
    /// really applied.
    pub fn apply(&self, em: &mut Emitter) -> Result<(), StageFailure> {
        caps::set(None, CapSet::Inheritable, &hash(&self.inheritable))
            .map_err(|e| fail(em, "set inheritable capabilities", e))?;
        caps::set(None, CapSet::Effective, &hash(&self.effective))
            .map_err(|e| fail(em, "set effective capabilities", e))?;
        caps::set(None, CapSet::Permitted, &hash(&self.permitted))
            .map_err(|e| fail(em, "set permitted capabilities", e))?;
        caps::clear(None, CapSet::Ambient)
            .map_err(|e| fail(em, "clear ambient capabilities", e))?;
        let mut ambient = Vec::new();
        for cap in &self.ambient {
            if self.permitted.contains(cap) && self.inheritable.contains(cap) {
                caps::raise(None, CapSet::Ambient, *cap)
                    .map_err(|e| fail(em, &format!("raise ambient {cap}"), e))?;
                ambient.push(*cap);
            }
        }
        em.emit(EventKind::Caps {
            bounding: names(&self.bounding),
            effective: names(&self.effective),
            inheritable: names(&self.inheritable),
            permitted: names(&self.permitted),
            ambient: names(&ambient),
        });
        Ok(())
    }
}

fn fail(em: &Emitter, what: &str, e: caps::errors::CapsError) -> StageFailure {
    let errno = std::io::Error::last_os_error().raw_os_error();
    StageFailure {
        stage: em.stage(),
        step: "caps".into(),
        errno,
        message: format!("{what}: {e}"),
        peer_gone: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_translate_and_absent_sets_are_empty() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"],"ambient":["CAP_KILL"]}"#,
        )
        .unwrap();
        let p = CapsPlan::from_spec(&c).unwrap();
        assert_eq!(
            names(&p.bounding),
            vec!["CAP_CHOWN", "CAP_KILL"],
            "kernel order"
        );
        assert!(p.inheritable.is_empty() && p.permitted.is_empty());
        assert_eq!(p.ambient.len(), 1);
    }

    #[test]
    fn unknown_names_are_refused_by_the_config_parser() {
        let r: Result<LinuxCapabilities, _> =
            serde_json::from_str(r#"{"bounding":["CAP_NOT_A_THING"]}"#);
        assert!(r.is_err());
    }
}
