//! Transient unit properties: the ones every container scope gets, and the resources that
//! systemd itself can manage, converted the way runc converts them. Whatever has no
//! property here (unified keys, hugetlb, rdma, io throttles, burst, idle, devices) is
//! written straight into the delegated cgroup by the v2 rules afterwards.

use oci_spec::runtime::LinuxResources;

use crate::resources::{blkio_weight_to_io, shares_to_weight, swap_max};
use crate::CgroupError;

/// A D-Bus value of a unit property, before it becomes a zbus value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prop {
    U64(u64),
    Bool(bool),
    Str(String),
    /// "ay": a CPU or NUMA node bitmask.
    Bytes(Vec<u8>),
    /// "au": process ids.
    Pids(Vec<u32>),
}

pub type Props = Vec<(&'static str, Prop)>;

/// The properties of a new scope holding `pid`.
pub fn scope(slice: &str, description: &str, pid: u32) -> Props {
    vec![
        ("Description", Prop::Str(description.to_string())),
        ("Slice", Prop::Str(slice.to_string())),
        ("Delegate", Prop::Bool(true)),
        ("PIDs", Prop::Pids(vec![pid])),
        ("DefaultDependencies", Prop::Bool(false)),
        ("MemoryAccounting", Prop::Bool(true)),
        ("CPUAccounting", Prop::Bool(true)),
        ("IOAccounting", Prop::Bool(true)),
        ("TasksAccounting", Prop::Bool(true)),
    ]
}

/// A limit where a negative value means "no limit" (u64::MAX is systemd's infinity).
fn limit(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The resource properties for `r`.
pub fn resources(r: &LinuxResources) -> Result<Props, CgroupError> {
    let mut out: Props = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(v) = m.limit().filter(|v| *v != 0) {
            out.push(("MemoryMax", Prop::U64(limit(v))));
        }
        if let Some(v) = m.reservation().filter(|v| *v != 0) {
            out.push(("MemoryLow", Prop::U64(limit(v))));
        }
        if let Some(swap) = swap_max(m.limit(), m.swap())? {
            out.push(("MemorySwapMax", Prop::U64(swap.parse().unwrap_or(u64::MAX))));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares().filter(|v| *v != 0) {
            out.push(("CPUWeight", Prop::U64(shares_to_weight(shares))));
        }
        let period = c.period().filter(|p| *p != 0);
        if let Some(p) = period {
            out.push(("CPUQuotaPeriodUSec", Prop::U64(p)));
        }
        if let Some(q) = c.quota().filter(|q| *q != 0) {
            out.push(("CPUQuotaPerSecUSec", Prop::U64(quota_per_sec(q, period.unwrap_or(100_000)))));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            out.push(("AllowedCPUs", Prop::Bytes(bitmask("linux.resources.cpu.cpus", cpus)?)));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            out.push(("AllowedMemoryNodes", Prop::Bytes(bitmask("linux.resources.cpu.mems", mems)?)));
        }
    }
    if let Some(p) = r.pids() {
        out.push(("TasksMax", Prop::U64(if p.limit() > 0 { p.limit() as u64 } else { u64::MAX })));
    }
    if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()).filter(|w| *w != 0) {
        out.push(("IOWeight", Prop::U64(blkio_weight_to_io(w))));
    }
    Ok(out)
}

/// systemd's per-second CPU quota for a CFS quota and period: a negative quota is no limit;
/// otherwise rounded up to whole percents (10 ms per second), as systemd stores it.
pub fn quota_per_sec(quota: i64, period: u64) -> u64 {
    let Ok(q) = u64::try_from(quota) else { return u64::MAX };
    let per_sec = q.saturating_mul(1_000_000) / period.max(1);
    per_sec.div_ceil(10_000) * 10_000
}

/// "0-3,6" as a little-endian bitmask of bytes: bit i of byte j is CPU 8j+i.
pub fn bitmask(field: &str, list: &str) -> Result<Vec<u8>, CgroupError> {
    let invalid =
        || CgroupError::InvalidResource { field: field.to_string(), value: format!("{list:?}"), reason: "expected a list like 0-3,6" };
    let mut out: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().map_err(|_| invalid())?, b.parse::<usize>().map_err(|_| invalid())?),
            None => {
                let n = part.parse::<usize>().map_err(|_| invalid())?;
                (n, n)
            }
        };
        if lo > hi || hi >= 8192 {
            return Err(invalid());
        }
        for bit in lo..=hi {
            if out.len() <= bit / 8 {
                out.resize(bit / 8 + 1, 0);
            }
            out[bit / 8] |= 1 << (bit % 8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(json: &str) -> Props {
        resources(&serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn memory_cpu_pids_io() {
        let p = props(
            r#"{"memory":{"limit":1048576,"swap":2097152,"reservation":4096},
            "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0-1","mems":"0"},
            "pids":{"limit":100},"blockIO":{"weight":500}}"#,
        );
        assert_eq!(
            p,
            vec![
                ("MemoryMax", Prop::U64(1_048_576)),
                ("MemoryLow", Prop::U64(4096)),
                ("MemorySwapMax", Prop::U64(1_048_576)),
                ("CPUWeight", Prop::U64(39)),
                ("CPUQuotaPeriodUSec", Prop::U64(100_000)),
                ("CPUQuotaPerSecUSec", Prop::U64(500_000)),
                ("AllowedCPUs", Prop::Bytes(vec![0b11])),
                ("AllowedMemoryNodes", Prop::Bytes(vec![1])),
                ("TasksMax", Prop::U64(100)),
                ("IOWeight", Prop::U64(4950)),
            ]
        );
    }

    #[test]
    fn unlimited_values_are_infinity() {
        let p = props(r#"{"memory":{"limit":-1},"cpu":{"quota":-1},"pids":{"limit":0}}"#);
        assert_eq!(
            p,
            vec![
                ("MemoryMax", Prop::U64(u64::MAX)),
                ("MemorySwapMax", Prop::U64(u64::MAX)),
                ("CPUQuotaPerSecUSec", Prop::U64(u64::MAX)),
                ("TasksMax", Prop::U64(u64::MAX)),
            ]
        );
    }

    #[test]
    fn quota_rounds_up_to_whole_percents() {
        assert_eq!(quota_per_sec(50_000, 100_000), 500_000);
        assert_eq!(quota_per_sec(12_345, 100_000), 130_000);
        assert_eq!(quota_per_sec(1, 1_000_000), 10_000);
    }

    #[test]
    fn bitmasks() {
        assert_eq!(bitmask("f", "0").unwrap(), vec![1]);
        assert_eq!(bitmask("f", "0-3,9").unwrap(), vec![0x0f, 0x02]);
        assert_eq!(
            bitmask("linux.resources.cpu.cpus", "3-1").unwrap_err().to_string(),
            "invalid linux.resources.cpu.cpus \"3-1\": expected a list like 0-3,6"
        );
        assert!(bitmask("f", "a").is_err());
    }

    #[test]
    fn scope_properties_delegate_and_carry_the_pid() {
        let p = scope("system.slice", "youki container abc", 42);
        assert!(p.contains(&("Delegate", Prop::Bool(true))));
        assert!(p.contains(&("PIDs", Prop::Pids(vec![42]))));
    }
}
