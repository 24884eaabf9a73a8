//! The systemd driver (`--systemd-cgroup`): each container is a transient scope, created
//! over D-Bus with Delegate=yes, so the runtime may write the cgroup below it.
//!
//! At `apply`, systemd creates the scope around the container's pid with the resource
//! properties it understands ([`properties`]); then the v2 rules write every resource into
//! the scope's cgroup directly, including those systemd has no property for. On `update` the
//! properties go to systemd first (so a daemon-reload keeps them), then into the files.
//! Everything that does not need systemd (freeze, kill, pids, stats) is the v2 driver's.

#[cfg(feature = "systemd")]
mod dbus;
pub mod properties;
pub mod unit;

use std::{os::fd::OwnedFd, path::Path};

use oci_spec::runtime::LinuxResources;

use crate::{
    manager::{CgroupManager, CgroupState, Driver},
    path::CgroupDir,
    CgroupError, CgroupView, FreezerState, HostCgroups, Layout, V2Manager,
};
pub use unit::UnitPath;

/// A container's cgroup as a systemd transient scope (cgroup v2 hosts).
#[derive(Debug)]
pub struct SystemdManager {
    unit: String,
    slice: String,
    /// The user's systemd instead of the system one.
    user: bool,
    /// The scope's cgroup directory, driven directly once systemd created it.
    inner: V2Manager,
}

impl SystemdManager {
    /// A manager for `cgroups_path` (`slice:prefix:name`); touches nothing.
    pub fn new(host: &HostCgroups, cgroups_path: Option<&Path>, container_id: &str, user: bool) -> Result<Self, CgroupError> {
        if host.layout != Layout::V2 {
            return Err(CgroupError::NotSupportedYet("the systemd cgroup driver on a cgroup v1 or hybrid host".into()));
        }
        let Some(h) = host.unified() else { return Err(CgroupError::NoHierarchy) };
        let u = UnitPath::parse(cgroups_path, container_id, user)?;
        let rel = u.cgroup()?;
        let dir = CgroupDir { hierarchy: h.clone(), dir: h.mountpoint.join(rel.strip_prefix("/").unwrap_or(&rel)) };
        let path = rel.to_string_lossy().into_owned();
        Ok(SystemdManager { unit: u.unit, slice: u.slice, user, inner: V2Manager::new(path, dir) })
    }

    /// Rebuilds the manager from stored state: the unit is the last part of the directory.
    pub fn from_state(s: &CgroupState) -> Result<Self, CgroupError> {
        let inner = V2Manager::from_state(s)?;
        let dir = &inner.state().dirs[0].dir;
        let unit = dir.file_name().map(|n| n.to_string_lossy().into_owned()).filter(|n| n.ends_with(".scope"));
        let Some(unit) = unit else {
            return Err(CgroupError::InvalidState(format!("{dir:?} is not a systemd scope")));
        };
        let slice = dir.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(SystemdManager { unit, slice, user: s.driver == Driver::SystemdUser, inner })
    }

    #[cfg(feature = "systemd")]
    fn bus(&self) -> Result<dbus::Systemd, CgroupError> {
        dbus::Systemd::connect(self.user)
    }

    #[cfg(not(feature = "systemd"))]
    fn bus(&self) -> Result<NoBus, CgroupError> {
        Err(CgroupError::NotSupportedYet("the systemd cgroup driver in this build".into()))
    }
}

/// Stands in for the D-Bus client in a build without the `systemd` feature.
#[cfg(not(feature = "systemd"))]
struct NoBus;

#[cfg(not(feature = "systemd"))]
impl NoBus {
    fn start_scope(&self, _: &str, _: &properties::Props) -> Result<(), CgroupError> {
        Ok(())
    }
    fn set_properties(&self, _: &str, _: &properties::Props) -> Result<(), CgroupError> {
        Ok(())
    }
    fn stop(&self, _: &str) -> Result<(), CgroupError> {
        Ok(())
    }
}

impl CgroupManager for SystemdManager {
    fn apply(&self, pid: i32) -> Result<(), CgroupError> {
        let description = format!("youki container {}", self.unit);
        let props = properties::scope(&self.slice, &description, pid as u32);
        self.bus()?.start_scope(&self.unit, &props)
    }

    fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        self.inner.add_task(pid)
    }

    fn set_resources(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let props = properties::resources(r)?;
        self.bus()?.set_properties(&self.unit, &props)?;
        self.inner.set_resources(r)
    }

    fn freeze(&self, state: FreezerState) -> Result<(), CgroupError> {
        self.inner.freeze(state)
    }

    fn kill_all(&self) -> Result<bool, CgroupError> {
        self.inner.kill_all()
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        self.inner.is_frozen()
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        self.inner.pids()
    }

    fn remove(&self) -> Result<(), CgroupError> {
        let stopped = self.bus().and_then(|bus| bus.stop(&self.unit));
        // systemd removes the scope's cgroup, unless sub-cgroups made below it remain.
        let removed = self.inner.remove();
        stopped.and(removed)
    }

    fn views(&self) -> Vec<CgroupView> {
        self.inner.views()
    }

    fn state(&self) -> CgroupState {
        let mut s = self.inner.state();
        s.driver = if self.user { Driver::SystemdUser } else { Driver::Systemd };
        s
    }

    fn stats(&self) -> Result<crate::stats::Stats, CgroupError> {
        self.inner.stats()
    }

    fn prepare(&self) -> Result<Option<OwnedFd>, CgroupError> {
        Ok(None)
    }

    fn oom_eventfd(&self) -> Result<Option<OwnedFd>, CgroupError> {
        self.inner.oom_eventfd()
    }

    fn oom_kills(&self) -> Option<u64> {
        self.inner.oom_kills()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hierarchy;

    fn v2() -> HostCgroups {
        HostCgroups { layout: Layout::V2, hierarchies: vec![Hierarchy::new("/sys/fs/cgroup", &["cpu", "memory"], true)] }
    }

    #[test]
    fn the_scope_directory_and_state() {
        let m = SystemdManager::new(&v2(), Some(Path::new("kubepods-pod1.slice:cri-containerd:abc")), "abc", false).unwrap();
        let s = m.state();
        assert_eq!(s.driver, Driver::Systemd);
        assert_eq!(s.path, "/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope");
        assert_eq!(s.dirs[0].dir, Path::new("/sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope"));
        let back = SystemdManager::from_state(&s).unwrap();
        assert_eq!((back.unit.as_str(), back.slice.as_str(), back.user), ("cri-containerd-abc.scope", "kubepods-pod1.slice", false));
    }

    #[test]
    fn hybrid_hosts_are_refused_clearly() {
        let host = HostCgroups { layout: Layout::Hybrid, hierarchies: vec![Hierarchy::new("/sys/fs/cgroup/memory", &["memory"], false)] };
        assert_eq!(
            SystemdManager::new(&host, None, "abc", false).unwrap_err().to_string(),
            "the systemd cgroup driver on a cgroup v1 or hybrid host is not supported yet"
        );
    }
}
