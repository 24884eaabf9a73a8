//! youki's container engine, in folders that follow the create path (docs/design/create-path.md):
//! config.json is parsed and turned into a `Plan` by pure code (`plan`), then applied by
//! small effectful steps: the parent and init (`create`, with the state on disk in
//! `create::state`), the root filesystem (`rootfs`), the process's identity, seccomp, LSM
//! labels and terminal (`process`), and network devices (`net`). The last step, running the
//! container's process, is an `executor::Executor`. The commands on an existing container
//! are in `lifecycle`, checkpoint and restore in `criu`, spans in `telemetry`.

pub mod create;
pub mod criu;
pub mod defences;
pub mod error;
pub mod error_chain;
pub mod executor;
pub mod failpoint;
pub mod features;
pub mod hooks;
pub mod lifecycle;
pub mod namespaces;
pub mod net;
pub mod plan;
pub mod process;
pub mod rfc3339;
pub mod rootfs;
pub mod syserror;
pub mod telemetry;

pub use error::ContainerError;

/// Where a host NOTIFY_SOCKET appears inside the container.
pub const NOTIFY_SOCKET_IN_CONTAINER: &str = "/run/notify/notify.sock";
