//! Commands that act on a container through its cgroup: pause, resume, ps, update, stats.

use std::path::Path;

use libcgroups::{CgroupManager, FreezerState};
use oci_spec::runtime::LinuxResources;

use crate::create::state::{ContainerDir, ContainerState, Status};
use crate::error::ContainerError;

/// The cgroup manager of a container from its state.
pub fn manager_of(st: &ContainerState) -> Result<Box<dyn CgroupManager>, ContainerError> {
    let Some(cg) = &st.cgroup else {
        return Err(ContainerError::NoCgroup(st.id.clone()));
    };
    Ok(libcgroups::from_state(cg)?)
}

/// Opens, loads and checks that the container is in one of `allowed`.
fn open_in(root: &Path, id: &str, op: &'static str, allowed: &[Status]) -> Result<(ContainerDir, ContainerState), ContainerError> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let status = st.live_status(&dir.path);
    if !allowed.contains(&status) {
        return Err(ContainerError::BadStatus { op, id: id.to_string(), status });
    }
    Ok((dir, st))
}

pub fn pause(root: &Path, id: &str) -> Result<(), ContainerError> {
    let (dir, mut st) = open_in(root, id, "pause", &[Status::Running, Status::Created])?;
    crate::failpoint::hit("pause:after-load");
    manager_of(&st)?.freeze(FreezerState::Frozen)?;
    crate::failpoint::hit("pause:after-freeze");
    st.status = Status::Paused;
    dir.save(&st)?;
    Ok(())
}

pub fn resume(root: &Path, id: &str) -> Result<(), ContainerError> {
    let (dir, mut st) = open_in(root, id, "resume", &[Status::Paused])?;
    crate::failpoint::hit("resume:after-load");
    manager_of(&st)?.freeze(FreezerState::Thawed)?;
    crate::failpoint::hit("resume:after-thaw");
    st.status = Status::Running;
    dir.save(&st)?;
    Ok(())
}

/// Host pids of every process in the container.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>, ContainerError> {
    let (_, st) = open_in(root, id, "list the processes of", &[Status::Created, Status::Running, Status::Paused])?;
    crate::failpoint::hit("ps:after-load");
    Ok(manager_of(&st)?.pids()?)
}

/// New limits for a running, created or paused container. Device rules are ignored, as runc
/// does on update (containerd sends them).
pub fn update(root: &Path, id: &str, resources: &LinuxResources) -> Result<(), ContainerError> {
    let (_, st) = open_in(root, id, "update", &[Status::Created, Status::Running, Status::Paused])?;
    crate::failpoint::hit("update:after-load");
    let mut r = resources.clone();
    r.set_devices(None);
    manager_of(&st)?.set_resources(&r)?;
    crate::failpoint::hit("update:after-set");
    Ok(())
}

/// Usage figures, in runc's `events --stats` shape.
pub fn stats(root: &Path, id: &str) -> Result<libcgroups::Stats, ContainerError> {
    let (_, st) = open_in(root, id, "read the stats of", &[Status::Created, Status::Running, Status::Paused])?;
    Ok(manager_of(&st)?.stats()?)
}

/// Watches a container for OOM kills.
pub struct OomWatch {
    fd: std::os::fd::OwnedFd,
    mgr: Box<dyn CgroupManager>,
    kills: Option<u64>,
}

impl OomWatch {
    /// The fd to poll for readability.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// After the fd polled readable: drains it and says whether an OOM kill happened.
    pub fn consume(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        if nix::unistd::read(&self.fd, &mut buf).is_err() {
            return false;
        }
        match (self.kills, self.mgr.oom_kills()) {
            (Some(before), Some(now)) => {
                self.kills = Some(now);
                now > before
            }
            _ => true,
        }
    }
}

/// An OOM watch on the container (None when the driver cannot tell).
pub fn oom_watch(root: &Path, id: &str) -> Result<Option<OomWatch>, ContainerError> {
    let (_, st) = open_in(root, id, "watch", &[Status::Created, Status::Running, Status::Paused])?;
    let mgr = manager_of(&st)?;
    let Some(fd) = mgr.oom_eventfd()? else { return Ok(None) };
    let kills = mgr.oom_kills();
    Ok(Some(OomWatch { fd, mgr, kills }))
}

/// After SIGKILL to a paused container's process: thaws the cgroup, since a frozen task on
/// cgroup v1 acts on SIGKILL only once thawed (runc 1.1.5 does the same).
pub fn thaw_for_sigkill(st: &ContainerState, signal: nix::sys::signal::Signal) -> Result<(), ContainerError> {
    if signal != nix::sys::signal::Signal::SIGKILL || st.cgroup.is_none() {
        return Ok(());
    }
    let mgr = manager_of(st)?;
    if mgr.is_frozen()? {
        mgr.freeze(FreezerState::Thawed)?;
    }
    Ok(())
}

/// Signals every process of the container with the cgroup frozen, so none can fork away
/// between listing and signalling. SIGKILL on cgroup v2 goes through cgroup.kill, which
/// reaches every process at once.
///
/// The freezer is left as it was found: a paused container stays paused (the signal is
/// pending and acts on `resume`), so `state` keeps telling the truth. The one exception is
/// SIGKILL, which a frozen task on cgroup v1 only acts on once thawed: the cgroup is thawed
/// then and the container dies, as with runc 1.1.5 (which thaws after every signal).
pub fn signal_frozen(mgr: &dyn CgroupManager, extra: Option<i32>, signal: nix::sys::signal::Signal) -> Result<(), ContainerError> {
    let kill = signal == nix::sys::signal::Signal::SIGKILL;
    let was_frozen = mgr.is_frozen().unwrap_or(false);
    if kill && mgr.kill_all()? {
        return Ok(());
    }
    let froze = !was_frozen && mgr.freeze(FreezerState::Frozen).is_ok();
    crate::failpoint::hit("kill:after-freeze");
    let mut pids = mgr.pids()?;
    pids.extend(extra);
    pids.sort_unstable();
    pids.dedup();
    let mut result = Ok(());
    for p in pids {
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), signal) {
            Ok(()) | Err(nix::Error::ESRCH) => {}
            Err(e) => result = Err(ContainerError::sys(format!("send {signal} to pid {p}"), e)),
        }
    }
    if froze || (was_frozen && kill) {
        mgr.freeze(FreezerState::Thawed)?;
    }
    result
}
