//! Turns `LinuxResources` into the ordered control-file writes that enforce them.
//!
//! The rules are written once, for every driver. A driver answers the few questions the
//! rules ask through [`Probe`] (where a controller lives, whether an optional file exists,
//! the current memory limit) and then performs the returned [`Write`]s in order. Nothing
//! here touches the filesystem, so every rule is unit tested with a fake probe.
//!
//! Controllers come in runc's v1 order: cpuset, devices, memory, cpu, pids, blkio, hugetlb,
//! net_cls, net_prio, rdma; `unified` keys last, so they override.

mod blkio;
mod cpu;
mod hugetlb;
mod io;
mod memory;
mod memory_v2;
mod network;
mod pids;
mod rdma;
mod unified;

use oci_spec::runtime::LinuxResources;

use crate::{devices, CgroupError};

pub(crate) use cpu::shares_to_weight;
pub(crate) use io::blkio_weight_to_io;
pub(crate) use memory_v2::swap_max;

/// A controller, as the target of a write. `Unified` is the container's cgroup2 directory
/// itself (where `linux.resources.unified` keys go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Controller {
    Cpuset,
    Devices,
    Memory,
    Cpu,
    Cpuacct,
    Pids,
    Blkio,
    Hugetlb,
    NetCls,
    NetPrio,
    Rdma,
    Freezer,
    Unified,
}

impl Controller {
    /// The kernel's name for it ("net_cls", ...), or "unified".
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpuset => "cpuset",
            Controller::Devices => "devices",
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Pids => "pids",
            Controller::Blkio => "blkio",
            Controller::Hugetlb => "hugetlb",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::Rdma => "rdma",
            Controller::Freezer => "freezer",
            Controller::Unified => "unified",
        }
    }

    /// Controllers whose resources are skipped with a warning when the host lacks them,
    /// as runc does; for the others a missing controller is an error.
    pub fn optional(self) -> bool {
        matches!(self, Controller::NetCls | Controller::NetPrio | Controller::Hugetlb | Controller::Rdma)
    }
}

/// Where a controller is available for the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Absent,
    /// In a v1 hierarchy: v1 file names.
    V1,
    /// In the cgroup2 hierarchy: v2 file names.
    V2,
}

/// The host facts the rules need, answered by a driver about the container's directories.
pub trait Probe {
    fn placement(&self, c: Controller) -> Placement;
    /// Whether `file` exists in the container's directory for `c`.
    fn exists(&self, c: Controller, file: &str) -> bool;
    /// The contents of `file` in the container's directory for `c`, if readable.
    fn read(&self, c: Controller, file: &str) -> Option<String>;
}

/// One control-file write: `value` into `file` of the container's directory for `controller`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: Controller,
    pub file: String,
    pub value: String,
}

impl Write {
    pub fn new(controller: Controller, file: impl Into<String>, value: impl ToString) -> Self {
        Write { controller, file: file.into(), value: value.to_string() }
    }
}

/// The writes that enforce `r`, in the order they must happen.
pub fn translate(r: &LinuxResources, probe: &dyn Probe) -> Result<Vec<Write>, CgroupError> {
    let mut out = Vec::new();
    if let Some(c) = r.cpu() {
        cpu::cpuset(c, probe, &mut out)?;
    }
    if let Some(rules) = r.devices() {
        devices::translate(rules, probe, &mut out)?;
    }
    if let Some(m) = r.memory() {
        memory::translate(m, probe, &mut out)?;
    }
    if let Some(c) = r.cpu() {
        cpu::cpu(c, probe, &mut out)?;
    }
    if let Some(p) = r.pids() {
        pids::translate(p, probe, &mut out)?;
    }
    if let Some(b) = r.block_io() {
        blkio::translate(b, probe, &mut out)?;
    }
    if let Some(limits) = r.hugepage_limits() {
        hugetlb::translate(limits, probe, &mut out)?;
    }
    if let Some(n) = r.network() {
        network::translate(n, probe, &mut out)?;
    }
    if let Some(map) = r.rdma() {
        rdma::translate(map, probe, &mut out)?;
    }
    if let Some(map) = r.unified() {
        unified::translate(map, probe, &mut out)?;
    }
    Ok(out)
}

/// Where `c` is, when resources for it must be written: an error when it is absent (unless
/// it is optional: then `None`, with a warning).
pub(crate) fn need(probe: &dyn Probe, c: Controller) -> Result<Option<Placement>, CgroupError> {
    match probe.placement(c) {
        Placement::Absent if c.optional() => {
            tracing::warn!(controller = c.name(), "controller is not mounted; ignoring its resources");
            Ok(None)
        }
        Placement::Absent => Err(CgroupError::NotMounted(c.name())),
        p => Ok(Some(p)),
    }
}

/// Like [`need`], for rules that only have v1 file names so far.
pub(crate) fn need_v1(probe: &dyn Probe, c: Controller) -> Result<bool, CgroupError> {
    match need(probe, c)? {
        None => Ok(false),
        Some(Placement::V1) => Ok(true),
        Some(_) => Err(CgroupError::NotSupportedYet(format!("the {} controller on cgroup v2", c.name()))),
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A probe over an in-memory host, and a JSON shorthand for resources.

    use std::collections::{HashMap, HashSet};

    use oci_spec::runtime::LinuxResources;

    use super::{Controller, Placement, Probe};

    #[derive(Default)]
    pub struct FakeProbe {
        pub placements: HashMap<Controller, Placement>,
        pub files: HashSet<(Controller, String)>,
        pub contents: HashMap<(Controller, String), String>,
    }

    impl FakeProbe {
        /// Every controller on v1 except net_cls, net_prio, hugetlb, rdma; no optional files.
        pub fn v1() -> Self {
            use Controller::*;
            let mut p = FakeProbe::default();
            for c in [Cpuset, Devices, Memory, Cpu, Cpuacct, Pids, Blkio, Freezer] {
                p.placements.insert(c, Placement::V1);
            }
            p
        }
        pub fn with(mut self, c: Controller, placement: Placement) -> Self {
            self.placements.insert(c, placement);
            self
        }
        pub fn file(mut self, c: Controller, name: &str) -> Self {
            self.files.insert((c, name.to_string()));
            self
        }
        pub fn content(mut self, c: Controller, name: &str, value: &str) -> Self {
            self.files.insert((c, name.to_string()));
            self.contents.insert((c, name.to_string()), value.to_string());
            self
        }
    }

    impl Probe for FakeProbe {
        fn placement(&self, c: Controller) -> Placement {
            self.placements.get(&c).copied().unwrap_or(Placement::Absent)
        }
        fn exists(&self, c: Controller, file: &str) -> bool {
            self.files.contains(&(c, file.to_string()))
        }
        fn read(&self, c: Controller, file: &str) -> Option<String> {
            self.contents.get(&(c, file.to_string())).cloned()
        }
    }

    pub fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    /// The `(file, value)` writes for `{"<key>": <json>}`.
    pub fn file_values(key: &str, json: &str, probe: &FakeProbe) -> Result<Vec<(String, String)>, crate::CgroupError> {
        let r = res(&format!(r#"{{"{key}":{json}}}"#));
        Ok(super::translate(&r, probe)?.into_iter().map(|w| (w.file, w.value)).collect())
    }

    /// Owned `(file, value)` pairs, to compare with [`file_values`].
    pub fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(f, v)| (f.to_string(), v.to_string())).collect()
    }

    /// The writes as `(file, value)` pairs, for short assertions.
    pub fn pairs(writes: &[super::Write]) -> Vec<(&str, &str)> {
        writes.iter().map(|w| (w.file.as_str(), w.value.as_str())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;

    #[test]
    fn empty_resources_write_nothing() {
        assert!(translate(&res("{}"), &FakeProbe::default()).unwrap().is_empty());
    }

    #[test]
    fn controllers_come_in_runc_order() {
        let r = res(r#"{"pids":{"limit":5},"memory":{"limit":1000},
            "cpu":{"shares":512,"cpus":"0"},"devices":[{"allow":false,"access":"rwm"}]}"#);
        let w = translate(&r, &FakeProbe::v1()).unwrap();
        let order: Vec<Controller> = w.iter().map(|w| w.controller).collect();
        use Controller::*;
        assert_eq!(order, [Cpuset, Devices, Memory, Cpu, Pids]);
    }

    #[test]
    fn a_missing_required_controller_is_named() {
        let probe = FakeProbe::default();
        assert_eq!(
            translate(&res(r#"{"pids":{"limit":5}}"#), &probe).unwrap_err().to_string(),
            "cgroup controller \"pids\" is not mounted"
        );
    }

    #[test]
    fn a_controller_on_v2_without_v2_rules_is_not_supported_yet() {
        let probe = FakeProbe::default().with(Controller::NetCls, Placement::V2);
        assert_eq!(
            translate(&res(r#"{"network":{"classID":5}}"#), &probe).unwrap_err().to_string(),
            "the net_cls controller on cgroup v2 is not supported yet"
        );
    }
}
