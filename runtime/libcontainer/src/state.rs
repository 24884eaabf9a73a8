//! The on-disk state of one container: `<root>/<id>/state.json` (versioned, written atomically),
//! the exec fifo beside it, a lock, and the status derived from the live process.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::namespaces::NsKind;

/// Bumped when the format changes incompatibly; older formats are read by `load`.
pub const FORMAT: u32 = 1;
pub const STATE_FILE: &str = "state.json";
pub const FIFO: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What later commands need to manage a container that an earlier `create` made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub format: u32,
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (field 22 of /proc/PID/stat), to tell it from a reused pid.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner_uid: u32,
    pub status: Status,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: Option<libcgroups::CgroupState>,
    #[serde(default)]
    pub poststart: Option<Vec<oci_spec::runtime::Hook>>,
    #[serde(default)]
    pub poststop: Option<Vec<oci_spec::runtime::Hook>>,
    /// Namespaces the container created (the ones `exec` will join through /proc/PID/ns).
    #[serde(default)]
    pub namespaces: Vec<NsKind>,
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// The container's seccomp profile, which `exec` applies to its processes too.
    #[serde(default)]
    pub seccomp: Option<crate::seccomp::Profile>,
    /// The container's personality(2) persona (linux.personality), which `exec` applies too.
    #[serde(default)]
    pub personality: Option<u64>,
    /// The traceparent of the `create` span, which start, kill, delete and exec link to.
    #[serde(default)]
    pub trace_context: Option<String>,
}

/// The OCI state document: what `state` prints and what hooks read on stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

pub const OCI_VERSION: &str = "1.2.0";

impl OciState {
    pub fn for_hooks(id: &str, status: &str, pid: i32, bundle: &Path, annotations: &HashMap<String, String>) -> Self {
        OciState {
            oci_version: OCI_VERSION.to_string(),
            id: id.to_string(),
            pid,
            status: status.to_string(),
            bundle: bundle.to_path_buf(),
            rootfs: None,
            created: None,
            owner: None,
            annotations: annotations.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.', not starting with '.'")]
    BadId(String),
    #[error("{op} {path:?}")]
    Io { op: &'static str, path: PathBuf, #[source] source: std::io::Error },
    #[error("read state {path:?}")]
    Decode { path: PathBuf, #[source] source: serde_json::Error },
    #[error("state {path:?} has format {found}, newer than this youki understands ({FORMAT})")]
    TooNew { path: PathBuf, found: u32 },
    #[error("{path:?} is not a youki container")]
    Foreign { path: PathBuf },
}

/// Checks a container id the way runc does.
pub fn check_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id.len() <= 1024
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok { Ok(()) } else { Err(StateError::BadId(id.to_string())) }
}

/// A container's directory under the root, held with a lock for the life of this value.
pub struct ContainerDir {
    pub path: PathBuf,
    _lock: Flock<File>,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io { op, path: path.to_path_buf(), source }
}

impl ContainerDir {
    /// Makes a new directory for `id`, failing if one exists.
    pub fn create(root: &Path, id: &str) -> Result<Self, StateError> {
        check_id(id)?;
        fs::DirBuilder::new().recursive(true).mode(0o711).create(root).map_err(io("create root directory", root))?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(StateError::Exists(id.to_string())),
            Err(e) => return Err(io("create state directory", &path)(e)),
        }
        Self::lock(path)
    }

    /// Opens and locks the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<Self, StateError> {
        check_id(id)?;
        let path = root.join(id);
        if !path.join(STATE_FILE).exists() {
            return Err(StateError::NotFound(id.to_string()));
        }
        Self::lock(path)
    }

    fn lock(path: PathBuf) -> Result<Self, StateError> {
        let f = File::open(&path).map_err(io("open state directory", &path))?;
        let lock = Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| StateError::Io { op: "lock state directory", path: path.clone(), source: e.into() })?;
        Ok(ContainerDir { path, _lock: lock })
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(FIFO)
    }

    pub fn save(&self, state: &ContainerState) -> Result<(), StateError> {
        save(&self.path, state)
    }

    pub fn load(&self) -> Result<ContainerState, StateError> {
        load(&self.path)
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<(), StateError> {
        fs::remove_dir_all(&self.path).map_err(io("remove state directory", &self.path))
    }
}

/// Writes state.json atomically: a temp file, fsync, rename.
pub fn save(dir: &Path, state: &ContainerState) -> Result<(), StateError> {
    let tmp = dir.join(".state.json.tmp");
    let path = dir.join(STATE_FILE);
    let data = serde_json::to_vec(state).map_err(|source| StateError::Decode { path: path.clone(), source })?;
    let mut f = File::create(&tmp).map_err(io("write state", &tmp))?;
    f.write_all(&data).map_err(io("write state", &tmp))?;
    fs::rename(&tmp, &path).map_err(io("rename state", &path))
}

/// Reads state.json of a container directory without locking (the file is replaced atomically).
pub fn load(dir: &Path) -> Result<ContainerState, StateError> {
    let path = dir.join(STATE_FILE);
    let data = fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound && !dir.join("state.json").exists() {
            StateError::Foreign { path: dir.to_path_buf() }
        } else {
            StateError::Io { op: "read state", path: path.clone(), source: e }
        }
    })?;
    let value: serde_json::Value = serde_json::from_slice(&data).map_err(|source| StateError::Decode { path: path.clone(), source })?;
    match value.get("format").and_then(|f| f.as_u64()) {
        None => return Err(StateError::Foreign { path: dir.to_path_buf() }),
        Some(f) if f as u32 > FORMAT => return Err(StateError::TooNew { path, found: f as u32 }),
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|source| StateError::Decode { path, source })
}

/// Start time of a process (clock ticks since boot), or None when it is gone or a zombie.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_start_time(&stat)
}

/// Field 22 of /proc/PID/stat, unless the process is a zombie or dead.
pub fn parse_stat_start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

impl ContainerState {
    /// The status as it is now: the stored one, corrected by whether the process lives and
    /// whether the exec fifo is still there.
    pub fn live_status(&self, dir: &Path) -> Status {
        if self.pid <= 0 || process_start_time(self.pid) != Some(self.pid_start_time) {
            return Status::Stopped;
        }
        // Paused is what the freezer says now (as runc reads it), whoever froze the cgroup;
        // the stored status only where no freezer file can be read.
        match self.cgroup.as_ref().and_then(|c| c.frozen()) {
            Some(true) => return Status::Paused,
            None if self.status == Status::Paused => return Status::Paused,
            _ => {}
        }
        if dir.join(FIFO).exists() { Status::Created } else { Status::Running }
    }

    pub fn to_oci(&self, status: Status) -> OciState {
        OciState {
            oci_version: OCI_VERSION.to_string(),
            id: self.id.clone(),
            pid: if status == Status::Stopped { 0 } else { self.pid },
            status: status.to_string(),
            bundle: self.bundle.clone(),
            rootfs: Some(self.rootfs.clone()),
            created: Some(self.created.clone()),
            owner: Some(user_name(self.owner_uid)),
            annotations: self.annotations.clone(),
        }
    }
}

/// The owner of the state directory, as runc reports it.
pub fn dir_owner(dir: &Path) -> u32 {
    fs::metadata(dir).map(|m| m.uid()).unwrap_or(0)
}

/// The user name for a uid from /etc/passwd (a static binary has no NSS), else the number.
pub fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id: u32 = f.nth(1)?.parse().ok()?;
                (id == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// Opens the exec fifo directory of a container as O_PATH, for the child to reach the fifo
/// after pivot_root.
pub fn open_dir_path(dir: &Path) -> Result<std::os::fd::OwnedFd, StateError> {
    nix::fcntl::open(dir, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| StateError::Io { op: "open state directory", path: dir.to_path_buf(), source: e.into() })
}

/// The ids in a root directory, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let mut ids = Vec::new();
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(io("read root directory", root)(e)),
    };
    for entry in rd.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            if let Some(name) = entry.file_name().to_str() {
                ids.push(name.to_string());
            }
        }
    }
    ids.sort();
    Ok(ids)
}


#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str) -> ContainerState {
        ContainerState {
            format: FORMAT,
            id: id.into(),
            pid: 1,
            pid_start_time: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00.000000000Z".into(),
            owner_uid: 0,
            status: Status::Created,
            annotations: Default::default(),
            cgroup: None,
            poststart: None,
            poststop: None,
            namespaces: vec![NsKind::Pid],
            systemd_cgroup: false,
            seccomp: None,
            personality: None,
            trace_context: None,
        }
    }

    #[test]
    fn ids() {
        assert!(check_id("abc-1.2_x+y").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_save_load_and_duplicates() {
        let d = tempfile::tempdir().unwrap();
        let dir = ContainerDir::create(d.path(), "c1").unwrap();
        dir.save(&sample("c1")).unwrap();
        assert_eq!(dir.load().unwrap().id, "c1");
        assert!(matches!(ContainerDir::create(d.path(), "c1"), Err(StateError::Exists(_))));
        assert_eq!(list_ids(d.path()).unwrap(), vec!["c1".to_string()]);
        dir.remove().unwrap();
        assert!(matches!(ContainerDir::open(d.path(), "c1"), Err(StateError::NotFound(_))));
    }

    #[test]
    fn foreign_and_newer_formats_are_named() {
        let d = tempfile::tempdir().unwrap();
        let foreign = d.path().join("runc1");
        fs::create_dir(&foreign).unwrap();
        fs::write(foreign.join("state.json"), br#"{"id":"runc1","init_process_pid":5}"#).unwrap();
        assert!(matches!(load(&foreign), Err(StateError::Foreign { .. })));
        let newer = d.path().join("new");
        fs::create_dir(&newer).unwrap();
        fs::write(newer.join("state.json"), br#"{"format":99}"#).unwrap();
        assert!(matches!(load(&newer), Err(StateError::TooNew { found: 99, .. })));
    }

    #[test]
    fn stat_parsing() {
        let line = "123 (my (odd) name) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat_start_time(line), Some(98765));
        let zombie = "123 (x) Z 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat_start_time(zombie), None);
    }

    #[test]
    fn status_of_a_dead_pid_is_stopped() {
        let d = tempfile::tempdir().unwrap();
        let mut s = sample("x");
        s.pid = i32::MAX - 1;
        assert_eq!(s.live_status(d.path()), Status::Stopped);
        assert_eq!(s.to_oci(Status::Stopped).pid, 0);
        let mut me = sample("me");
        me.pid = std::process::id() as i32;
        me.pid_start_time = process_start_time(me.pid).unwrap();
        assert_eq!(me.live_status(d.path()), Status::Running);
        fs::write(d.path().join(FIFO), b"").unwrap();
        assert_eq!(me.live_status(d.path()), Status::Created);
    }
}
