//! Resource usage from a cgroup v2 directory, in the same runc `events --stats` shape as v1.
//!
//! cpu.stat counts microseconds where runc reports nanoseconds. Swap usage is reported as
//! memory+swap, as runc does, so the numbers mean the same on both versions; memory.peak
//! (newer kernels) fills the maximum, and the OOM count of memory.events the fail count.
//! Kernel and socket memory come from memory.stat, where the kernel splits them out.

use std::path::Path;

use crate::stats::{num, parse_flat_keyed, read, read_hugetlb, BlkioEntry, MemoryEntry, PidsStats, Stats, Throttling};

pub(crate) fn read_v2(dir: &Path) -> Stats {
    let mut s = Stats::default();
    let keyed = |file: &str| read(dir, file).map(|t| parse_flat_keyed(&t)).unwrap_or_default();
    let cpu = keyed("cpu.stat");
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
    s.cpu.usage.total = us("usage_usec");
    s.cpu.usage.user = us("user_usec");
    s.cpu.usage.kernel = us("system_usec");
    s.cpu.throttling = Throttling {
        periods: cpu.get("nr_periods").copied().unwrap_or(0),
        throttled_periods: cpu.get("nr_throttled").copied().unwrap_or(0),
        throttled_time: us("throttled_usec"),
    };
    let events = keyed("memory.events");
    let current = num(dir, "memory.current");
    s.memory.usage = MemoryEntry {
        limit: num(dir, "memory.max"),
        usage: current,
        max: num(dir, "memory.peak"),
        failcnt: events.get("oom").copied().unwrap_or(0),
    };
    if dir.join("memory.swap.current").exists() {
        let swap_limit = num(dir, "memory.swap.max");
        let limit = s.memory.usage.limit;
        s.memory.swap = MemoryEntry {
            limit: if swap_limit == u64::MAX || limit == u64::MAX { u64::MAX } else { swap_limit + limit },
            usage: num(dir, "memory.swap.current") + current,
            max: 0,
            failcnt: 0,
        };
    }
    s.memory.raw = keyed("memory.stat");
    s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
    // memory.stat splits out kernel memory ("kernel", 5.18+) and socket buffers ("sock").
    s.memory.kernel.usage = s.memory.raw.get("kernel").copied().unwrap_or(0);
    s.memory.kernel_tcp.usage = s.memory.raw.get("sock").copied().unwrap_or(0);
    s.pids = PidsStats { current: num(dir, "pids.current"), limit: num(dir, "pids.max") };
    if let Some(text) = read(dir, "io.stat") {
        let (bytes, ios) = parse_io_stat(&text);
        s.blkio.io_service_bytes_recursive = bytes;
        s.blkio.io_serviced_recursive = ios;
    }
    s.hugetlb = read_hugetlb(dir, true);
    s
}

/// io.stat lines ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...") as runc's v1-shaped entries:
/// bytes and operations, each split into Read and Write.
pub fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in fields {
            let Some((key, value)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse() else { continue };
            let (list, op) = match key {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry { major, minor, op: op.to_string(), value });
        }
    }
    (bytes, ios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_stat_lines() {
        let (bytes, ios) = parse_io_stat("8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\nbogus\n");
        assert_eq!(bytes.len(), 2);
        assert_eq!((bytes[0].major, bytes[0].minor, bytes[0].op.as_str(), bytes[0].value), (8, 0, "Read", 4096));
        assert_eq!(ios[0].value, 1);
    }

    #[test]
    fn v2_files_on_a_temp_dir() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for (f, v) in [
            ("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\nnr_throttled 1\nthrottled_usec 2\n"),
            ("memory.current", "4096"),
            ("memory.max", "8192"),
            ("memory.peak", "5000"),
            ("memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n"),
            ("memory.swap.current", "100"),
            ("memory.swap.max", "max"),
            ("memory.stat", "anon 1\nfile 7\nkernel 12\nsock 3\n"),
            ("pids.current", "2"),
            ("pids.max", "10"),
            ("hugetlb.2MB.current", "0"),
            ("hugetlb.2MB.events", "max 3\n"),
        ] {
            std::fs::write(p.join(f), v).unwrap();
        }
        let s = read_v2(p);
        assert_eq!((s.cpu.usage.total, s.cpu.usage.user, s.cpu.usage.kernel), (10_000, 6_000, 4_000));
        assert_eq!(s.cpu.throttling.throttled_time, 2_000);
        assert_eq!(s.memory.usage, MemoryEntry { limit: 8192, usage: 4096, max: 5000, failcnt: 2 });
        assert_eq!((s.memory.swap.usage, s.memory.swap.limit), (4196, u64::MAX));
        assert_eq!(s.memory.cache, 7);
        assert_eq!((s.memory.kernel.usage, s.memory.kernel_tcp.usage), (12, 3));
        assert_eq!(s.pids, PidsStats { current: 2, limit: 10 });
        assert_eq!(s.hugetlb["2MB"].failcnt, 3);
    }
}
