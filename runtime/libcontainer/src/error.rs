//! The errors of container operations, as the `youki` binary reports them.

use std::path::PathBuf;

use crate::create::channel::{ChannelError, ChildError};
use crate::create::state::{StateError, Status};
use crate::executor::Declined;
use crate::hooks::HookError;
use crate::namespaces::NamespaceError;
use crate::plan::validate::SpecError;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("bundle {path:?}")]
    Bundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read {path:?}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config.json {path:?}{}", if field.is_empty() || field == "." { String::new() } else { format!(" at {field}") })]
    InvalidConfig {
        path: PathBuf,
        field: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid config.json")]
    Spec(#[source] SpecError),
    #[error("rootfs {0:?} does not exist or is not a directory")]
    NoRootfs(PathBuf),
    #[error("process.terminal is true: --console-socket is required")]
    TerminalNeedsSocket,
    #[error("console socket {path:?}")]
    ConsoleSocket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("seccomp listenerPath {path:?}")]
    SeccompListener {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Seccomp(#[from] crate::process::seccomp::SeccompError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] libcgroups::CgroupError),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Criu(#[from] crate::criu::CriuError),
    #[error(transparent)]
    IntelRdt(#[from] crate::plan::intel_rdt::RdtError),
    /// A failure inside the container's init, reported by init itself.
    #[error(transparent)]
    Init(ChildError),
    #[error("container init exited before it was ready ({0}) without saying why")]
    InitDied(String),
    #[error("the container process exited before it was started")]
    InitGone,
    /// The process that ran `create` (a shim, conmon, a shell) is gone: nobody would ever
    /// start or delete the container, so the create is undone.
    #[error("the caller of create (pid {0}) exited before the container was created: undone")]
    CallerGone(i32),
    #[error("{op}")]
    Sys {
        op: String,
        #[source]
        source: nix::Error,
    },
    #[error("cannot {op} container {id:?}: it is {status}")]
    BadStatus { op: &'static str, id: String, status: Status },
    #[error("{tool}: {detail}")]
    IdMapHelper { tool: String, detail: String },
    #[error("cannot run {program:?}: {reason}")]
    NoExecutor { program: String, reason: Declined },
    #[error("{0} is not supported yet")]
    Unsupported(&'static str),
    #[error("container {0:?} has no cgroup")]
    NoCgroup(String),
    #[error("invalid --user {0:?}: expected UID[:GID]")]
    BadUser(String),
    #[error("invalid --cap {0:?}")]
    BadCapability(String),
    #[error("invalid signal {0:?}")]
    BadSignal(String),
    #[error("write pid file {path:?}")]
    PidFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    SubCgroup(#[from] crate::lifecycle::exec_cgroup::SubCgroupError),
    /// The process of `exec` (flags or `--process`), which is not the config.json's.
    #[error("invalid exec process")]
    ExecProcess(#[source] SpecError),
    /// `exec` with flags builds on the container's own process, which config.json leaves out.
    #[error("config.json of container {0:?} has no process")]
    NoProcess(String),
    #[error("pidfd socket {path:?}")]
    PidfdSocket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ContainerError {
    pub fn sys(op: impl Into<String>, source: nix::Error) -> Self {
        ContainerError::Sys { op: op.into(), source }
    }
}
