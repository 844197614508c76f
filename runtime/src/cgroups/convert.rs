//! The OCI spec speaks cgroup v1 (shares, blkio weight, memory+swap); these turn its
//! values into what cgroup v2 files take, the way runc (≥ 1.3.2) and crun do.

/// OCI `cpu.shares` (v1 range 2..262144, default 1024) → v2 `cpu.weight` (1..10000,
/// default 100). The log-quadratic curve runc 1.3.2 and crun 1.23 adopted maps the
/// defaults onto each other (1024 → 100), which the older linear formula did not (→ 39).
/// `0` means unset.
pub fn cpu_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        s => {
            let l = (s as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            // Round away float noise before ceil, so that exact points (1024 → 100) stay exact.
            let w = (10f64.powf(exponent) * 1e9).round() / 1e9;
            (w.ceil() as u64).clamp(1, 10_000)
        }
    }
}

/// OCI `blockIO.weight` (v1 10..1000) → v2 `io.weight` (1..10000), runc's linear map.
pub fn io_weight(blkio_weight: u16) -> u64 {
    if blkio_weight == 0 {
        return 0;
    }
    let w = u64::from(blkio_weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// v2 limit files take `max` for "no limit".
pub fn limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// OCI `memory.swap` is memory+swap (v1's `memsw`); v2's `memory.swap.max` is swap alone.
/// Returns the value to write, or `None` when nothing should be written (runc's rules).
pub fn swap_max(swap: i64, memory: i64) -> Result<Option<String>, String> {
    // Memory unlimited and swap not given: unlimit swap too, as v1 would.
    if memory == -1 && swap == 0 {
        return Ok(Some("max".into()));
    }
    match swap {
        0 => return Ok(None),
        -1 => return Ok(Some("max".into())),
        s if s < 0 => return Err(format!("swap {s} is negative (use -1 for unlimited)")),
        _ => {}
    }
    if memory == 0 || memory == -1 {
        return Err("a swap limit needs a memory limit (linux.resources.memory.limit)".into());
    }
    if swap < memory {
        return Err(format!(
            "swap {swap} is memory+swap and must be at least the memory limit {memory}"
        ));
    }
    Ok(Some((swap - memory).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_weight_matches_runc_and_crun() {
        assert_eq!(cpu_weight(0), 0);
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(1024), 100);
        // Figures from runc's changelog / issue #4896 and youki's port of it.
        assert_eq!(cpu_weight(2000), 170);
        assert_eq!(cpu_weight(22000), 1204);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(cpu_weight(1 << 30), 10_000);
    }

    #[test]
    fn io_weight_linear() {
        assert_eq!(io_weight(0), 0);
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(500), 1 + 490 * 9999 / 990);
        assert_eq!(io_weight(1000), 10_000);
        assert_eq!(io_weight(1), 1, "below the v1 range clamps");
    }

    #[test]
    fn swap_semantics() {
        assert_eq!(swap_max(0, -1).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_max(0, 100).unwrap(), None);
        assert_eq!(swap_max(-1, 100).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_max(300, 100).unwrap().as_deref(), Some("200"));
        assert_eq!(swap_max(100, 100).unwrap().as_deref(), Some("0"));
        assert!(swap_max(50, 100).unwrap_err().contains("at least"));
        assert!(swap_max(50, 0)
            .unwrap_err()
            .contains("needs a memory limit"));
        assert_eq!(limit(-1), "max");
        assert_eq!(limit(4096), "4096");
    }
}
