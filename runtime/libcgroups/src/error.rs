//! The one error type of libcgroups: what was attempted, on which file, and why it failed.
//!
//! Messages are lowercase and end without a period; the io error stays the `source`, so a
//! caller that prints the chain gets `write "1024" to "/sys/fs/cgroup/cpu/x/cpu.shares": ...`.

use std::{io, path::PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A filesystem operation (`op`: "read", "create directory", ...) failed on `path`.
    #[error("{op} {path:?}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing `value` to the control file `path` failed.
    #[error("write {value:?} to {path:?}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    /// A line of mountinfo, `/proc/<pid>/cgroup` or a control file did not parse.
    #[error("parse {file}: {reason} in line {line:?}")]
    Parse { file: String, line: String, reason: &'static str },
    #[error("no cgroup hierarchy is mounted")]
    NoHierarchy,
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath { path: PathBuf, reason: &'static str },
    /// The calling process has no cgroup in a mounted hierarchy, or one outside its mount.
    #[error("own cgroup in hierarchy {hierarchy:?}: {reason}")]
    OwnCgroup { hierarchy: String, reason: &'static str },
    /// A resource needs a controller that no hierarchy carries.
    #[error("cgroup controller {0:?} is not mounted")]
    NotMounted(&'static str),
    /// A resource value the rules reject before touching the kernel.
    #[error("invalid {field} {value}: {reason}")]
    InvalidResource { field: String, value: String, reason: &'static str },
    /// A `linux.resources.unified` entry that cannot be written.
    #[error("linux.resources.unified key {key:?}: {reason}")]
    UnifiedKey { key: String, reason: &'static str },
    #[error("{0} requires cgroup v2")]
    RequiresV2(&'static str),
    #[error("{0} is not supported yet")]
    NotSupportedYet(String),
    #[error("freezing {path:?} did not reach FROZEN within {millis} ms")]
    FreezeTimeout { path: PathBuf, millis: u64 },
    /// The container's cgroup already exists and is frozen: a process put there would hang.
    #[error("container's cgroup unexpectedly frozen: {0:?}; thaw it or choose another cgroupsPath")]
    Frozen(PathBuf),
    /// cgroup v2 allows controllers only in cgroups without processes of their own.
    #[error("cannot enable controllers in {0:?}: it holds processes itself (cgroup v2 \"no internal processes\" rule); choose a cgroupsPath outside it")]
    InternalProcesses(PathBuf),
    /// A call to systemd over D-Bus failed.
    #[error("systemd: {op}")]
    Systemd {
        op: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A systemd unit did not reach the state the driver waited for.
    #[error("systemd unit {unit} is {state}, expected {wanted}")]
    UnitState { unit: String, state: String, wanted: String },
    /// A stored `CgroupState` that cannot describe cgroup directories of this host.
    #[error("invalid cgroup state: {0}")]
    InvalidState(String),
}

impl CgroupError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        CgroupError::Io { op, path: path.into(), source }
    }
}
