//! Control groups for youki: host layout detection, one `CgroupManager` trait, and drivers.
//!
//! The interface below is what `libcontainer` relies on. Drivers: v1 and hybrid here;
//! v2 and systemd come with their own issue and must fit the same trait.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

/// How cgroups are mounted on this host, read once from /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Only cgroup v1 hierarchies.
    V1,
    /// v1 hierarchies plus a cgroup2 mount (usually /sys/fs/cgroup/unified).
    Hybrid,
    /// Only cgroup2, mounted at the root (usually /sys/fs/cgroup).
    V2,
}

/// One mounted hierarchy of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted on the host, e.g. /sys/fs/cgroup/cpu.
    pub mountpoint: PathBuf,
    /// v1 controllers (e.g. ["cpu"], ["cpu", "cpuacct"], ["name=systemd"]); for cgroup2 the
    /// controllers listed in its cgroup.controllers.
    pub controllers: Vec<String>,
    /// True for the cgroup2 hierarchy.
    pub unified: bool,
}

/// The host's cgroup setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCgroups {
    pub layout: Layout,
    pub hierarchies: Vec<Hierarchy>,
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
