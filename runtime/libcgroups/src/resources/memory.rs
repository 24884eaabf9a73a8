//! Memory rules (v1 names; v2 in `memory_v2`): limit, reservation, memory+swap, swappiness, OOM killer and the
//! deprecated kernel-memory limits.
//!
//! The spec's `swap` is the memory+swap limit, written to memory.memsw.limit_in_bytes. The
//! kernel insists that memsw stays >= limit at every moment, so the order of the two writes
//! depends on the current limit: when the new memsw is above it (or unlimited), memsw goes
//! first; otherwise the limit goes first.

use oci_spec::runtime::LinuxMemory;

use super::{memory_v2, need, Controller, Placement, Probe, Write};
use crate::CgroupError;

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";
const KMEM: &str = "memory.kmem.limit_in_bytes";
const KMEM_TCP: &str = "memory.kmem.tcp.limit_in_bytes";

pub(super) fn translate(m: &LinuxMemory, probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let set = m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.kernel().is_some()
        || m.kernel_tcp().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true);
    if !set {
        return Ok(());
    }
    if let Some(s) = m.swappiness().filter(|s| *s > 100) {
        return Err(CgroupError::InvalidResource {
            field: "linux.resources.memory.swappiness".into(),
            value: s.to_string(),
            reason: "must be between 0 and 100",
        });
    }
    if let (Some(l), Some(s)) = (m.limit(), m.swap()) {
        if l > 0 && s > 0 && s < l {
            return Err(CgroupError::InvalidResource {
                field: "linux.resources.memory.swap".into(),
                value: s.to_string(),
                reason: "memory+swap must not be lower than the memory limit",
            });
        }
    }
    match need(probe, Controller::Memory)? {
        Some(Placement::V1) => {}
        Some(Placement::V2) => return memory_v2::translate(m, probe, out),
        _ => return Ok(()),
    }
    let w = |file: &str, value: i64| Write::new(Controller::Memory, file, value);

    let has_memsw = probe.exists(Controller::Memory, MEMSW);
    let mut swap = m.swap();
    if swap.is_some() && !has_memsw {
        tracing::warn!("swap limit requested but {MEMSW} does not exist (swap accounting off); ignoring it");
        swap = None;
    }
    // An unlimited memory limit lifts memory+swap too, unless the spec says otherwise.
    if m.limit() == Some(-1) && swap.is_none() && has_memsw {
        swap = Some(-1);
    }
    match (m.limit(), swap) {
        (Some(limit), Some(swap)) => {
            let current = probe.read(Controller::Memory, LIMIT).and_then(|v| v.trim().parse::<u64>().ok());
            let raising = swap == -1 || current.is_some_and(|c| u64::try_from(swap).is_ok_and(|s| c < s));
            if raising {
                out.push(w(MEMSW, swap));
                out.push(w(LIMIT, limit));
            } else {
                out.push(w(LIMIT, limit));
                out.push(w(MEMSW, swap));
            }
        }
        (Some(limit), None) => out.push(w(LIMIT, limit)),
        (None, Some(swap)) => out.push(w(MEMSW, swap)),
        (None, None) => {}
    }
    if let Some(r) = m.reservation() {
        out.push(w("memory.soft_limit_in_bytes", r));
    }
    for (value, file) in [(m.kernel(), KMEM), (m.kernel_tcp(), KMEM_TCP)] {
        let Some(value) = value else { continue };
        if probe.exists(Controller::Memory, file) {
            out.push(w(file, value));
        } else {
            tracing::warn!("{file} does not exist on this kernel; ignoring the kernel memory limit");
        }
    }
    if let Some(s) = m.swappiness() {
        out.push(Write::new(Controller::Memory, "memory.swappiness", s));
    }
    if m.disable_oom_killer() == Some(true) {
        out.push(Write::new(Controller::Memory, "memory.oom_control", 1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::*;

    fn mem(json: &str, probe: &FakeProbe) -> Result<Vec<(String, String)>, CgroupError> {
        file_values("memory", json, probe)
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        owned(pairs)
    }

    fn with_memsw(current_limit: &str) -> FakeProbe {
        FakeProbe::v1().file(Controller::Memory, MEMSW).content(Controller::Memory, LIMIT, current_limit)
    }

    #[test]
    fn limit_and_reservation() {
        assert_eq!(
            mem(r#"{"limit":67108864,"reservation":33554432}"#, &FakeProbe::v1()).unwrap(),
            p(&[(LIMIT, "67108864"), ("memory.soft_limit_in_bytes", "33554432")])
        );
    }

    #[test]
    fn swap_is_memory_plus_swap_and_goes_first_when_raising() {
        assert_eq!(mem(r#"{"limit":200,"swap":300}"#, &with_memsw("100\n")).unwrap(), p(&[(MEMSW, "300"), (LIMIT, "200")]));
    }

    #[test]
    fn limit_goes_first_when_lowering() {
        assert_eq!(mem(r#"{"limit":100,"swap":150}"#, &with_memsw("300\n")).unwrap(), p(&[(LIMIT, "100"), (MEMSW, "150")]));
    }

    #[test]
    fn limit_goes_first_in_a_fresh_cgroup() {
        assert_eq!(mem(r#"{"limit":100,"swap":150}"#, &with_memsw("9223372036854771712\n")).unwrap(), p(&[(LIMIT, "100"), (MEMSW, "150")]));
    }

    #[test]
    fn unlimited_swap_goes_first() {
        assert_eq!(mem(r#"{"limit":100,"swap":-1}"#, &with_memsw("300")).unwrap(), p(&[(MEMSW, "-1"), (LIMIT, "100")]));
    }

    #[test]
    fn unlimited_memory_lifts_memsw_too() {
        assert_eq!(mem(r#"{"limit":-1}"#, &with_memsw("300")).unwrap(), p(&[(MEMSW, "-1"), (LIMIT, "-1")]));
        // Without swap accounting only the limit is written.
        assert_eq!(mem(r#"{"limit":-1}"#, &FakeProbe::v1()).unwrap(), p(&[(LIMIT, "-1")]));
    }

    #[test]
    fn swap_alone() {
        assert_eq!(mem(r#"{"swap":300}"#, &with_memsw("100")).unwrap(), p(&[(MEMSW, "300")]));
    }

    #[test]
    fn swap_is_ignored_without_memsw_files() {
        assert_eq!(mem(r#"{"limit":200,"swap":300}"#, &FakeProbe::v1()).unwrap(), p(&[(LIMIT, "200")]));
    }

    #[test]
    fn rejects_swap_below_limit() {
        assert_eq!(
            mem(r#"{"limit":200,"swap":100}"#, &with_memsw("1")).unwrap_err().to_string(),
            "invalid linux.resources.memory.swap 100: memory+swap must not be lower than the memory limit"
        );
    }

    #[test]
    fn swappiness_in_range() {
        assert_eq!(mem(r#"{"swappiness":0}"#, &FakeProbe::v1()).unwrap(), p(&[("memory.swappiness", "0")]));
        assert_eq!(mem(r#"{"swappiness":100}"#, &FakeProbe::v1()).unwrap(), p(&[("memory.swappiness", "100")]));
    }

    #[test]
    fn rejects_swappiness_above_100() {
        assert_eq!(
            mem(r#"{"swappiness":101}"#, &FakeProbe::v1()).unwrap_err().to_string(),
            "invalid linux.resources.memory.swappiness 101: must be between 0 and 100"
        );
    }

    #[test]
    fn disable_oom_killer() {
        assert_eq!(mem(r#"{"disableOOMKiller":true}"#, &FakeProbe::v1()).unwrap(), p(&[("memory.oom_control", "1")]));
        assert!(mem(r#"{"disableOOMKiller":false}"#, &FakeProbe::v1()).unwrap().is_empty());
    }

    #[test]
    fn kernel_limits_only_where_the_files_exist() {
        let json = r#"{"kernel":1000,"kernelTCP":2000}"#;
        assert!(mem(json, &FakeProbe::v1()).unwrap().is_empty());
        let probe = FakeProbe::v1().file(Controller::Memory, KMEM).file(Controller::Memory, KMEM_TCP);
        assert_eq!(mem(json, &probe).unwrap(), p(&[(KMEM, "1000"), (KMEM_TCP, "2000")]));
    }

    #[test]
    fn memory_needs_its_controller_only_when_something_is_set() {
        let none = FakeProbe::default();
        assert!(mem("{}", &none).unwrap().is_empty());
        assert_eq!(mem(r#"{"limit":1}"#, &none).unwrap_err().to_string(), "cgroup controller \"memory\" is not mounted");
    }
}
