//! Control groups for youki: host layout detection, one `CgroupManager` trait, and drivers.
//!
//! The interface below is what `libcontainer` relies on. Drivers: v1 and hybrid ([`V1Manager`])
//! and pure cgroup v2 ([`V2Manager`]); the systemd driver fits the same trait.
//!
//! The flow: [`detect`] reads the host layout once; [`manager`] resolves the spec's
//! cgroupsPath into one directory per hierarchy and picks a driver; the driver's
//! `set_resources` asks [`translate`] for the ordered control-file writes and performs them.
//! [`CgroupManager::state`] and [`from_state`] carry the resolved directories from `create`
//! to the later commands.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod device_rules;
mod devices;
mod error;
mod files;
mod manager;
mod mountinfo;
mod path;
mod resources;
mod setup;
mod stats_v2;
pub mod systemd;
mod v1;
pub mod v2;

pub use device_rules::{DeviceAccess, Kind as DeviceKind, Request as DeviceRequest};
pub use devices::{default_device_rules, device_rule_line};
pub use error::CgroupError;
pub use files::read_text;
pub use manager::{from_state, manager, CgroupManager, CgroupState, Driver, SelfJoin};
pub use mountinfo::{detect, parse_controllers, parse_mountinfo};
pub use path::{parse_proc_cgroup, resolve, CgroupDir, OwnCgroup, Resolved};
pub use resources::{translate, Controller, Placement, Probe, Write};
pub use v1::V1Manager;
pub use v2::V2Manager;
pub mod stats;
pub use stats::Stats;

/// How cgroups are mounted on this host, read once from /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only cgroup v1 hierarchies.
    V1,
    /// v1 hierarchies plus a cgroup2 mount (usually /sys/fs/cgroup/unified).
    Hybrid,
    /// Only cgroup2, mounted at the root (usually /sys/fs/cgroup).
    V2,
}

/// One mounted hierarchy of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    /// Where it is mounted on the host, e.g. /sys/fs/cgroup/cpu.
    pub mountpoint: PathBuf,
    /// v1 controllers (e.g. ["cpu"], ["cpu", "cpuacct"], ["name=systemd"]); for cgroup2 the
    /// controllers listed in its cgroup.controllers.
    pub controllers: Vec<String>,
    /// True for the cgroup2 hierarchy.
    pub unified: bool,
    /// The cgroup of the hierarchy that is mounted there: "/" unless only a subtree was
    /// mounted (field 4 of mountinfo). Paths in /proc/self/cgroup are relative to the
    /// hierarchy's root, so this prefix is stripped before joining them to `mountpoint`.
    #[serde(default = "slash")]
    pub root: PathBuf,
}

fn slash() -> PathBuf {
    PathBuf::from("/")
}

impl Hierarchy {
    /// A hierarchy whose whole tree is mounted at `mountpoint` (the usual case).
    pub fn new(mountpoint: impl Into<PathBuf>, controllers: &[&str], unified: bool) -> Self {
        Hierarchy {
            mountpoint: mountpoint.into(),
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            unified,
            root: slash(),
        }
    }

    /// True when this is a v1 hierarchy carrying `controller` (e.g. "cpu", "name=systemd").
    pub fn has_v1(&self, controller: &str) -> bool {
        !self.unified && self.controllers.iter().any(|c| c == controller)
    }
}

/// The host's cgroup setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCgroups {
    pub layout: Layout,
    pub hierarchies: Vec<Hierarchy>,
}

impl HostCgroups {
    /// The cgroup2 hierarchy, if one is mounted.
    pub fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.unified)
    }
}

/// A cgroup directory that the container should see inside its /sys/fs/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupView {
    /// Name of the directory under /sys/fs/cgroup in the container ("cpu", "unified", ...).
    /// Empty for a pure v2 host, where the view is /sys/fs/cgroup itself.
    pub name: String,
    /// Extra names to symlink to `name` (e.g. "cpu" and "cpuacct" for "cpu,cpuacct").
    pub aliases: Vec<String>,
    /// The container's own cgroup directory on the host, to bind-mount there.
    pub host_dir: PathBuf,
}

/// The freezer states that `pause` and `resume` move between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Frozen,
    Thawed,
}
