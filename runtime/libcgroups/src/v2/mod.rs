//! The cgroupfs driver for a pure cgroup v2 host: one directory per container.
//!
//! `prepare` creates the directory and enables every available controller in
//! cgroup.subtree_control of each ancestor (the container's own directory holds processes,
//! so by the "no internal processes" rule it enables none). It hands back a directory fd so
//! the child can be born in the cgroup with CLONE_INTO_CGROUP. Resources are written from
//! the shared rules ([`translate`]) with v2 file names; device rules become a BPF program
//! ([`device_prog`]) attached to the directory.

pub mod bpf;
pub mod device_prog;
mod freeze;
pub(crate) use freeze::{frozen, frozen_file};

use std::{
    fs,
    os::fd::{AsFd, OwnedFd},
    path::Path,
};

use oci_spec::runtime::LinuxResources;

use crate::{
    device_rules::DeviceAccess,
    files,
    manager::{CgroupManager, CgroupState, Driver},
    path::{check_stored, CgroupDir},
    resources::{translate, Controller, Placement, Probe},
    CgroupError, CgroupView, FreezerState,
};

/// How long `remove` retries a cgroup that is still busy.
const REMOVE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// A container's cgroup on a cgroup v2 host.
#[derive(Debug, Clone)]
pub struct V2Manager {
    path: String,
    dir: CgroupDir,
}

impl V2Manager {
    /// A manager for the resolved directory; touches nothing.
    pub fn new(path: String, dir: CgroupDir) -> Self {
        V2Manager { path, dir }
    }

    /// Rebuilds the manager from stored state (one directory, below the cgroup2 mount).
    pub fn from_state(s: &CgroupState) -> Result<Self, CgroupError> {
        match s.dirs.as_slice() {
            [d] if d.hierarchy.unified => {
                check_stored(d)?;
                Ok(V2Manager::new(s.path.clone(), d.clone()))
            }
            _ => Err(CgroupError::InvalidState("a v2 cgroup has exactly one cgroup2 directory".into())),
        }
    }

    fn dir(&self) -> &Path {
        &self.dir.dir
    }

    /// Controllers enabled for the container's directory (its cgroup.controllers), or those
    /// of the mount when the directory does not exist yet.
    fn enabled(&self) -> Vec<String> {
        match crate::files::read_text(self.dir().join("cgroup.controllers")) {
            Ok(text) => text.split_whitespace().map(str::to_string).collect(),
            Err(_) => self.dir.hierarchy.controllers.clone(),
        }
    }

    fn open_dir(&self) -> Result<OwnedFd, CgroupError> {
        fs::File::open(self.dir()).map(OwnedFd::from).map_err(|e| CgroupError::io("open", self.dir(), e))
    }

    fn set_devices(&self, rules: &[oci_spec::runtime::LinuxDeviceCgroup]) -> Result<(), CgroupError> {
        let access = DeviceAccess::from_rules(rules)?;
        let prog = bpf::load(&device_prog::program(&access), self.dir())?;
        let dir = self.open_dir()?;
        bpf::attach_replacing(dir.as_fd(), &prog, self.dir())
    }
}

/// The v2 controller that carries `c`, for the ones that need enabling.
fn v2_controller(c: Controller) -> Option<&'static str> {
    match c {
        Controller::Cpuset => Some("cpuset"),
        Controller::Cpu | Controller::Cpuacct => Some("cpu"),
        Controller::Memory => Some("memory"),
        Controller::Pids => Some("pids"),
        Controller::Blkio => Some("io"),
        Controller::Hugetlb => Some("hugetlb"),
        Controller::Rdma => Some("rdma"),
        _ => None,
    }
}

/// What the rules see of a v2 directory: controllers from one read of cgroup.controllers.
struct DirProbe<'a> {
    dir: &'a Path,
    enabled: Vec<String>,
}

impl Probe for DirProbe<'_> {
    fn placement(&self, c: Controller) -> Placement {
        match c {
            // Core features of every cgroup2 directory.
            Controller::Devices | Controller::Freezer | Controller::Unified => Placement::V2,
            _ => match v2_controller(c) {
                Some(name) if self.enabled.iter().any(|e| e == name) => Placement::V2,
                _ => Placement::Absent,
            },
        }
    }

    fn exists(&self, _c: Controller, file: &str) -> bool {
        self.dir.join(file).exists()
    }

    fn read(&self, _c: Controller, file: &str) -> Option<String> {
        crate::files::read_text(self.dir.join(file)).ok()
    }
}

/// Enables in `parent`'s cgroup.subtree_control every controller it offers that is not on
/// yet. EBUSY here is the "no internal processes" rule: the parent holds processes itself.
fn enable_controllers(parent: &Path) -> Result<(), CgroupError> {
    let offered = files::read(&parent.join("cgroup.controllers"))?;
    let on = files::read(&parent.join("cgroup.subtree_control"))?;
    let missing: Vec<&str> = offered.split_whitespace().filter(|c| !on.split_whitespace().any(|o| o == *c)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let file = parent.join("cgroup.subtree_control");
    let line = missing.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ");
    match files::write(&file, &line) {
        Err(CgroupError::Write { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {
            Err(CgroupError::InternalProcesses(parent.to_path_buf()))
        }
        other => other,
    }
}

impl CgroupManager for V2Manager {
    fn prepare(&self) -> Result<Option<OwnedFd>, CgroupError> {
        let mount = &self.dir.hierarchy.mountpoint;
        let rel =
            self.dir().strip_prefix(mount).map_err(|_| CgroupError::InvalidState(format!("{:?} is not below {mount:?}", self.dir())))?;
        let mut level = mount.to_path_buf();
        for part in rel.components() {
            enable_controllers(&level)?;
            level.push(part);
            match fs::create_dir(&level) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(CgroupError::io("create directory", &level, e)),
            }
        }
        // A process moved (or cloned) into a frozen cgroup never runs: refuse at once.
        if let Some(file) = freeze::frozen_file(self.dir()) {
            return Err(CgroupError::Frozen(file));
        }
        self.open_dir().map(Some)
    }

    fn apply(&self, pid: i32) -> Result<(), CgroupError> {
        self.prepare()?;
        self.add_task(pid)
    }

    fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        files::write(&self.dir().join("cgroup.procs"), &pid.to_string())
    }

    fn set_resources(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let probe = DirProbe { dir: self.dir(), enabled: self.enabled() };
        for w in translate(r, &probe)? {
            files::write(&self.dir().join(&w.file), &w.value)?;
        }
        if let Some(rules) = r.devices().as_deref().filter(|d| !d.is_empty()) {
            self.set_devices(rules)?;
        }
        Ok(())
    }

    fn freeze(&self, state: FreezerState) -> Result<(), CgroupError> {
        freeze::set(self.dir(), state)
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(freeze::frozen_file(self.dir()).is_some())
    }

    fn kill_all(&self) -> Result<bool, CgroupError> {
        let file = self.dir().join("cgroup.kill");
        if !file.exists() {
            return Ok(false);
        }
        match files::write(&file, "1") {
            Ok(()) => Ok(true),
            // Removed between the check and the write (systemd drops a scope's cgroup once
            // its last process is gone; kernfs then answers ENODEV): nothing left to kill.
            Err(CgroupError::Write { source, .. }) if matches!(source.raw_os_error(), Some(libc::ENODEV | libc::ENOENT)) => Ok(true),
            Err(e) => Err(e),
        }
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        files::pids_recursive(self.dir())
    }

    fn remove(&self) -> Result<(), CgroupError> {
        // Frozen tasks never leave: no point waiting for them.
        let patience = if freeze::frozen_file(self.dir()).is_some() { std::time::Duration::ZERO } else { REMOVE_PATIENCE };
        files::remove_tree(self.dir(), patience)
    }

    fn views(&self) -> Vec<CgroupView> {
        vec![CgroupView { name: String::new(), aliases: Vec::new(), host_dir: self.dir().to_path_buf() }]
    }

    fn state(&self) -> CgroupState {
        CgroupState { driver: Driver::V2, path: self.path.clone(), dirs: vec![self.dir.clone()] }
    }

    fn stats(&self) -> Result<crate::stats::Stats, CgroupError> {
        Ok(crate::stats_v2::read_v2(self.dir()))
    }

    fn oom_eventfd(&self) -> Result<Option<OwnedFd>, CgroupError> {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let file = self.dir().join("memory.events");
        if !file.exists() {
            return Ok(None);
        }
        let io = |e: nix::Error| CgroupError::io("watch", &file, std::io::Error::from(e));
        let watch = Inotify::init(InitFlags::IN_CLOEXEC).map_err(io)?;
        watch.add_watch(&file, AddWatchFlags::IN_MODIFY).map_err(io)?;
        Ok(Some(OwnedFd::from(watch)))
    }

    fn oom_kills(&self) -> Option<u64> {
        let text = crate::files::read_text(self.dir().join("memory.events")).ok()?;
        crate::stats::parse_flat_keyed(&text).get("oom_kill").copied()
    }
}
