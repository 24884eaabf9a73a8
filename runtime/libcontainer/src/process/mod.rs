//! The container's process, set up by init (and by `exec`'s child) once the rootfs is
//! ready: identity (user, groups, capabilities, rlimits), seccomp, LSM labels, scheduling
//! and the terminal, applied in order by `process_setup`.

pub mod identity;
pub mod lsm;
pub mod process_setup;
pub mod sched;
pub mod seccomp;
pub mod seccomp_bpf;
pub mod seccomp_cache;
pub mod tty;
