//! CPU rules (v1 names): the cpuset part (cpus, mems) and the cpu part (shares, CFS quota,
//! period and burst, realtime runtime and period, idle).
//!
//! As in runc, a zero value means "not set" for shares, quota, period and the realtime
//! values, and empty cpus/mems strings are not written.

use oci_spec::runtime::LinuxCpu;

use super::{need_v1, Controller, Probe, Write};
use crate::CgroupError;

pub(super) fn cpuset(
    c: &LinuxCpu,
    probe: &dyn Probe,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if (cpus.is_none() && mems.is_none()) || !need_v1(probe, Controller::Cpuset)? {
        return Ok(());
    }
    if let Some(cpus) = cpus {
        out.push(Write::new(Controller::Cpuset, "cpuset.cpus", cpus));
    }
    if let Some(mems) = mems {
        out.push(Write::new(Controller::Cpuset, "cpuset.mems", mems));
    }
    Ok(())
}

pub(super) fn cpu(
    c: &LinuxCpu,
    probe: &dyn Probe,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    let shares = c.shares().filter(|v| *v != 0);
    let period = c.period().filter(|v| *v != 0);
    let quota = c.quota().filter(|v| *v != 0);
    let rt_period = c.realtime_period().filter(|v| *v != 0);
    let rt_runtime = c.realtime_runtime().filter(|v| *v != 0);
    let set = shares.is_some()
        || period.is_some()
        || quota.is_some()
        || c.burst().is_some()
        || rt_period.is_some()
        || rt_runtime.is_some()
        || c.idle().is_some();
    if !set || !need_v1(probe, Controller::Cpu)? {
        return Ok(());
    }
    let w = |file: &str, value: String| Write::new(Controller::Cpu, file, value);
    if let Some(v) = shares {
        out.push(w("cpu.shares", v.to_string()));
    }
    // Period before quota: the quota is checked against the period in force.
    if let Some(v) = period {
        out.push(w("cpu.cfs_period_us", v.to_string()));
    }
    if let Some(v) = quota {
        out.push(w("cpu.cfs_quota_us", v.to_string()));
    }
    if let Some(v) = c.burst() {
        optional(probe, out, "cpu.cfs_burst_us", v.to_string(), v != 0);
    }
    // Realtime period before runtime, for the same reason.
    if let Some(v) = rt_period {
        out.push(w("cpu.rt_period_us", v.to_string()));
    }
    if let Some(v) = rt_runtime {
        out.push(w("cpu.rt_runtime_us", v.to_string()));
    }
    if let Some(v) = c.idle() {
        optional(probe, out, "cpu.idle", v.to_string(), v != 0);
    }
    Ok(())
}

/// Writes `file` when the kernel has it; otherwise warns if the value asked for a change.
fn optional(probe: &dyn Probe, out: &mut Vec<Write>, file: &str, value: String, matters: bool) {
    if probe.exists(Controller::Cpu, file) {
        out.push(Write::new(Controller::Cpu, file, value));
    } else if matters {
        tracing::warn!("{file} does not exist on this kernel; ignoring it");
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::super::translate;
    use super::*;

    fn cpu_writes(json: &str, probe: &FakeProbe) -> Vec<(Controller, String, String)> {
        let r = res(&format!(r#"{{"cpu":{json}}}"#));
        translate(&r, probe)
            .unwrap()
            .into_iter()
            .map(|w| (w.controller, w.file, w.value))
            .collect()
    }

    fn cpu(pairs: &[(&str, &str)]) -> Vec<(Controller, String, String)> {
        pairs
            .iter()
            .map(|(f, v)| (Controller::Cpu, f.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn shares_period_quota_in_order() {
        assert_eq!(
            cpu_writes(
                r#"{"quota":50000,"period":100000,"shares":512}"#,
                &FakeProbe::v1()
            ),
            cpu(&[
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000")
            ])
        );
    }

    #[test]
    fn unlimited_quota() {
        assert_eq!(
            cpu_writes(r#"{"quota":-1}"#, &FakeProbe::v1()),
            cpu(&[("cpu.cfs_quota_us", "-1")])
        );
    }

    #[test]
    fn zero_means_unset() {
        assert!(cpu_writes(
            r#"{"shares":0,"quota":0,"period":0,"realtimeRuntime":0}"#,
            &FakeProbe::v1()
        )
        .is_empty());
    }

    #[test]
    fn realtime_period_before_runtime() {
        assert_eq!(
            cpu_writes(
                r#"{"realtimeRuntime":950000,"realtimePeriod":1000000}"#,
                &FakeProbe::v1()
            ),
            cpu(&[
                ("cpu.rt_period_us", "1000000"),
                ("cpu.rt_runtime_us", "950000")
            ])
        );
    }

    #[test]
    fn idle_and_burst_where_the_files_exist() {
        let json = r#"{"idle":1,"burst":1000}"#;
        assert!(cpu_writes(json, &FakeProbe::v1()).is_empty());
        let probe = FakeProbe::v1()
            .file(Controller::Cpu, "cpu.idle")
            .file(Controller::Cpu, "cpu.cfs_burst_us");
        assert_eq!(
            cpu_writes(json, &probe),
            cpu(&[("cpu.cfs_burst_us", "1000"), ("cpu.idle", "1")])
        );
    }

    #[test]
    fn cpus_and_mems_go_to_cpuset() {
        assert_eq!(
            cpu_writes(r#"{"cpus":"0-1","mems":"0"}"#, &FakeProbe::v1()),
            vec![
                (
                    Controller::Cpuset,
                    "cpuset.cpus".to_string(),
                    "0-1".to_string()
                ),
                (
                    Controller::Cpuset,
                    "cpuset.mems".to_string(),
                    "0".to_string()
                ),
            ]
        );
        assert!(cpu_writes(r#"{"cpus":"","mems":""}"#, &FakeProbe::v1()).is_empty());
    }

    #[test]
    fn cpuset_needs_its_own_controller() {
        let probe = FakeProbe::default().with(Controller::Cpu, crate::Placement::V1);
        let r = res(r#"{"cpu":{"cpus":"0"}}"#);
        assert_eq!(
            translate(&r, &probe).unwrap_err().to_string(),
            "cgroup controller \"cpuset\" is not mounted"
        );
    }
}
