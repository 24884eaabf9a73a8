//! The last step of a container: running its process inside the fully set-up container.
//! An [`Executor`] either declines a workload or prepares it (before `create` reports ready)
//! and launches it (after `start`). The default executor execs `args[0]`; others, such as
//! the wasm executor, run the workload in the init process itself.
//!
//! ```text
//!  parent (create, exec)            child, inside the container
//!  ---------------------            ---------------------------
//!  can_handle(workload)?            namespaces, mounts, pivot_root, rlimits, user, caps, cwd
//!    no: "cannot run ..." error,    prepare(workload) -> Launch   (errors travel home as
//!    nothing is made                                               ChildError, stage "exec")
//!                                   Ready ... `youki start` ...
//!                                   launch(Handover)  -> execve, or run and return the
//!                                                        exit code the process exits with
//! ```
//!
//! An embedder adds its own executor and composes it in front of the default one:
//!
//! ```
//! use libcontainer::executor::{
//!     Composed, DefaultExecutor, Declined, Executor, ExecutorError, Handover, Launch, Workload,
//! };
//!
//! /// Runs containers whose args[0] is "builtin:true" without exec'ing anything.
//! struct BuiltinTrue;
//!
//! struct Prepared;
//!
//! impl Launch for Prepared {
//!     fn launch(self: Box<Self>, handover: Handover) -> Result<i32, ExecutorError> {
//!         // The workload starts here: the runtime's last fds close now.
//!         handover.begin();
//!         Ok(0)
//!     }
//! }
//!
//! impl Executor for BuiltinTrue {
//!     fn name(&self) -> &str {
//!         "builtin"
//!     }
//!     fn can_handle(&self, w: &Workload) -> Result<(), Declined> {
//!         match w.program() {
//!             "builtin:true" => Ok(()),
//!             _ => Err(Declined::new("args[0] is not a builtin")),
//!         }
//!     }
//!     fn prepare(&self, _: &Workload) -> Result<Box<dyn Launch>, ExecutorError> {
//!         Ok(Box::new(Prepared))
//!     }
//! }
//!
//! let executor = Composed::new(vec![Box::new(BuiltinTrue), Box::new(DefaultExecutor)]);
//! assert_eq!(executor.names(), ["builtin", "default"]);
//! // `executor` then goes into `CreateOptions::executor` and `ExecOptions::executor`.
//! ```

mod composed;
mod default;
#[cfg(any(feature = "wasm-wasmtime", feature = "wasm-wasmer"))]
mod wasm_common;
mod wasm_request;
#[cfg(feature = "wasm-wasmer")]
mod wasmer;
#[cfg(feature = "wasm-wasmtime")]
mod wasmtime;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

#[cfg(feature = "wasm-wasmer")]
pub use self::wasmer::WasmerExecutor;
#[cfg(feature = "wasm-wasmtime")]
pub use self::wasmtime::WasmtimeExecutor;
pub use composed::Composed;
pub use default::DefaultExecutor;
pub use wasm_request::{wasm_request, WasmRequest};

use crate::create::channel::ChildError;

/// The process a container is asked to run, validated, as an executor sees it.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    /// `process.args`; never empty.
    pub args: &'a [String],
    /// `process.env` and what the runtime adds (NOTIFY_SOCKET, LISTEN_FDS).
    pub env: &'a [String],
    /// `process.cwd`, absolute; inside the container it is already the working directory.
    pub cwd: &'a Path,
    /// The container's annotations.
    pub annotations: &'a HashMap<String, String>,
}

impl Workload<'_> {
    /// `args[0]`.
    pub fn program(&self) -> &str {
        self.args.first().map(String::as_str).unwrap_or_default()
    }
}

/// Why an executor does not take a workload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Declined(pub String);

impl Declined {
    pub fn new(reason: impl Into<String>) -> Self {
        Declined(reason.into())
    }
}

/// A failure to prepare or launch a workload. Before `start` it fails `create` (or `exec`)
/// and reaches the caller as `exec: OP: DETAIL: ERRNO`; after `start` it goes to the
/// container's stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", ChildError::from(self.clone()))]
pub struct ExecutorError {
    /// What was being done, naming the file: `load wasm module "/app.wasm"`.
    pub op: String,
    /// The errno, when a system call failed.
    pub errno: Option<i32>,
    /// Extra text when there is no errno, or the cause.
    pub detail: Option<String>,
}

impl ExecutorError {
    pub fn new(op: impl Into<String>) -> Self {
        ExecutorError { op: op.into(), errno: None, detail: None }
    }

    pub fn errno(mut self, errno: nix::Error) -> Self {
        self.errno = Some(errno as i32);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl From<ExecutorError> for ChildError {
    fn from(e: ExecutorError) -> Self {
        ChildError { stage: "exec".into(), op: e.op, errno: e.errno, detail: e.detail }
    }
}

/// The runtime's last fds in the container process: the exec fifo (its closing tells
/// `start` that the workload runs), the channel to the parent, the state directory, and the
/// copies of fds that this process inherited across clone (the caller's, the parent's end of
/// the channel). An executor that execs leaves them to close-on-exec; one that runs the
/// workload in this process calls [`Handover::begin`] right before it does.
#[derive(Debug, Default)]
pub struct Handover {
    fds: Vec<OwnedFd>,
    inherited: Vec<RawFd>,
}

impl Handover {
    pub(crate) fn new(fds: Vec<OwnedFd>, inherited: Vec<RawFd>) -> Self {
        Handover { fds, inherited }
    }

    /// Lets go of the runtime's fds, as an execve would: from here on the workload counts as
    /// started. The inherited numbers are pointed at /dev/null rather than closed, since a
    /// global (the log file) may still own one: nothing stays open through them, and no
    /// later write can land in a file the workload opens under a reused number.
    pub fn begin(self) {
        if !self.inherited.is_empty() {
            let null =
                nix::fcntl::open("/dev/null", nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty());
            for fd in &self.inherited {
                match &null {
                    // SAFETY: dup3 onto a number this process holds only as an inherited copy.
                    Ok(null) => unsafe { libc::dup3(null.as_raw_fd(), *fd, libc::O_CLOEXEC) },
                    // No /dev/null in the container: closing is the next best thing.
                    // SAFETY: as above; nothing in this process reads it any more.
                    Err(_) => unsafe { libc::close(*fd) },
                };
            }
        }
        drop(self.fds);
    }
}

/// A workload prepared inside the container, launched once the container is started.
pub trait Launch {
    /// Replaces this process (execve; returns only on failure), or runs the workload here
    /// and returns the exit code the container process exits with.
    fn launch(self: Box<Self>, handover: Handover) -> Result<i32, ExecutorError>;
}

/// The last step of a container: see the module documentation.
pub trait Executor {
    /// A short name for `features`, `info` and errors, such as "default", "wasmtime" or "wasmer".
    fn name(&self) -> &str;

    /// Whether this executor runs `workload`. Pure: it looks at the spec only. `create` and
    /// `exec` ask before they make anything, so a workload nobody takes leaves nothing behind.
    fn can_handle(&self, workload: &Workload) -> Result<(), Declined>;

    /// Inside the set-up container (user, capabilities and cwd applied; a seccomp filter
    /// with no_new_privs still to come), before `create` reports ready: finds and loads what
    /// the workload needs, so a missing or broken program fails `create`, not `start`.
    fn prepare(&self, workload: &Workload) -> Result<Box<dyn Launch>, ExecutorError>;

    /// Whether `workload` ends in an execve, whose close-on-exec lets go of the runtime's
    /// fds: then the set-up lists none for [`Handover::begin`]. Say yes only when sure; an
    /// executor that runs the workload in this process keeps the default.
    fn execs(&self, _workload: &Workload) -> bool {
        false
    }
}
