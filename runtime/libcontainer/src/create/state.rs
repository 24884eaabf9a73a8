//! The on-disk state of one container: `<root>/<id>/state.json` (versioned, written atomically),
//! the exec fifo beside it, a lock, and the status derived from the live process.
//!
//! The root is 0700 and state files 0600 (saved hooks' env may hold secrets); a container's
//! directory is 0711 so that an init running as another uid (a user namespace) can still open
//! the exec fifo through its O_PATH fd of the directory. `create` writes a first record
//! ("creating", pid 0, the cgroup) before clone, the pid and its start time right after, and
//! the full state at "created"; every write is a temp file, fsync, rename, fsync of the
//! directory. What a directory holds is decoded into a [`Record`], which `delete --force`
//! can tear down whatever it is.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::namespaces::NsKind;

/// Bumped when the format changes incompatibly; older formats are read by `load`.
pub const FORMAT: u32 = 1;
pub const STATE_FILE: &str = "state.json";
/// What `delete --force` needs when state.json is gone or unreadable (the cgroup), written
/// beside it with the first record of `create` and `restore` and never rewritten after.
pub const RECOVERY_FILE: &str = "recovery.json";
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
    /// Namespaces the container joined by path (linux.namespaces[].path); `None` in a record
    /// of a youki that did not note them, for which `exec` compares every kind.
    #[serde(default)]
    pub joined_namespaces: Option<Vec<NsKind>>,
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// The container's seccomp profile, which `exec` applies to its processes too.
    #[serde(default)]
    pub seccomp: Option<crate::process::seccomp::Profile>,
    /// The container's personality(2) persona (linux.personality), which `exec` applies too.
    #[serde(default)]
    pub personality: Option<u64>,
    /// The traceparent of the `create` span, which start, kill, delete and exec link to.
    #[serde(default)]
    pub trace_context: Option<String>,
    /// The `youki create` (or `restore`) process that writes this record while it is
    /// "creating", and its start time: when it is gone, the create was interrupted.
    #[serde(default)]
    pub creator_pid: i32,
    #[serde(default)]
    pub creator_start_time: u64,
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

pub const OCI_VERSION: &str = "1.3.0";

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
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read state {path:?}")]
    Decode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("state {path:?} has format {found}, newer than this youki understands ({FORMAT})")]
    TooNew { path: PathBuf, found: u32 },
    #[error("{path:?} is not a youki container")]
    Foreign { path: PathBuf },
    #[error("container {id:?} has no readable state ({why}): remove it with delete --force")]
    Broken { id: String, why: String },
    #[error("container {0:?} was deleted while it was being created")]
    Gone(String),
}

/// Checks a container id the way runc does.
pub fn check_id(id: &str) -> Result<(), StateError> {
    let ok =
        !id.is_empty() && !id.starts_with('.') && id.len() <= 1024 && id.chars().all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StateError::BadId(id.to_string()))
    }
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
        fs::DirBuilder::new().recursive(true).mode(0o700).create(root).map_err(io("create root directory", root))?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(StateError::Exists(id.to_string())),
            Err(e) => return Err(io("create state directory", &path)(e)),
        }
        Self::lock(path)
    }

    /// Opens and locks the directory of an existing container (with or without a readable
    /// state file: `load` tells). Hold it only around reading and writing state, never
    /// across a hook, the exec fifo or a wait.
    pub fn open(root: &Path, id: &str) -> Result<Self, StateError> {
        check_id(id)?;
        let path = root.join(id);
        if !path.is_dir() {
            return Err(StateError::NotFound(id.to_string()));
        }
        match Self::lock(path) {
            Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(StateError::NotFound(id.to_string()))
            }
            other => other,
        }
    }

    fn lock(path: PathBuf) -> Result<Self, StateError> {
        let f = File::open(&path).map_err(io("open state directory", &path))?;
        let lock = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| StateError::Io {
            op: "lock state directory",
            path: path.clone(),
            source: e.into(),
        })?;
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

    /// What the directory holds, whatever it is.
    pub fn record(&self) -> Result<Record, StateError> {
        read_record(&self.path)
    }

    /// Saves `state` only if the directory still holds the "creating" record of
    /// `creator_pid`: a `delete --force` may have removed (or a new create replaced) it.
    pub fn save_if_creator(&self, state: &ContainerState, creator_pid: i32) -> Result<(), StateError> {
        match self.record()? {
            Record::State(cur) if cur.status == Status::Creating && cur.creator_pid == creator_pid => self.save(state),
            _ => Err(StateError::Gone(state.id.clone())),
        }
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<(), StateError> {
        fs::remove_dir_all(&self.path).map_err(io("remove state directory", &self.path))
    }
}

/// Writes state.json crash-consistently: a new temp file (0600), write, fsync, rename over
/// state.json, fsync the directory. On any failure (ENOSPC...) the temp file is removed and
/// the old state.json, if any, stays whole.
pub fn save(dir: &Path, state: &ContainerState) -> Result<(), StateError> {
    let path = dir.join(STATE_FILE);
    let data = serde_json::to_vec(state).map_err(|source| StateError::Decode { path: path.clone(), source })?;
    write_atomic(dir, &path, &data, true)
}

/// The cgroup and init of a container, for a `delete --force` that cannot read state.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub id: String,
    pub pid: i32,
    pub pid_start_time: u64,
    pub cgroup: Option<libcgroups::CgroupState>,
}

impl Recovery {
    pub fn of(st: &ContainerState) -> Self {
        Recovery { id: st.id.clone(), pid: st.pid, pid_start_time: st.pid_start_time, cgroup: st.cgroup.clone() }
    }
}

/// Writes recovery.json as `save` writes state.json, but without the fsyncs: it only leads
/// to live kernel objects (cgroup, processes), which do not outlive the crash of the kernel
/// that fsync guards against; the rename still keeps it whole if youki dies.
pub fn save_recovery(dir: &Path, st: &ContainerState) -> Result<(), StateError> {
    let path = dir.join(RECOVERY_FILE);
    let data = serde_json::to_vec(&Recovery::of(st)).map_err(|source| StateError::Decode { path: path.clone(), source })?;
    write_atomic(dir, &path, &data, false)
}

/// recovery.json, when it is there and reads.
pub fn read_recovery(dir: &Path) -> Option<Recovery> {
    serde_json::from_slice(&fs::read(dir.join(RECOVERY_FILE)).ok()?).ok()
}

/// The temp file, fsync, rename and directory fsync of `save` (the fsyncs only if `durable`).
pub fn write_atomic(dir: &Path, path: &Path, data: &[u8], durable: bool) -> Result<(), StateError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()
        } else {
            Ok(())
        }
    })();
    let renamed = written.and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = renamed {
        let _ = fs::remove_file(&tmp);
        return Err(StateError::Io { op: "write state", path: path.to_path_buf(), source: e });
    }
    if !durable {
        return Ok(());
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("sync state directory", dir))
}

/// What a container's directory holds.
// One lives per command for a moment: boxing the whole state would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Record {
    /// A whole state (which may be a "creating" record).
    State(ContainerState),
    /// No state file: a create interrupted before its first record, or one by an older youki.
    Missing,
    /// A state file that does not decode; `cgroup` when that part still reads.
    Corrupt { why: String, cgroup: Option<libcgroups::CgroupState> },
    /// A format newer than this youki understands.
    TooNew { found: u32 },
    /// Another runtime's state.json (no `format` field).
    Foreign,
}

/// Decodes state.json's bytes (`None`: no file). Pure.
pub fn decode(data: Option<&[u8]>) -> Record {
    let Some(data) = data else { return Record::Missing };
    // The common case, a whole state of our format, straight into the struct (`list` reads
    // one per container); anything else takes the generic value to be told apart.
    if let Ok(st) = serde_json::from_slice::<ContainerState>(data) {
        if st.format <= FORMAT {
            return Record::State(st);
        }
    }
    let value: serde_json::Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(e) => return Record::Corrupt { why: e.to_string(), cgroup: None },
    };
    match value.get("format").and_then(|f| f.as_u64()) {
        None if value.is_object() => return Record::Foreign,
        None => return Record::Corrupt { why: "not a JSON object".into(), cgroup: None },
        Some(f) if f > FORMAT as u64 => return Record::TooNew { found: f.min(u32::MAX as u64) as u32 },
        Some(_) => {}
    }
    let cgroup = value.get("cgroup").and_then(|c| serde_json::from_value(c.clone()).ok());
    match serde_json::from_value(value) {
        Ok(st) => Record::State(st),
        Err(e) => Record::Corrupt { why: e.to_string(), cgroup },
    }
}

/// Reads and decodes a container directory's state file, without locking (the file is
/// replaced atomically).
pub fn read_record(dir: &Path) -> Result<Record, StateError> {
    let path = dir.join(STATE_FILE);
    match fs::read(&path) {
        Ok(data) => Ok(decode(Some(&data))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.is_dir() {
                Ok(Record::Missing)
            } else {
                Err(StateError::NotFound(dir_id(dir)))
            }
        }
        Err(e) => Err(StateError::Io { op: "read state", path, source: e }),
    }
}

fn dir_id(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads state.json of a container directory without locking: a whole state, or an error
/// that says what is there instead.
pub fn load(dir: &Path) -> Result<ContainerState, StateError> {
    let path = dir.join(STATE_FILE);
    match read_record(dir)? {
        Record::State(st) => Ok(st),
        Record::Missing => Err(StateError::Broken { id: dir_id(dir), why: "no state file".into() }),
        Record::Corrupt { why, .. } => Err(StateError::Broken { id: dir_id(dir), why: format!("corrupt {path:?}: {why}") }),
        Record::TooNew { found } => Err(StateError::TooNew { path, found }),
        Record::Foreign => Err(StateError::Foreign { path: dir.to_path_buf() }),
    }
}

/// Start time of a process (clock ticks since boot), or None when it is gone or a zombie.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = libcgroups::read_text(format!("/proc/{pid}/stat")).ok()?;
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
        if self.status == Status::Creating {
            return if self.creator_alive() { Status::Creating } else { Status::Stopped };
        }
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
        if dir.join(FIFO).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// Whether the `create` writing this "creating" record still runs.
    pub fn creator_alive(&self) -> bool {
        self.creator_pid > 0 && process_start_time(self.creator_pid) == Some(self.creator_start_time)
    }

    /// A "creating" record whose creator is gone: a create that was interrupted.
    pub fn interrupted(&self) -> bool {
        self.status == Status::Creating && !self.creator_alive()
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

/// The annotation `state` and `list` add to a container whose record is not whole, saying
/// what is wrong and that `delete --force` removes it.
pub const RECOVERY_ANNOTATION: &str = "org.youki.recovery";

/// What `state` and `list` show for `record` of container `id` in `dir`: an interrupted
/// create, a corrupt or missing state file show as "stopped" with pid 0 and
/// `RECOVERY_ANNOTATION`; `None` for a too-new or foreign record (an error for `state`, a
/// warning for `list`).
pub fn oci_view(id: &str, record: &Record, dir: &Path) -> Option<OciState> {
    let broken = |why: String| {
        let mut oci = OciState::for_hooks(id, "stopped", 0, Path::new(""), &HashMap::new());
        oci.owner = Some(user_name(dir_owner(dir)));
        oci.annotations.insert(RECOVERY_ANNOTATION.into(), format!("{why}: remove it with delete --force"));
        oci
    };
    match record {
        Record::State(st) => {
            let mut oci = st.to_oci(st.live_status(dir));
            if st.interrupted() {
                oci.annotations.insert(
                    RECOVERY_ANNOTATION.into(),
                    format!("create interrupted (youki pid {} is gone): remove it with delete --force", st.creator_pid),
                );
            }
            Some(oci)
        }
        Record::Missing => Some(broken("no state file".into())),
        Record::Corrupt { why, .. } => Some(broken(format!("corrupt state file: {why}"))),
        Record::TooNew { .. } | Record::Foreign => None,
    }
}

/// The owner of the state directory, as runc reports it.
pub fn dir_owner(dir: &Path) -> u32 {
    fs::metadata(dir).map(|m| m.uid()).unwrap_or(0)
}

/// The user name for a uid from /etc/passwd (a static binary has no NSS), else the number.
pub fn user_name(uid: u32) -> String {
    // Read once per process: `list` asks for every container.
    static PASSWD: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PASSWD
        .get_or_init(|| fs::read_to_string("/etc/passwd").ok())
        .as_deref()
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
    nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| StateError::Io { op: "open state directory", path: dir.to_path_buf(), source: e.into() })
}

/// The ids in a root directory, sorted. A name starting with '.' is no id (the seccomp cache
/// lives in `.cache`).
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let mut ids = Vec::new();
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(io("read root directory", root)(e)),
    };
    for entry in rd.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            if let Some(name) = entry.file_name().to_str().filter(|n| !n.starts_with('.')) {
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
            joined_namespaces: Some(vec![]),
            systemd_cgroup: false,
            seccomp: None,
            personality: None,
            trace_context: None,
            creator_pid: 0,
            creator_start_time: 0,
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
        fs::create_dir_all(d.path().join(crate::process::seccomp_cache::DIR)).unwrap();
        assert_eq!(list_ids(d.path()).unwrap(), vec!["c1".to_string()]);
        dir.remove().unwrap();
        assert!(matches!(ContainerDir::open(d.path(), "c1"), Err(StateError::NotFound(_))));
        // A bare directory opens; loading it says what is wrong.
        fs::create_dir(d.path().join("bare")).unwrap();
        let bare = ContainerDir::open(d.path(), "bare").unwrap();
        assert_eq!(
            bare.load().unwrap_err().to_string(),
            r#"container "bare" has no readable state (no state file): remove it with delete --force"#
        );
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
    fn records_decode_whatever_is_on_disk() {
        assert!(matches!(decode(None), Record::Missing));
        assert!(matches!(decode(Some(b"{\"format\":1,\"id\":")), Record::Corrupt { cgroup: None, .. }));
        assert!(matches!(decode(Some(b"")), Record::Corrupt { .. }));
        assert!(matches!(decode(Some(b"[1]")), Record::Corrupt { .. }));
        assert!(matches!(decode(Some(br#"{"format":2}"#)), Record::TooNew { found: 2 }));
        assert!(matches!(decode(Some(br#"{"id":"r","init_process_pid":5}"#)), Record::Foreign));
        // Whole JSON with a bad field: the cgroup part still reads, for delete --force.
        let cg = r#"{"driver":"v1","path":"/youki/x","dirs":[]}"#;
        let text = format!(r#"{{"format":1,"id":"x","pid":"nope","cgroup":{cg}}}"#);
        match decode(Some(text.as_bytes())) {
            Record::Corrupt { cgroup: Some(c), .. } => assert_eq!(c.path, "/youki/x"),
            other => panic!("{other:?}"),
        }
        let mut creating = sample("c");
        creating.status = Status::Creating;
        creating.pid = 0;
        match decode(Some(&serde_json::to_vec(&creating).unwrap())) {
            Record::State(st) => assert_eq!((st.status, st.pid), (Status::Creating, 0)),
            other => panic!("{other:?}"),
        }
        // A whole state of a newer format is too new, though every field would read.
        let mut newer = sample("n");
        newer.format = FORMAT + 1;
        let found = FORMAT + 1;
        assert!(matches!(decode(Some(&serde_json::to_vec(&newer).unwrap())), Record::TooNew { found: f } if f == found));
        // A repeated key (the struct refuses it) reads as the generic value does: the last wins.
        let twice = serde_json::to_string(&sample("t")).unwrap().replacen('{', r#"{"pid":7,"#, 1);
        match decode(Some(twice.as_bytes())) {
            Record::State(st) => assert_eq!(st.pid, 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn creating_shows_by_its_creator() {
        let d = tempfile::tempdir().unwrap();
        let mut st = sample("c");
        st.status = Status::Creating;
        st.pid = 0;
        st.creator_pid = std::process::id() as i32;
        st.creator_start_time = process_start_time(st.creator_pid).unwrap();
        assert_eq!(st.live_status(d.path()), Status::Creating);
        let oci = oci_view("c", &Record::State(st.clone()), d.path()).unwrap();
        assert_eq!(oci.status, "creating");
        assert!(!oci.annotations.contains_key(RECOVERY_ANNOTATION));
        st.creator_pid = i32::MAX - 1;
        assert!(st.interrupted());
        let oci = oci_view("c", &Record::State(st), d.path()).unwrap();
        assert_eq!((oci.status.as_str(), oci.pid), ("stopped", 0));
        assert!(oci.annotations[RECOVERY_ANNOTATION].contains("create interrupted"));
        let oci = oci_view("c", &Record::Corrupt { why: "eof".into(), cgroup: None }, d.path()).unwrap();
        assert_eq!(oci.status, "stopped");
        assert!(oci.annotations[RECOVERY_ANNOTATION].starts_with("corrupt state file: eof"));
        assert!(oci_view("c", &Record::TooNew { found: 9 }, d.path()).is_none());
    }

    #[test]
    fn saves_are_private_and_leave_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let dir = ContainerDir::create(&root, "c1").unwrap();
        dir.save(&sample("c1")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&dir.path), 0o711);
        assert_eq!(mode(&dir.path.join(STATE_FILE)), 0o600);
        let names: Vec<_> = fs::read_dir(&dir.path).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(STATE_FILE)]);
        save_recovery(&dir.path, &sample("c1")).unwrap();
        assert_eq!(mode(&dir.path.join(RECOVERY_FILE)), 0o600);
        assert_eq!(read_recovery(&dir.path), Some(Recovery::of(&sample("c1"))));
        // A failed write (here: the directory is gone) names the path and leaves nothing.
        let gone = d.path().join("gone");
        let err = save(&gone, &sample("g")).unwrap_err().to_string();
        assert!(err.starts_with("write state ") && err.contains("gone/state.json"), "{err}");
    }

    #[test]
    fn save_if_creator_refuses_a_replaced_record() {
        let d = tempfile::tempdir().unwrap();
        let dir = ContainerDir::create(d.path(), "c1").unwrap();
        let mut st = sample("c1");
        st.status = Status::Creating;
        st.creator_pid = 42;
        dir.save(&st).unwrap();
        assert!(dir.save_if_creator(&st, 42).is_ok());
        assert!(matches!(dir.save_if_creator(&st, 43), Err(StateError::Gone(_))));
        fs::remove_file(dir.path.join(STATE_FILE)).unwrap();
        assert!(matches!(dir.save_if_creator(&st, 42), Err(StateError::Gone(_))));
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
