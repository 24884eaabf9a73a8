//! The cgroupfs driver for v1 hierarchies, and for hybrid hosts where a cgroup2 mount sits
//! beside them. There the container also gets a cgroup2 directory, which holds hugetlb
//! (when the kernel offers it only there) and the `linux.resources.unified` keys.
//!
//! The driver maps each [`Controller`] to the container's directory in the hierarchy that
//! carries it, answers the rules' questions ([`Probe`]) from those directories, and performs
//! the writes that [`translate`] returns.

use std::{
    thread,
    time::{Duration, Instant},
};

use oci_spec::runtime::LinuxResources;

use crate::{
    files,
    manager::{CgroupManager, CgroupState, Driver},
    path::{check_stored, CgroupDir},
    resources::{translate, Controller, Placement, Probe},
    setup, CgroupError, CgroupView, FreezerState,
};

/// How long `remove` retries a cgroup that is still busy.
const REMOVE_PATIENCE: Duration = Duration::from_secs(1);
/// How long `freeze` waits for FREEZING to become FROZEN.
const FREEZE_PATIENCE: Duration = Duration::from_secs(2);
/// Hierarchies that hold every task of the container, best first, for `pids`.
const PIDS_FROM: &[&str] = &["pids", "devices", "freezer", "memory", "cpu", "cpuset"];

/// A container's cgroup on a v1 or hybrid host: one directory per mounted hierarchy.
#[derive(Debug, Clone)]
pub struct V1Manager {
    path: String,
    dirs: Vec<CgroupDir>,
}

impl V1Manager {
    /// A manager for the resolved directories (see [`crate::resolve`]); touches nothing.
    pub fn new(path: String, dirs: Vec<CgroupDir>) -> Self {
        V1Manager { path, dirs }
    }

    /// Rebuilds the manager from stored state, checking that every directory lies strictly
    /// below its mountpoint, and taking the current controllers of the cgroup2 mount from
    /// its cgroup.controllers (the stored ones when it is not readable: not mounted there in
    /// this mount namespace). No mountinfo: on a node it runs to thousands of lines.
    pub fn from_state(s: &CgroupState) -> Result<Self, CgroupError> {
        let mut dirs = s.dirs.clone();
        for d in &mut dirs {
            check_stored(d)?;
            if d.hierarchy.unified {
                if let Ok(now) = crate::mountinfo::read_controllers(&d.hierarchy.mountpoint) {
                    d.hierarchy.controllers = now;
                }
            }
        }
        Ok(V1Manager::new(s.path.clone(), dirs))
    }

    /// The container's directory for `c`: the v1 hierarchy carrying it; for hugetlb the
    /// cgroup2 one when no v1 hierarchy has it; for `Unified` the cgroup2 one.
    fn dir_of(&self, c: Controller) -> Option<&CgroupDir> {
        let unified = || self.dirs.iter().find(|d| d.hierarchy.unified);
        match c {
            Controller::Unified => unified(),
            _ => self
                .dirs
                .iter()
                .find(|d| d.hierarchy.has_v1(c.name()))
                .or_else(|| unified().filter(|d| c == Controller::Hugetlb && d.hierarchy.controllers.iter().any(|x| x == "hugetlb"))),
        }
    }

    fn need_dir(&self, c: Controller) -> Result<&CgroupDir, CgroupError> {
        self.dir_of(c).ok_or(CgroupError::NotMounted(c.name()))
    }

    /// The control file that says the container's cgroup is frozen or freezing: the v1
    /// freezer's state (which shows a frozen ancestor too), or on a hybrid host the cgroup2
    /// directory's.
    /// Creates the directory in every hierarchy (cpuset's filled from its parent) and
    /// refuses a frozen one: a process moved into it would never run.
    fn create_dirs(&self) -> Result<(), CgroupError> {
        for d in &self.dirs {
            if d.hierarchy.has_v1("cpuset") {
                setup::create_cpuset_dir(&d.hierarchy.mountpoint, &d.dir)?;
            } else {
                files::create_dir(&d.dir)?;
            }
        }
        match self.frozen_file() {
            Some(file) => Err(CgroupError::Frozen(file)),
            None => Ok(()),
        }
    }

    fn frozen_file(&self) -> Option<std::path::PathBuf> {
        if let Some(d) = self.dir_of(Controller::Freezer).filter(|d| !d.hierarchy.unified) {
            let file = d.dir.join("freezer.state");
            if files::read(&file).is_ok_and(|s| matches!(s.trim(), "FROZEN" | "FREEZING")) {
                return Some(file);
            }
        }
        let unified = self.dirs.iter().find(|d| d.hierarchy.unified)?;
        crate::v2::frozen_file(&unified.dir)
    }

    fn freeze_until_frozen(&self, file: &std::path::Path) -> Result<(), CgroupError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            files::write(file, "FROZEN")?;
            if files::read(file)?.trim() == "FROZEN" {
                return Ok(());
            }
            if start.elapsed() >= FREEZE_PATIENCE {
                // Leave the container running rather than half frozen.
                if let Err(e) = files::write(file, "THAWED") {
                    tracing::warn!(error = %e, "thawing after a failed freeze");
                }
                return Err(CgroupError::FreezeTimeout { path: file.to_path_buf(), millis: FREEZE_PATIENCE.as_millis() as u64 });
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

impl Probe for V1Manager {
    fn placement(&self, c: Controller) -> Placement {
        match self.dir_of(c) {
            None => Placement::Absent,
            Some(d) if d.hierarchy.unified => Placement::V2,
            Some(_) => Placement::V1,
        }
    }

    fn exists(&self, c: Controller, file: &str) -> bool {
        self.dir_of(c).is_some_and(|d| d.dir.join(file).exists())
    }

    fn read(&self, c: Controller, file: &str) -> Option<String> {
        self.dir_of(c).and_then(|d| crate::files::read_text(d.dir.join(file)).ok())
    }
}

impl CgroupManager for V1Manager {
    fn prepare_self_join(&self, create: bool) -> Result<Option<crate::SelfJoin>, CgroupError> {
        if create {
            self.create_dirs()?;
        }
        let mut join = crate::SelfJoin { tasks: Vec::new(), v2_dir: None, v2_procs: None };
        for d in &self.dirs {
            if d.hierarchy.unified {
                let fd = std::fs::File::open(&d.dir).map_err(|e| CgroupError::io("open", &d.dir, e))?;
                join.v2_dir = Some(fd.into());
                join.v2_procs = Some(d.dir.join("cgroup.procs"));
            } else {
                join.tasks.push(d.dir.join("tasks"));
            }
        }
        Ok(Some(join))
    }

    fn apply(&self, pid: i32) -> Result<(), CgroupError> {
        self.create_dirs()?;
        self.add_task(pid)
    }

    fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for d in &self.dirs {
            files::write(&d.dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    fn set_resources(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let wants_hugetlb = r.hugepage_limits().as_ref().is_some_and(|l| !l.is_empty());
        if let Some(d) = self.dir_of(Controller::Hugetlb).filter(|d| wants_hugetlb && d.hierarchy.unified) {
            setup::enable_in_ancestors(&d.hierarchy.mountpoint, &d.dir, "hugetlb")?;
        }
        for w in translate(r, self)? {
            let d = self.need_dir(w.controller)?;
            files::write(&d.dir.join(&w.file), &w.value)?;
        }
        Ok(())
    }

    fn freeze(&self, state: FreezerState) -> Result<(), CgroupError> {
        let file = self.need_dir(Controller::Freezer)?.dir.join("freezer.state");
        match state {
            FreezerState::Thawed => files::write(&file, "THAWED"),
            FreezerState::Frozen => self.freeze_until_frozen(&file),
        }
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(self.frozen_file().is_some())
    }

    fn stats(&self) -> Result<crate::stats::Stats, CgroupError> {
        let dir = |c| self.dir_of(c).map(|d| d.dir.as_path());
        let hugetlb = self.dir_of(Controller::Hugetlb).map(|d| (d.dir.as_path(), d.hierarchy.unified));
        Ok(crate::stats::read_v1(&crate::stats::V1Dirs {
            cpu: dir(Controller::Cpu),
            cpuacct: dir(Controller::Cpuacct),
            memory: dir(Controller::Memory),
            pids: dir(Controller::Pids),
            blkio: dir(Controller::Blkio),
            hugetlb,
        }))
    }

    fn oom_eventfd(&self) -> Result<Option<std::os::fd::OwnedFd>, CgroupError> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let Some(d) = self.dir_of(Controller::Memory) else {
            return Ok(None);
        };
        let control = d.dir.join("memory.oom_control");
        let file = std::fs::File::open(&control).map_err(|source| CgroupError::Io { op: "open", path: control.clone(), source })?;
        // SAFETY: eventfd returns a new fd or -1.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(CgroupError::Io { op: "create an eventfd for", path: control, source: std::io::Error::last_os_error() });
        }
        // SAFETY: a fresh fd from the kernel.
        let efd = unsafe { OwnedFd::from_raw_fd(efd) };
        files::write(&d.dir.join("cgroup.event_control"), &format!("{} {}", efd.as_raw_fd(), file.as_raw_fd()))?;
        Ok(Some(efd))
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let best = PIDS_FROM.iter().find_map(|c| self.dirs.iter().find(|d| d.hierarchy.has_v1(c))).or_else(|| self.dirs.first());
        match best {
            Some(d) => files::pids_recursive(&d.dir),
            None => Ok(Vec::new()),
        }
    }

    fn remove(&self) -> Result<(), CgroupError> {
        let mut first_error = None;
        // Frozen tasks never leave: no point waiting for them.
        let patience = if self.frozen_file().is_some() { Duration::ZERO } else { REMOVE_PATIENCE };
        for d in &self.dirs {
            if let Err(e) = files::remove_tree(&d.dir, patience) {
                tracing::warn!(error = %e, "removing cgroup");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn views(&self) -> Vec<CgroupView> {
        self.dirs
            .iter()
            .map(|d| {
                let h = &d.hierarchy;
                let names: Vec<String> = h.controllers.iter().map(|c| c.strip_prefix("name=").unwrap_or(c).to_string()).collect();
                let (name, aliases) = if h.unified {
                    ("unified".to_string(), Vec::new())
                } else if names.len() > 1 {
                    (names.join(","), names)
                } else {
                    (names.into_iter().next().unwrap_or_default(), Vec::new())
                };
                CgroupView { name, aliases, host_dir: d.dir.clone() }
            })
            .collect()
    }

    fn state(&self) -> CgroupState {
        CgroupState { driver: Driver::V1, path: self.path.clone(), dirs: self.dirs.clone() }
    }
}

#[cfg(test)]
mod tests;
