//! The one interface libcontainer uses for a container's cgroup, and how a driver is picked
//! (`manager`, at create) or rebuilt from the state file (`from_state`, in later commands).

use std::{fmt, path::Path};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::{
    path::{parse_proc_cgroup, resolve, CgroupDir},
    systemd::SystemdManager,
    CgroupError, CgroupView, FreezerState, HostCgroups, Layout, V1Manager, V2Manager,
};

/// How a new, still single-threaded process gets into a cgroup v1 (or hybrid) container's
/// cgroups without waiting for an RCU grace period.
///
/// A pid written to `cgroup.procs` (or to `tasks`) by another process takes the kernel's
/// global threadgroup lock for writing, and its first taker waits a grace period: 5 to 20 ms
/// on this project's hosts, once per create and per exec. A thread that writes "0" to a v1
/// `tasks` file moves only itself and skips that lock. So the process writes "0" to `tasks`
/// in each v1 hierarchy itself, while it is still in the host's user namespace, and the v2
/// part of a hybrid host (the unified hierarchy) is left to clone3's CLONE_INTO_CGROUP, which
/// takes the lock only for reading; `v2_procs` is where the parent writes the pid instead
/// when the kernel could not clone into it.
#[derive(Debug)]
pub struct SelfJoin {
    /// The v1 `tasks` files the process writes "0" to.
    pub tasks: Vec<std::path::PathBuf>,
    /// The unified hierarchy's directory, to clone into.
    pub v2_dir: Option<std::os::fd::OwnedFd>,
    /// Its cgroup.procs, for the pid when the clone could not place the process.
    pub v2_procs: Option<std::path::PathBuf>,
}

impl SelfJoin {
    /// Writes `pid` to the unified hierarchy's cgroup.procs: the fallback when clone3 could
    /// not clone into it (and the lock's grace period is paid after all).
    pub fn place_v2(&self, pid: i32) -> Result<(), CgroupError> {
        match &self.v2_procs {
            Some(procs) => crate::files::write(procs, &pid.to_string()),
            None => Ok(()),
        }
    }
}

/// A container's cgroup, whatever the driver.
pub trait CgroupManager: fmt::Debug + Send + Sync {
    /// Creates the container's directories before the child exists. A driver on a pure
    /// cgroup v2 host returns the directory, so the child can be cloned straight into it
    /// (CLONE_INTO_CGROUP); `apply` is then not needed.
    fn prepare(&self) -> Result<Option<std::os::fd::OwnedFd>, CgroupError> {
        Ok(None)
    }
    /// The placement of a process that moves itself (see `SelfJoin`), with the directories
    /// created first when `create` (and a frozen cgroup refused). None where the driver
    /// cannot split it (v2, systemd): the parent then uses `prepare` and `apply`/`add_task`.
    fn prepare_self_join(&self, create: bool) -> Result<Option<SelfJoin>, CgroupError> {
        let _ = create;
        Ok(None)
    }
    /// Creates the container's directory in every hierarchy and moves `pid` into it.
    fn apply(&self, pid: i32) -> Result<(), CgroupError>;
    /// Moves `pid` into the (existing) container cgroup, e.g. for `exec`.
    fn add_task(&self, pid: i32) -> Result<(), CgroupError>;
    /// Writes the limits of `r`, in the order the kernel accepts them.
    fn set_resources(&self, r: &LinuxResources) -> Result<(), CgroupError>;
    /// Freezes or thaws every task of the container; returns once the state is reached.
    fn freeze(&self, state: FreezerState) -> Result<(), CgroupError>;
    /// Whether the container's cgroup is frozen (or freezing) now, as the kernel says.
    fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(false)
    }
    /// Kills every process of the container at once (cgroup.kill) when the kernel can;
    /// false when the caller must signal the processes one by one.
    fn kill_all(&self) -> Result<bool, CgroupError> {
        Ok(false)
    }
    /// Every process in the container's cgroup and the cgroups below it, sorted.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// Removes the container's cgroup directories (and any below them), deepest first.
    fn remove(&self) -> Result<(), CgroupError>;
    /// The directories to show the container under its /sys/fs/cgroup.
    fn views(&self) -> Vec<CgroupView>;
    /// What later commands need to find the same cgroup: stored in the state file.
    fn state(&self) -> CgroupState;
    /// Resource usage, for `events --stats`.
    fn stats(&self) -> Result<crate::stats::Stats, CgroupError>;
    /// An fd that becomes readable when the container may have had an OOM kill, when the
    /// driver can tell: an eventfd on v1, an inotify watch of memory.events on v2.
    fn oom_eventfd(&self) -> Result<Option<std::os::fd::OwnedFd>, CgroupError> {
        Ok(None)
    }
    /// The number of OOM kills so far, where the kernel counts them (v2 memory.events).
    /// With `None`, every wakeup of `oom_eventfd` is one OOM event (the v1 eventfd).
    fn oom_kills(&self) -> Option<u64> {
        None
    }
}

impl CgroupState {
    /// Whether the kernel says the cgroup is frozen (or freezing), read straight from the
    /// stored directories: the v1 freezer's state where there is a v1 freezer (on a hybrid
    /// host too, as pause uses it there, and as runc reads it), else the cgroup2
    /// directory's. None when no freezer file could be read. `list` calls this per
    /// container, so it reads one file (two on cgroup2 when not frozen) and probes nothing.
    pub fn frozen(&self) -> Option<bool> {
        if let Some(d) = self.dirs.iter().find(|d| d.hierarchy.has_v1("freezer")) {
            return crate::files::read_text(d.dir.join("freezer.state")).ok().map(|s| matches!(s.trim(), "FROZEN" | "FREEZING"));
        }
        self.dirs.iter().find(|d| d.hierarchy.unified).and_then(|d| crate::v2::frozen(&d.dir))
    }
}

/// Which driver manages a container's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// cgroupfs on v1 hierarchies, plus the cgroup2 mount of a hybrid host.
    V1,
    /// cgroupfs on a pure cgroup v2 host.
    V2,
    /// A transient scope of the system's systemd (cgroup v2).
    Systemd,
    /// A transient scope of the user's systemd (rootless, cgroup v2).
    #[serde(rename = "systemd-user")]
    SystemdUser,
}

/// A container's cgroup as stored in its state file: the driver and the resolved absolute
/// directories, so a later command run from another cgroup finds the same ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupState {
    pub driver: Driver,
    /// The cgroup path inside the hierarchies, e.g. "/youki/abc" (for `state` and telemetry).
    pub path: String,
    pub dirs: Vec<CgroupDir>,
}

/// Picks the driver for a new container and resolves its cgroupsPath (see [`crate::resolve`]).
/// Reads /proc/self/cgroup when the path is relative or absent.
pub fn manager(
    host: &HostCgroups,
    cgroups_path: Option<&Path>,
    container_id: &str,
    systemd: bool,
) -> Result<Box<dyn CgroupManager>, CgroupError> {
    if systemd {
        let user = !nix::unistd::geteuid().is_root();
        return Ok(Box::new(SystemdManager::new(host, cgroups_path, container_id, user)?));
    }
    let absolute = cgroups_path.is_some_and(|p| p.is_absolute());
    let own = if absolute {
        Vec::new()
    } else {
        let file = "/proc/self/cgroup";
        let text = crate::files::read_text(file).map_err(|e| CgroupError::io("read", file, e))?;
        parse_proc_cgroup(&text)?
    };
    let resolved = resolve(host, &own, cgroups_path, container_id)?;
    match host.layout {
        Layout::V2 => match resolved.dirs.into_iter().next() {
            Some(dir) => Ok(Box::new(V2Manager::new(resolved.path, dir))),
            None => Err(CgroupError::NoHierarchy),
        },
        Layout::V1 | Layout::Hybrid => Ok(Box::new(V1Manager::new(resolved.path, resolved.dirs))),
    }
}

/// Rebuilds the manager of an existing container from its stored state, refreshing what may
/// have changed since (the controllers enabled on a cgroup2 mount).
pub fn from_state(s: &CgroupState) -> Result<Box<dyn CgroupManager>, CgroupError> {
    match s.driver {
        Driver::V1 => Ok(Box::new(V1Manager::from_state(s)?)),
        Driver::V2 => Ok(Box::new(V2Manager::from_state(s)?)),
        Driver::Systemd | Driver::SystemdUser => Ok(Box::new(SystemdManager::from_state(s)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hierarchy;

    fn host(layout: Layout) -> HostCgroups {
        HostCgroups {
            layout,
            hierarchies: vec![
                Hierarchy::new("/sys/fs/cgroup/memory", &["memory"], false),
                Hierarchy::new("/sys/fs/cgroup/unified", &["hugetlb"], true),
            ],
        }
    }

    #[test]
    fn systemd_driver_needs_cgroup_v2() {
        let err = manager(&host(Layout::Hybrid), None, "abc", true).unwrap_err();
        assert_eq!(err.to_string(), "the systemd cgroup driver on a cgroup v1 or hybrid host is not supported yet");
    }

    #[test]
    fn a_v2_host_gets_the_v2_driver_with_one_directory() {
        let host = HostCgroups { layout: Layout::V2, hierarchies: vec![Hierarchy::new("/sys/fs/cgroup", &["cpu", "memory"], true)] };
        let m = manager(&host, Some(Path::new("/youki/abc")), "abc", false).unwrap();
        let s = m.state();
        assert_eq!(s.driver, Driver::V2);
        assert_eq!(s.dirs.len(), 1);
        assert_eq!(s.dirs[0].dir, Path::new("/sys/fs/cgroup/youki/abc"));
        assert_eq!(m.views()[0].name, "");
        let again = from_state(&serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap()).unwrap();
        assert_eq!(again.state(), s);
    }

    #[test]
    fn state_survives_json_and_rebuilds_the_same_manager() {
        let m = manager(&host(Layout::Hybrid), Some(Path::new("/youki/abc")), "abc", false).unwrap();
        let s = m.state();
        assert_eq!(s.path, "/youki/abc");
        assert_eq!(s.driver, Driver::V1);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""driver":"v1""#), "{json}");
        let back: CgroupState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let again = from_state(&back).unwrap();
        assert_eq!(again.state(), s);
        assert_eq!(again.views(), m.views());
    }

    #[test]
    fn relative_path_uses_own_cgroup() {
        // This process is in some cgroup of every mounted hierarchy; only check the shape.
        let Ok(host) = crate::detect() else { return };
        if host.layout == Layout::V2 {
            return;
        }
        let m = manager(&host, Some(Path::new("youki-rel-test")), "abc", false).unwrap();
        for d in m.state().dirs {
            assert!(d.dir.starts_with(&d.hierarchy.mountpoint));
            assert!(d.dir.ends_with("youki-rel-test"));
        }
    }
}
