//! youki's container engine: config.json is parsed and turned into a `Plan` by pure code
//! (`plan`, `validate`, `mount_options`), then applied by small effectful steps (`create`,
//! `init`, `rootfs`, `identity`, `tty`), with the container's state on disk (`state`). The
//! last step, running the container's process, is an `executor::Executor`.

pub mod cgroup_ops;
pub mod channel;
pub mod checkpoint;
pub mod clone;
pub mod cpu_list;
pub mod create;
pub mod criu;
pub mod criu_plan;
pub mod dev;
pub mod dmz;
pub mod error;
pub mod exec;
pub mod exec_cgroup;
pub mod failpoint;
pub mod executor;
pub mod features;
pub mod hooks;
pub mod host;
pub mod identity;
pub mod idmap;
pub mod idmap_tree;
pub mod in_root;
pub mod init;
pub mod intel_rdt;
pub mod lifecycle;
pub mod lsm;
pub mod masks;
pub mod mempolicy;
pub mod mount_api;
pub mod mount_options;
pub mod mountinfo;
pub mod namespaces;
pub mod net_devices;
pub mod netlink;
pub mod oci_version;
pub mod pidfd_socket;
pub mod plan;
pub mod process_extra;
pub mod process_setup;
pub mod procfs;
pub mod restore;
pub mod rfc3339;
pub mod rootfs;
pub mod rootless;
pub mod run;
pub mod sched;
pub mod seccomp;
pub mod seccomp_bpf;
pub mod signal;
pub mod spec_default;
pub mod stage;
pub mod state;
pub mod syserror;
pub mod teardown;
pub mod telemetry;
pub mod timeline;
pub mod tty;
pub mod tty_proxy;
pub mod userns_clone;
pub mod userns_maps;
pub mod validate;

pub use error::ContainerError;

/// Where a host NOTIFY_SOCKET appears inside the container.
pub const NOTIFY_SOCKET_IN_CONTAINER: &str = "/run/notify/notify.sock";
