//! CPU rules: the cpuset part (cpus, mems; the same files on v1 and v2) and the cpu part
//! (shares, CFS quota, period and burst, realtime runtime and period, idle).
//!
//! As in runc, a zero value means "not set" for shares, quota, period and the realtime
//! values, and empty cpus/mems strings are not written. On cgroup v2, shares become
//! cpu.weight with runc's linear map of [2, 262144] onto [1, 10000], quota and period share
//! cpu.max ("max" for no quota), burst goes to cpu.max.burst, and realtime values are
//! refused: the v2 cpu controller has no realtime bandwidth.

use oci_spec::runtime::LinuxCpu;

use super::{need, Controller, Placement, Probe, Write};
use crate::CgroupError;

pub(super) fn cpuset(c: &LinuxCpu, probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if (cpus.is_none() && mems.is_none()) || need(probe, Controller::Cpuset)?.is_none() {
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

pub(super) fn cpu(c: &LinuxCpu, probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let nonzero = |v: Option<i64>| v.is_some_and(|v| v != 0);
    let set = nonzero(c.shares().map(|v| v as i64))
        || nonzero(c.period().map(|v| v as i64))
        || nonzero(c.quota())
        || nonzero(c.realtime_period().map(|v| v as i64))
        || nonzero(c.realtime_runtime())
        || c.burst().is_some()
        || c.idle().is_some();
    if !set {
        return Ok(());
    }
    match need(probe, Controller::Cpu)? {
        None | Some(Placement::Absent) => Ok(()),
        Some(Placement::V2) => cpu_v2(c, probe, out),
        Some(Placement::V1) => {
            cpu_v1(c, probe, out);
            Ok(())
        }
    }
}

fn cpu_v1(c: &LinuxCpu, probe: &dyn Probe, out: &mut Vec<Write>) {
    let shares = c.shares().filter(|v| *v != 0);
    let period = c.period().filter(|v| *v != 0);
    let quota = c.quota().filter(|v| *v != 0);
    let rt_period = c.realtime_period().filter(|v| *v != 0);
    let rt_runtime = c.realtime_runtime().filter(|v| *v != 0);
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
}

fn cpu_v2(c: &LinuxCpu, probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    for (name, value) in [("realtimeRuntime", c.realtime_runtime()), ("realtimePeriod", c.realtime_period().map(|v| v as i64))] {
        if let Some(v) = value.filter(|v| *v != 0) {
            return Err(CgroupError::InvalidResource {
                field: format!("linux.resources.cpu.{name}"),
                value: v.to_string(),
                reason: "cgroup v2 has no realtime bandwidth control",
            });
        }
    }
    if let Some(shares) = c.shares().filter(|v| *v != 0) {
        out.push(Write::new(Controller::Cpu, "cpu.weight", shares_to_weight(shares)));
    }
    if let Some(max) = cpu_max(c.quota(), c.period()) {
        out.push(Write::new(Controller::Cpu, "cpu.max", max));
    }
    if let Some(v) = c.burst() {
        optional(probe, out, "cpu.max.burst", v.to_string(), v != 0);
    }
    if let Some(v) = c.idle() {
        optional(probe, out, "cpu.idle", v.to_string(), v != 0);
    }
    Ok(())
}

/// cpu.weight for v1 cpu.shares, as runc maps them: shares in [2, 262144] onto [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// The cpu.max line for a quota and period, or `None` when neither is set: "max" stands for
/// no quota, and the period is left out (kept as it is) when not given.
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.filter(|q| *q != 0);
    let period = period.filter(|p| *p != 0);
    if quota.is_none() && period.is_none() {
        return None;
    }
    let mut line = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_string(),
    };
    if let Some(p) = period {
        line.push_str(&format!(" {p}"));
    }
    Some(line)
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
        translate(&r, probe).unwrap().into_iter().map(|w| (w.controller, w.file, w.value)).collect()
    }

    fn cpu(pairs: &[(&str, &str)]) -> Vec<(Controller, String, String)> {
        pairs.iter().map(|(f, v)| (Controller::Cpu, f.to_string(), v.to_string())).collect()
    }

    #[test]
    fn shares_period_quota_in_order() {
        assert_eq!(
            cpu_writes(r#"{"quota":50000,"period":100000,"shares":512}"#, &FakeProbe::v1()),
            cpu(&[("cpu.shares", "512"), ("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "50000")])
        );
    }

    #[test]
    fn unlimited_quota() {
        assert_eq!(cpu_writes(r#"{"quota":-1}"#, &FakeProbe::v1()), cpu(&[("cpu.cfs_quota_us", "-1")]));
    }

    #[test]
    fn zero_means_unset() {
        assert!(cpu_writes(r#"{"shares":0,"quota":0,"period":0,"realtimeRuntime":0}"#, &FakeProbe::v1()).is_empty());
    }

    #[test]
    fn realtime_period_before_runtime() {
        assert_eq!(
            cpu_writes(r#"{"realtimeRuntime":950000,"realtimePeriod":1000000}"#, &FakeProbe::v1()),
            cpu(&[("cpu.rt_period_us", "1000000"), ("cpu.rt_runtime_us", "950000")])
        );
    }

    #[test]
    fn idle_and_burst_where_the_files_exist() {
        let json = r#"{"idle":1,"burst":1000}"#;
        assert!(cpu_writes(json, &FakeProbe::v1()).is_empty());
        let probe = FakeProbe::v1().file(Controller::Cpu, "cpu.idle").file(Controller::Cpu, "cpu.cfs_burst_us");
        assert_eq!(cpu_writes(json, &probe), cpu(&[("cpu.cfs_burst_us", "1000"), ("cpu.idle", "1")]));
    }

    #[test]
    fn cpus_and_mems_go_to_cpuset() {
        assert_eq!(
            cpu_writes(r#"{"cpus":"0-1","mems":"0"}"#, &FakeProbe::v1()),
            vec![
                (Controller::Cpuset, "cpuset.cpus".to_string(), "0-1".to_string()),
                (Controller::Cpuset, "cpuset.mems".to_string(), "0".to_string()),
            ]
        );
        assert!(cpu_writes(r#"{"cpus":"","mems":""}"#, &FakeProbe::v1()).is_empty());
    }

    #[test]
    fn cpuset_needs_its_own_controller() {
        let probe = FakeProbe::default().with(Controller::Cpu, crate::Placement::V1);
        let r = res(r#"{"cpu":{"cpus":"0"}}"#);
        assert_eq!(translate(&r, &probe).unwrap_err().to_string(), "cgroup controller \"cpuset\" is not mounted");
    }

    fn v2() -> FakeProbe {
        FakeProbe::default().with(Controller::Cpu, Placement::V2).with(Controller::Cpuset, Placement::V2)
    }

    #[test]
    fn v2_shares_become_weight_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1 << 30), 10_000);
        assert_eq!(cpu_writes(r#"{"shares":512}"#, &v2()), cpu(&[("cpu.weight", "20")]));
    }

    #[test]
    fn v2_quota_and_period_share_cpu_max() {
        assert_eq!(cpu_max(Some(50_000), Some(100_000)).as_deref(), Some("50000 100000"));
        assert_eq!(cpu_max(Some(-1), None).as_deref(), Some("max"));
        assert_eq!(cpu_max(None, Some(20_000)).as_deref(), Some("max 20000"));
        assert_eq!(cpu_max(Some(30_000), None).as_deref(), Some("30000"));
        assert_eq!(cpu_max(Some(0), Some(0)), None);
        assert_eq!(
            cpu_writes(r#"{"quota":50000,"period":100000,"shares":1024}"#, &v2()),
            cpu(&[("cpu.weight", "39"), ("cpu.max", "50000 100000")])
        );
    }

    #[test]
    fn v2_burst_and_idle_where_the_files_exist() {
        let probe = v2().file(Controller::Cpu, "cpu.max.burst").file(Controller::Cpu, "cpu.idle");
        assert_eq!(cpu_writes(r#"{"burst":1000,"idle":1}"#, &probe), cpu(&[("cpu.max.burst", "1000"), ("cpu.idle", "1")]));
    }

    #[test]
    fn v2_refuses_realtime_values() {
        let r = res(r#"{"cpu":{"realtimeRuntime":1000}}"#);
        assert_eq!(
            translate(&r, &v2()).unwrap_err().to_string(),
            "invalid linux.resources.cpu.realtimeRuntime 1000: cgroup v2 has no realtime bandwidth control"
        );
    }

    #[test]
    fn v2_cpuset_keeps_its_file_names() {
        let w = cpu_writes(r#"{"cpus":"0","mems":"0"}"#, &v2());
        assert_eq!(w[0].1, "cpuset.cpus");
        assert_eq!(w[1].1, "cpuset.mems");
    }
}
