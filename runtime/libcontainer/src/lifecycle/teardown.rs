//! What `delete` removes, decided from whatever the container's directory holds (`plan`,
//! pure), and the removal (`run`): every process through the cgroup (init by pid only when
//! its start time proves it is the same process), the cgroup, mounts left under the state
//! directory, the directory, then the poststop hooks. No lock is held across any of it but
//! the removal of the directory, so a `delete --force` goes ahead while another command runs
//! hooks; that command then finds the container gone.

use std::path::Path;
use std::time::{Duration, Instant};

use libcgroups::{CgroupManager, CgroupState};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Hook;

use crate::create::state::{self, ContainerDir, OciState, Record, Recovery, StateError, Status};
use crate::error::ContainerError;

/// Where the container's cgroup is.
#[derive(Debug, Clone, PartialEq)]
pub enum CgroupSource {
    /// As the state (or what still reads of a corrupt one) records it.
    Recorded(CgroupState),
    /// Unknown (no state file, or an unreadable one): the cgroupfs default for the id
    /// (cgroupsPath absent: the id below our own cgroup), if it exists.
    DefaultForId,
    /// The container runs without a cgroup (rootless without a delegated tree).
    NoCgroup,
}

/// What a delete does.
#[derive(Debug, Clone)]
pub struct Teardown {
    /// Whether to kill what is left (always, once a delete goes ahead).
    pub kill: bool,
    /// init's pid and start time, when both are known.
    pub init: Option<(i32, u64)>,
    pub cgroup: CgroupSource,
    /// Run after the directory is gone, for a container that got to "created".
    pub poststop: Option<(Vec<Hook>, OciState)>,
}

/// Decides a delete of `record`; `live` is the live status of a whole record, `recovery`
/// what recovery.json says (used when state.json does not read). Without `force` only a
/// stopped or created container goes, and only from a readable state.
pub fn plan(id: &str, record: &Record, live: Option<Status>, recovery: Option<&Recovery>, force: bool) -> Result<Teardown, ContainerError> {
    let unknown = |why: String| -> Result<Teardown, ContainerError> {
        if !force {
            return Err(StateError::Broken { id: id.to_string(), why }.into());
        }
        Ok(match recovery.filter(|r| r.id == id) {
            Some(r) => Teardown {
                kill: true,
                init: (r.pid > 0 && r.pid_start_time > 0).then_some((r.pid, r.pid_start_time)),
                cgroup: r.cgroup.clone().map_or(CgroupSource::NoCgroup, CgroupSource::Recorded),
                poststop: None,
            },
            None => Teardown { kill: true, init: None, cgroup: CgroupSource::DefaultForId, poststop: None },
        })
    };
    match record {
        Record::State(st) => {
            let status = live.unwrap_or(Status::Stopped);
            // Even a stopped container's cgroup may hold stragglers (a shared pid namespace).
            let kill = match status {
                Status::Stopped | Status::Created => true,
                _ if force => true,
                _ => return Err(ContainerError::BadStatus { op: "delete", id: id.to_string(), status }),
            };
            let reached_created = st.status != Status::Creating;
            let poststop = st.poststop.clone().filter(|h| reached_created && !h.is_empty()).map(|h| (h, st.to_oci(Status::Stopped)));
            Ok(Teardown {
                kill,
                init: (st.pid > 0 && st.pid_start_time > 0).then_some((st.pid, st.pid_start_time)),
                cgroup: st.cgroup.clone().map_or(CgroupSource::NoCgroup, CgroupSource::Recorded),
                poststop,
            })
        }
        Record::Missing => unknown("no state file".into()),
        Record::Corrupt { why, cgroup } => {
            let mut t = unknown(format!("corrupt state file: {why}"))?;
            if let (Some(cg), CgroupSource::DefaultForId) = (cgroup, &t.cgroup) {
                t.cgroup = CgroupSource::Recorded(cg.clone());
            }
            Ok(t)
        }
        Record::TooNew { found } => unknown(format!("state format {found}, newer than this youki understands ({})", state::FORMAT)),
        Record::Foreign => Err(StateError::Foreign { path: id.into() }.into()),
    }
}

/// Carries out `t` on the container directory `dir` of `id`; a container already gone is
/// not an error.
pub fn run(root: &Path, id: &str, t: &Teardown) -> Result<(), ContainerError> {
    let dir_path = root.join(id);
    let mgr = cgroup_manager(id, &t.cgroup)?;
    if t.kill {
        kill_all(t.init, mgr.as_deref())?;
        crate::failpoint::hit("delete:after-kill");
        if let Some(mgr) = &mgr {
            wait_empty(mgr.as_ref(), Duration::from_secs(10));
        }
        if let Some((pid, start)) = t.init {
            crate::telemetry::span("wait for exit", || wait_gone(pid, start, Duration::from_secs(10)))?;
        }
    }
    if let Some(mgr) = &mgr {
        mgr.remove()?;
    }
    crate::failpoint::hit("delete:after-cgroup-remove");
    // The resctrl groups create made (recorded in the directory); a failure to remove them
    // must not keep delete from removing the rest.
    if let Err(e) = crate::plan::intel_rdt::remove_recorded(&dir_path) {
        tracing::warn!("delete {id:?}: {e}");
    }
    unmount_below(&dir_path)?;
    match ContainerDir::open(root, id) {
        Ok(dir) => match dir.remove() {
            Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        },
        Err(StateError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    crate::failpoint::hit("delete:after-remove");
    if let Some((hooks, oci)) = &t.poststop {
        crate::hooks::run_all_warn("poststop", &Some(hooks.clone()), oci);
    }
    Ok(())
}

/// The manager of the container's cgroup, when one exists on the host.
fn cgroup_manager(id: &str, source: &CgroupSource) -> Result<Option<Box<dyn CgroupManager>>, ContainerError> {
    let mgr = match source {
        CgroupSource::NoCgroup => return Ok(None),
        CgroupSource::Recorded(cg) => libcgroups::from_state(cg)?,
        CgroupSource::DefaultForId => match libcgroups::manager(&libcgroups::detect()?, None, id, false) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("no default cgroup for {id:?}: {e}");
                return Ok(None);
            }
        },
    };
    let exists = mgr.state().dirs.iter().any(|d| d.dir.exists());
    Ok(exists.then_some(mgr))
}

/// SIGKILL to every process of the cgroup (frozen first, or cgroup.kill), and to init by
/// pid when its start time still matches.
fn kill_all(init: Option<(i32, u64)>, mgr: Option<&dyn CgroupManager>) -> Result<(), ContainerError> {
    if let Some((pid, start)) = init {
        if state::process_start_time(pid) == Some(start) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    if let Some(mgr) = mgr {
        if !mgr.pids().unwrap_or_default().is_empty() {
            crate::lifecycle::cgroup_ops::signal_frozen(mgr, None, Signal::SIGKILL)?;
        }
    }
    Ok(())
}

/// Waits until `pid` (with start time `start`) has exited, through a pidfd (init is usually
/// not our child).
pub fn wait_gone(pid: i32, start: u64, limit: Duration) -> Result<(), ContainerError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let Ok(pidfd) = crate::create::clone::pidfd_open(pid) else {
        return Ok(()); // already gone
    };
    if state::process_start_time(pid) != Some(start) {
        return Ok(());
    }
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ContainerError::sys(format!("wait for pid {pid} to exit"), nix::Error::ETIMEDOUT));
        }
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let ms = left.as_millis().min(u16::MAX as u128) as u16;
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) if n > 0 => return Ok(()),
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(ContainerError::sys("wait for init to exit", e)),
        }
    }
}

/// Waits (bounded) for killed processes to leave the cgroup. Stragglers (an `exec` that
/// joined after the kill) are killed again, and the cgroup thawed each time: a `pause` that
/// ran meanwhile (no lock is held across this) would keep them from dying.
fn wait_empty(mgr: &dyn CgroupManager, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let pids = mgr.pids().unwrap_or_default();
        if pids.is_empty() || Instant::now() >= deadline {
            return;
        }
        for p in pids {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        let _ = mgr.freeze(libcgroups::FreezerState::Thawed);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Detaches every mount left under the state directory (restore's rootfs bind). Only when
/// the directory has a subdirectory, which restore's bind needs: mountinfo is not read for
/// every delete (on a node it runs to thousands of lines).
fn unmount_below(dir: &Path) -> Result<(), ContainerError> {
    let has_subdir = std::fs::read_dir(dir).map(|entries| entries.flatten().any(|e| e.file_type().is_ok_and(|t| t.is_dir())));
    if matches!(has_subdir, Ok(false)) {
        return Ok(());
    }
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return Ok(()) };
    for mp in crate::rootfs::mountinfo::mounts_below(&info, dir) {
        match nix::mount::umount2(&mp, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(ContainerError::sys(format!("unmount {mp:?}"), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create::state::ContainerState;

    fn st(status: Status) -> ContainerState {
        let mut s: ContainerState = serde_json::from_value(serde_json::json!({
            "format": 1, "id": "c", "pid": 10, "pid_start_time": 99, "bundle": "/b", "rootfs": "/b/r",
            "created": "x", "owner_uid": 0, "status": "created",
            "cgroup": {"driver": "v1", "path": "/youki/c", "dirs": []},
            "poststop": [{"path": "/bin/true"}]
        }))
        .unwrap();
        s.status = status;
        s
    }

    #[test]
    fn a_whole_state_is_killed_by_cgroup_and_checked_pid() {
        let t = plan("c", &Record::State(st(Status::Created)), Some(Status::Created), None, false).unwrap();
        assert!(t.kill);
        assert_eq!(t.init, Some((10, 99)));
        assert!(matches!(t.cgroup, CgroupSource::Recorded(ref c) if c.path == "/youki/c"));
        assert!(t.poststop.is_some());
        // Running needs --force.
        assert!(plan("c", &Record::State(st(Status::Running)), Some(Status::Running), None, false).is_err());
        assert!(plan("c", &Record::State(st(Status::Running)), Some(Status::Running), None, true).unwrap().kill);
    }

    #[test]
    fn an_interrupted_create_goes_without_poststop_hooks() {
        let mut s = st(Status::Creating);
        s.pid = 0;
        s.pid_start_time = 0;
        let t = plan("c", &Record::State(s), Some(Status::Stopped), None, true).unwrap();
        assert!(t.kill && t.init.is_none() && t.poststop.is_none());
        assert!(matches!(t.cgroup, CgroupSource::Recorded(_)));
        // An unknown start time never kills by pid.
        let mut s = st(Status::Created);
        s.pid_start_time = 0;
        assert_eq!(plan("c", &Record::State(s), Some(Status::Stopped), None, true).unwrap().init, None);
    }

    #[test]
    fn unreadable_records_need_force_and_fall_back_to_the_default_cgroup() {
        for rec in [Record::Missing, Record::Corrupt { why: "eof".into(), cgroup: None }, Record::TooNew { found: 7 }] {
            assert!(plan("c", &rec, None, None, false).is_err(), "{rec:?}");
            let t = plan("c", &rec, None, None, true).unwrap();
            assert_eq!(t.cgroup, CgroupSource::DefaultForId, "{rec:?}");
            assert!(t.kill && t.init.is_none() && t.poststop.is_none());
        }
        let cg = CgroupState { driver: libcgroups::Driver::V1, path: "/p".into(), dirs: vec![] };
        let t = plan("c", &Record::Corrupt { why: "x".into(), cgroup: Some(cg.clone()) }, None, None, true).unwrap();
        assert_eq!(t.cgroup, CgroupSource::Recorded(cg.clone()));
        let err = plan("c", &Record::Missing, None, None, false).unwrap_err().to_string();
        assert_eq!(err, r#"container "c" has no readable state (no state file): remove it with delete --force"#);
        assert!(plan("c", &Record::Foreign, None, None, true).is_err());
        // recovery.json (of this id) gives the cgroup and init whatever state.json holds.
        let rec = Recovery { id: "c".into(), pid: 7, pid_start_time: 70, cgroup: Some(cg.clone()) };
        for broken in [Record::Missing, Record::Corrupt { why: "eof".into(), cgroup: None }, Record::TooNew { found: 9 }] {
            let t = plan("c", &broken, None, Some(&rec), true).unwrap();
            assert_eq!((t.init, &t.cgroup), (Some((7, 70)), &CgroupSource::Recorded(cg.clone())));
        }
        let other = Recovery { id: "d".into(), ..rec };
        assert_eq!(plan("c", &Record::Missing, None, Some(&other), true).unwrap().cgroup, CgroupSource::DefaultForId);
    }
}
