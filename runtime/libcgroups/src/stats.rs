//! Resource usage of a container's cgroup, in the shape of runc's `events --stats` data.
//! The parsers are pure; `read_v1` reads the files of each controller's directory.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct CpuUsage {
    pub total: u64,
    pub percpu: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Throttling {
    pub periods: u64,
    #[serde(rename = "throttledPeriods")]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct CpuStats {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct MemoryStats {
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct PidsStats {
    pub current: u64,
    pub limit: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct BlkioStats {
    #[serde(rename = "ioServiceBytesRecursive")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct HugetlbStats {
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

/// A number from a cgroup file; "max" is u64::MAX.
pub fn parse_u64(s: &str) -> u64 {
    let t = s.trim();
    if t == "max" {
        return u64::MAX;
    }
    t.parse().unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat).
pub fn parse_flat_keyed(s: &str) -> BTreeMap<String, u64> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// blkio `MAJ:MIN Op value` lines; the `Total` line is dropped.
pub fn parse_blkio(s: &str) -> Vec<BlkioEntry> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                return None;
            }
            let (maj, min) = f[0].split_once(':')?;
            Some(BlkioEntry { major: maj.parse().ok()?, minor: min.parse().ok()?, op: f[1].to_string(), value: f[2].parse().ok()? })
        })
        .collect()
}

pub(crate) fn read(dir: &Path, file: &str) -> Option<String> {
    crate::files::read_text(dir.join(file)).ok()
}

pub(crate) fn num(dir: &Path, file: &str) -> u64 {
    read(dir, file).map(|s| parse_u64(&s)).unwrap_or(0)
}

fn memory_entry(dir: &Path, prefix: &str) -> MemoryEntry {
    MemoryEntry {
        limit: num(dir, &format!("{prefix}.limit_in_bytes")),
        usage: num(dir, &format!("{prefix}.usage_in_bytes")),
        max: num(dir, &format!("{prefix}.max_usage_in_bytes")),
        failcnt: num(dir, &format!("{prefix}.failcnt")),
    }
}

/// Directories of each v1 controller (None when not mounted); the v2 hugetlb dir in hybrid.
pub struct V1Dirs<'a> {
    pub cpu: Option<&'a Path>,
    pub cpuacct: Option<&'a Path>,
    pub memory: Option<&'a Path>,
    pub pids: Option<&'a Path>,
    pub blkio: Option<&'a Path>,
    pub hugetlb: Option<(&'a Path, bool)>,
}

pub fn read_v1(d: &V1Dirs) -> Stats {
    let mut s = Stats::default();
    if let Some(dir) = d.cpuacct {
        s.cpu.usage.total = num(dir, "cpuacct.usage");
        s.cpu.usage.percpu =
            read(dir, "cpuacct.usage_percpu").map(|t| t.split_whitespace().filter_map(|v| v.parse().ok()).collect()).unwrap_or_default();
        let st = read(dir, "cpuacct.stat").map(|t| parse_flat_keyed(&t)).unwrap_or_default();
        // cpuacct.stat is in USER_HZ ticks (100 per second); runc reports nanoseconds.
        s.cpu.usage.user = st.get("user").copied().unwrap_or(0) * 10_000_000;
        s.cpu.usage.kernel = st.get("system").copied().unwrap_or(0) * 10_000_000;
    }
    if let Some(dir) = d.cpu {
        let st = read(dir, "cpu.stat").map(|t| parse_flat_keyed(&t)).unwrap_or_default();
        s.cpu.throttling = Throttling {
            periods: st.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: st.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: st.get("throttled_time").copied().unwrap_or(0),
        };
    }
    if let Some(dir) = d.memory {
        s.memory.usage = memory_entry(dir, "memory");
        s.memory.swap = memory_entry(dir, "memory.memsw");
        s.memory.kernel = memory_entry(dir, "memory.kmem");
        s.memory.kernel_tcp = memory_entry(dir, "memory.kmem.tcp");
        s.memory.raw = read(dir, "memory.stat").map(|t| parse_flat_keyed(&t)).unwrap_or_default();
        s.memory.cache = s.memory.raw.get("total_cache").or(s.memory.raw.get("cache")).copied().unwrap_or(0);
    }
    if let Some(dir) = d.pids {
        s.pids = PidsStats { current: num(dir, "pids.current"), limit: num(dir, "pids.max") };
    }
    if let Some(dir) = d.blkio {
        let pick = |a: &str, b: &str| {
            read(dir, a).filter(|t| !t.trim().is_empty()).or_else(|| read(dir, b)).map(|t| parse_blkio(&t)).unwrap_or_default()
        };
        s.blkio.io_service_bytes_recursive = pick("blkio.throttle.io_service_bytes_recursive", "blkio.io_service_bytes_recursive");
        s.blkio.io_serviced_recursive = pick("blkio.throttle.io_serviced_recursive", "blkio.io_serviced_recursive");
    }
    if let Some((dir, unified)) = d.hugetlb {
        s.hugetlb = read_hugetlb(dir, unified);
    }
    s
}

pub(crate) fn read_hugetlb(dir: &Path, unified: bool) -> BTreeMap<String, HugetlbStats> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let size = if unified {
            name.strip_prefix("hugetlb.").and_then(|r| r.strip_suffix(".current"))
        } else {
            name.strip_prefix("hugetlb.").and_then(|r| r.strip_suffix(".usage_in_bytes"))
        };
        let Some(size) = size.filter(|s| !s.contains('.')) else {
            continue;
        };
        let st = if unified {
            let events = read(dir, &format!("hugetlb.{size}.events")).map(|t| parse_flat_keyed(&t)).unwrap_or_default();
            HugetlbStats { usage: num(dir, &format!("hugetlb.{size}.current")), max: 0, failcnt: events.get("max").copied().unwrap_or(0) }
        } else {
            HugetlbStats {
                usage: num(dir, &format!("hugetlb.{size}.usage_in_bytes")),
                max: num(dir, &format!("hugetlb.{size}.max_usage_in_bytes")),
                failcnt: num(dir, &format!("hugetlb.{size}.failcnt")),
            }
        };
        out.insert(size.to_string(), st);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_u64("max\n"), u64::MAX);
        assert_eq!(parse_u64("42\n"), 42);
        let m = parse_flat_keyed("cache 10\nrss 20\n");
        assert_eq!(m.get("rss"), Some(&20));
        let b = parse_blkio("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].major, b[0].minor, b[0].op.as_str(), b[0].value), (8, 0, "Read", 4096));
    }

    #[test]
    fn v1_files_on_a_temp_dir() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for (f, v) in [
            ("cpuacct.usage", "1000"),
            ("cpuacct.usage_percpu", "600 400 "),
            ("cpuacct.stat", "user 2\nsystem 1\n"),
            ("cpu.stat", "nr_periods 5\nnr_throttled 1\nthrottled_time 99\n"),
            ("memory.usage_in_bytes", "4096"),
            ("memory.limit_in_bytes", "8192"),
            ("memory.max_usage_in_bytes", "5000"),
            ("memory.failcnt", "3"),
            ("memory.stat", "cache 7\ntotal_cache 9\n"),
            ("pids.current", "2"),
            ("pids.max", "max"),
            ("hugetlb.2MB.usage_in_bytes", "0"),
            ("hugetlb.2MB.max_usage_in_bytes", "0"),
            ("hugetlb.2MB.failcnt", "1"),
        ] {
            std::fs::write(p.join(f), v).unwrap();
        }
        let s = read_v1(&V1Dirs { cpu: Some(p), cpuacct: Some(p), memory: Some(p), pids: Some(p), blkio: None, hugetlb: Some((p, false)) });
        assert_eq!(s.cpu.usage.total, 1000);
        assert_eq!(s.cpu.usage.percpu, vec![600, 400]);
        assert_eq!(s.cpu.usage.user, 20_000_000);
        assert_eq!(s.cpu.throttling.throttled_time, 99);
        assert_eq!(s.memory.usage, MemoryEntry { limit: 8192, usage: 4096, max: 5000, failcnt: 3 });
        assert_eq!(s.memory.cache, 9);
        assert_eq!(s.pids, PidsStats { current: 2, limit: u64::MAX });
        assert_eq!(s.hugetlb["2MB"].failcnt, 1);
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["memory"]["kernelTCP"].is_object() && json["cpu"]["throttling"]["throttledPeriods"].is_u64());
    }
}
