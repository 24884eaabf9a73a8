//! Memory rules on cgroup v2: memory.max, memory.low and memory.swap.max.
//!
//! The spec's `swap` is memory+swap (a v1 notion); v2 limits swap alone, so memory.swap.max
//! gets `swap - limit`, with runc's special cases: an unlimited limit without a swap value
//! lifts swap too, -1 stays "max", and a swap value needs a real memory limit beside it.
//! The v1-only knobs (kernel memory, swappiness, the OOM killer switch) have no v2 file and
//! are ignored with a warning; memory.high and memory.oom.group come through `unified`.

use oci_spec::runtime::LinuxMemory;

use super::{Controller, Probe, Write};
use crate::CgroupError;

const SWAP: &str = "memory.swap.max";

pub(super) fn translate(m: &LinuxMemory, probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let w = |file: &str, value: String| Write::new(Controller::Memory, file, value);
    if let Some(swap) = swap_max(m.limit(), m.swap())? {
        if probe.exists(Controller::Memory, SWAP) {
            out.push(w(SWAP, swap));
        } else if swap != "max" && swap != "0" {
            tracing::warn!("swap limit requested but {SWAP} does not exist (swap accounting off); ignoring it");
        }
    }
    if let Some(v) = m.limit().and_then(v2_value) {
        out.push(w("memory.max", v));
    }
    if let Some(v) = m.reservation().and_then(v2_value) {
        out.push(w("memory.low", v));
    }
    let ignored = [
        ("kernel", m.kernel().is_some()),
        ("kernelTCP", m.kernel_tcp().is_some()),
        ("swappiness", m.swappiness().is_some()),
        ("disableOOMKiller", m.disable_oom_killer() == Some(true)),
    ];
    for (field, set) in ignored {
        if set {
            tracing::warn!("linux.resources.memory.{field} has no cgroup v2 equivalent; ignoring it");
        }
    }
    Ok(())
}

/// A v2 control-file value: 0 is "not set", a negative number is "max".
fn v2_value(v: i64) -> Option<String> {
    match v {
        0 => None,
        v if v < 0 => Some("max".to_string()),
        v => Some(v.to_string()),
    }
}

/// The memory.swap.max value for the spec's memory limit and memory+swap limit, or `None`
/// when swap is left as it is.
pub fn swap_max(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>, CgroupError> {
    let limit = limit.unwrap_or(0);
    let invalid =
        |reason| CgroupError::InvalidResource { field: "linux.resources.memory.swap".into(), value: swap.unwrap_or(0).to_string(), reason };
    match swap.unwrap_or(0) {
        0 if limit == -1 => Ok(Some("max".to_string())),
        0 => Ok(None),
        -1 => Ok(Some("max".to_string())),
        s if s < 0 => Err(invalid("must be -1 (unlimited) or a positive number of bytes")),
        _ if limit <= 0 => Err(invalid("a swap limit needs a memory limit on cgroup v2")),
        s if s < limit => Err(invalid("memory+swap must not be lower than the memory limit")),
        s => Ok(Some((s - limit).to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::super::Placement;
    use super::*;

    fn v2(with_swap: bool) -> FakeProbe {
        let p = FakeProbe::default().with(Controller::Memory, Placement::V2);
        if with_swap {
            p.file(Controller::Memory, SWAP)
        } else {
            p
        }
    }

    fn mem(json: &str, probe: &FakeProbe) -> Result<Vec<(String, String)>, CgroupError> {
        file_values("memory", json, probe)
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        owned(pairs)
    }

    #[test]
    fn swap_is_converted_the_way_runc_does() {
        let s = |l, s| swap_max(l, s).map(|v| v.unwrap_or_default());
        assert_eq!(s(Some(100), Some(300)).unwrap(), "200");
        assert_eq!(s(Some(100), Some(100)).unwrap(), "0");
        assert_eq!(s(Some(100), Some(-1)).unwrap(), "max");
        assert_eq!(s(Some(-1), None).unwrap(), "max");
        assert_eq!(s(Some(100), None).unwrap(), "");
        assert_eq!(
            s(None, Some(300)).unwrap_err().to_string(),
            "invalid linux.resources.memory.swap 300: a swap limit needs a memory limit on cgroup v2"
        );
        assert_eq!(
            s(Some(-1), Some(300)).unwrap_err().to_string(),
            "invalid linux.resources.memory.swap 300: a swap limit needs a memory limit on cgroup v2"
        );
    }

    #[test]
    fn limit_swap_and_low() {
        assert_eq!(
            mem(r#"{"limit":1048576,"swap":3145728,"reservation":524288}"#, &v2(true)).unwrap(),
            p(&[("memory.swap.max", "2097152"), ("memory.max", "1048576"), ("memory.low", "524288")])
        );
        assert_eq!(mem(r#"{"limit":-1}"#, &v2(true)).unwrap(), p(&[("memory.swap.max", "max"), ("memory.max", "max")]));
    }

    #[test]
    fn swap_without_accounting_is_skipped() {
        assert_eq!(mem(r#"{"limit":1048576,"swap":3145728}"#, &v2(false)).unwrap(), p(&[("memory.max", "1048576")]));
    }

    #[test]
    fn v1_only_knobs_write_nothing() {
        assert!(mem(r#"{"kernel":1000,"kernelTCP":1000,"swappiness":10,"disableOOMKiller":true}"#, &v2(true)).unwrap().is_empty());
    }

    #[test]
    fn the_common_checks_still_apply() {
        assert_eq!(
            mem(r#"{"limit":2000,"swap":1000}"#, &v2(true)).unwrap_err().to_string(),
            "invalid linux.resources.memory.swap 1000: memory+swap must not be lower than the memory limit"
        );
    }
}
