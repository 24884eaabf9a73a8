//! Where a resource block of config.json must show up in the cgroup files, on v1 and on v2.
//! Pure: the cases read the files and compare. The v2 values follow runc 1.1.5's conversions
//! (the de facto contract: containerd and kubelet expect them), checked against runc itself
//! in the cgroup v2 VM lane:
//! - cpu.weight = 1 + (shares - 2) * 9999 / 262142 (shares 2..=262144 onto 1..=10000);
//! - memory.swap.max = swap - limit (the spec's swap is memory plus swap, as memsw on v1);
//! - memory.low = reservation; cpu.max = "QUOTA PERIOD";
//! - io.weight = 1 + (weight - 10) * 9999 / 990 (blkio 10..=1000 onto 1..=10000), unless
//!   BFQ's io.bfq.weight exists, which takes the blkio weight unchanged;
//! - the throttles become one io.max line per device.

use crate::host::Layout;
use serde_json::{json, Value};

/// A device's block IO throttles, in the spec's units (bytes/s, operations/s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub major: u64,
    pub minor: u64,
    pub read_bps: u64,
    pub write_iops: u64,
}

/// The resources `cgroups/resources_applied` sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub memory_limit: u64,
    pub reservation: u64,
    /// memory plus swap, as the spec (and v1 memsw) counts it.
    pub swap: u64,
    pub shares: u64,
    pub quota: u64,
    pub period: u64,
    pub cpus: &'static str,
    pub mems: &'static str,
    pub pids: u64,
    pub blkio_weight: Option<u64>,
    pub throttle: Option<Throttle>,
}

/// One file the container's cgroup must hold: the v1 controller that owns it (ignored on
/// v2), its name and its content (for multi-line files, the line that must be present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

fn expect(controller: &'static str, file: &str, value: impl ToString) -> Expected {
    Expected { controller, file: file.to_string(), value: value.to_string() }
}

/// runc's shares-to-weight mapping for cpu.weight.
pub fn cpu_weight(shares: u64) -> u64 {
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// runc's blkio-weight-to-io.weight mapping.
pub fn io_weight(blkio_weight: u64) -> u64 {
    1 + (blkio_weight.saturating_sub(10) * 9999) / 990
}

impl Requested {
    /// The values `cgroups/resources_applied` sets: 64 MiB of memory (32 MiB reserved, as
    /// much again of swap), half a CPU on cpu 0, 64 pids; a block IO weight and throttles on
    /// `disk` only where the host can take them.
    pub fn for_case(blkio_weight: Option<u64>, disk: Option<(u64, u64)>) -> Requested {
        Requested {
            memory_limit: 64 << 20,
            reservation: 32 << 20,
            swap: 128 << 20,
            shares: 512,
            quota: 50_000,
            period: 100_000,
            cpus: "0",
            mems: "0",
            pids: 64,
            blkio_weight,
            throttle: disk.map(|(major, minor)| Throttle { major, minor, read_bps: 1 << 20, write_iops: 100 }),
        }
    }

    /// The `linux.resources` block for config.json.
    pub fn to_json(&self) -> Value {
        let mut r = json!({
            "memory": {"limit": self.memory_limit, "reservation": self.reservation, "swap": self.swap},
            "cpu": {"shares": self.shares, "quota": self.quota, "period": self.period,
                    "cpus": self.cpus, "mems": self.mems},
            "pids": {"limit": self.pids},
        });
        let mut blkio = serde_json::Map::new();
        if let Some(w) = self.blkio_weight {
            blkio.insert("weight".into(), json!(w));
        }
        if let Some(t) = self.throttle {
            blkio.insert("throttleReadBpsDevice".into(), json!([{"major": t.major, "minor": t.minor, "rate": t.read_bps}]));
            blkio.insert("throttleWriteIOPSDevice".into(), json!([{"major": t.major, "minor": t.minor, "rate": t.write_iops}]));
        }
        if !blkio.is_empty() {
            r["blockIO"] = Value::Object(blkio);
        }
        r
    }

    /// The files on `layout`. `weight_file` is the blkio/io weight file the container's
    /// cgroup has (`blkio.weight`, `blkio.bfq.weight`, `io.weight` or `io.bfq.weight`);
    /// `swap_file` whether the kernel accounts swap (memsw or memory.swap.max exists).
    pub fn files(&self, layout: Layout, weight_file: Option<&str>, swap_file: bool) -> Vec<Expected> {
        match layout {
            Layout::V1 => self.v1_files(weight_file, swap_file),
            Layout::Unified => self.v2_files(weight_file, swap_file),
        }
    }

    fn v1_files(&self, weight_file: Option<&str>, swap_file: bool) -> Vec<Expected> {
        let mut out = vec![
            expect("memory", "memory.limit_in_bytes", self.memory_limit),
            expect("memory", "memory.soft_limit_in_bytes", self.reservation),
            expect("cpu", "cpu.shares", self.shares),
            expect("cpu", "cpu.cfs_quota_us", self.quota),
            expect("cpu", "cpu.cfs_period_us", self.period),
            expect("cpuset", "cpuset.cpus", self.cpus),
            expect("cpuset", "cpuset.mems", self.mems),
            expect("pids", "pids.max", self.pids),
        ];
        if swap_file {
            out.push(expect("memory", "memory.memsw.limit_in_bytes", self.swap));
        }
        if let (Some(w), Some(file)) = (self.blkio_weight, weight_file) {
            out.push(expect("blkio", file, w));
        }
        if let Some(t) = self.throttle {
            let dev = format!("{}:{}", t.major, t.minor);
            out.push(expect("blkio", "blkio.throttle.read_bps_device", format!("{dev} {}", t.read_bps)));
            out.push(expect("blkio", "blkio.throttle.write_iops_device", format!("{dev} {}", t.write_iops)));
        }
        out
    }

    fn v2_files(&self, weight_file: Option<&str>, swap_file: bool) -> Vec<Expected> {
        let mut out = vec![
            expect("", "memory.max", self.memory_limit),
            expect("", "memory.low", self.reservation),
            expect("", "cpu.weight", cpu_weight(self.shares)),
            expect("", "cpu.max", format!("{} {}", self.quota, self.period)),
            expect("", "cpuset.cpus", self.cpus),
            expect("", "cpuset.mems", self.mems),
            expect("", "pids.max", self.pids),
        ];
        if swap_file {
            out.push(expect("", "memory.swap.max", self.swap - self.memory_limit));
        }
        match (self.blkio_weight, weight_file) {
            (Some(w), Some("io.bfq.weight")) => out.push(expect("", "io.bfq.weight", format!("default {w}"))),
            (Some(w), Some(file)) => out.push(expect("", file, format!("default {}", io_weight(w)))),
            _ => {}
        }
        if let Some(t) = self.throttle {
            out.push(expect(
                "",
                "io.max",
                format!("{}:{} rbps={} wbps=max riops=max wiops={}", t.major, t.minor, t.read_bps, t.write_iops),
            ));
        }
        out
    }
}

/// Whether a file's content satisfies an expectation: equal, or holding the expected line
/// (io.max, io.weight and the throttle files list one line per device).
pub fn matches(content: &str, want: &str) -> bool {
    content.trim() == want || content.lines().any(|l| l.trim() == want)
}

/// The files that hold the freezer state: (v1 controller, file, frozen, thawed).
pub fn freezer(layout: Layout) -> (&'static str, &'static str, &'static str, &'static str) {
    match layout {
        Layout::V1 => ("freezer", "freezer.state", "FROZEN", "THAWED"),
        Layout::Unified => ("", "cgroup.freeze", "1", "0"),
    }
}

/// The file of the memory limit: (v1 controller, file).
pub fn memory_limit(layout: Layout) -> (&'static str, &'static str) {
    match layout {
        Layout::V1 => ("memory", "memory.limit_in_bytes"),
        Layout::Unified => ("", "memory.max"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested() -> Requested {
        Requested::for_case(Some(500), Some((254, 0)))
    }

    fn find<'a>(files: &'a [Expected], name: &str) -> Option<&'a str> {
        files.iter().find(|e| e.file == name).map(|e| e.value.as_str())
    }

    #[test]
    fn runc_conversions_at_the_ends_and_in_between() {
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(500), 4950);
        assert_eq!(io_weight(1000), 10_000);
    }

    #[test]
    fn v2_files_use_the_converted_values() {
        let files = requested().files(Layout::Unified, Some("io.weight"), true);
        assert_eq!(find(&files, "cpu.weight"), Some("20"));
        assert_eq!(find(&files, "cpu.max"), Some("50000 100000"));
        assert_eq!(find(&files, "memory.swap.max"), Some("67108864"));
        assert_eq!(find(&files, "memory.low"), Some("33554432"));
        assert_eq!(find(&files, "io.weight"), Some("default 4950"));
        assert_eq!(find(&files, "io.max"), Some("254:0 rbps=1048576 wbps=max riops=max wiops=100"));
        let bfq = requested().files(Layout::Unified, Some("io.bfq.weight"), false);
        assert_eq!(find(&bfq, "io.bfq.weight"), Some("default 500"));
        assert_eq!(find(&bfq, "memory.swap.max"), None);
    }

    #[test]
    fn v1_files_take_the_spec_values() {
        let files = requested().files(Layout::V1, Some("blkio.bfq.weight"), true);
        assert_eq!(find(&files, "cpu.shares"), Some("512"));
        assert_eq!(find(&files, "memory.memsw.limit_in_bytes"), Some("134217728"));
        assert_eq!(find(&files, "blkio.bfq.weight"), Some("500"));
        assert_eq!(find(&files, "blkio.throttle.write_iops_device"), Some("254:0 100"));
        let json = requested().to_json();
        assert_eq!(json["cpu"]["shares"], 512);
        assert_eq!(json["blockIO"]["throttleReadBpsDevice"][0]["rate"], 1 << 20);
    }

    #[test]
    fn multi_line_files_match_by_line() {
        assert!(matches("default 100\n254:0 200\n", "254:0 200"));
        assert!(matches(" 42\n", "42"));
        assert!(!matches("420\n", "42"));
    }
}
