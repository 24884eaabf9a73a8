//! The clone of init when the container joins a user namespace by path (what containerd 2.x
//! sends for a Kubernetes pod with `hostUsers: false`).
//!
//! The namespaces a container creates must belong to the user namespace it joins: the kernel
//! checks CAP_SYS_ADMIN over a mount, uts or ipc namespace's owner, and procfs is mounted for
//! the pid namespace's owner. A namespace belongs to the user namespace of the process that
//! makes it, so init must be made from inside the joined one; the runtime itself cannot go
//! there (setns into a user namespace is for good). So:
//!
//! ```text
//!  parent ── clone ──▶ joiner: setns(user ns fd, opened by the parent)
//!                              check config.json's mappings against its /proc/self maps
//!                              clone(flags | CLONE_PARENT) ──▶ init, the parent's child,
//!                              sends "ok PID" (or "err TEXT") and exits     born with its
//!  parent ◀── pipe ───────────                                              new namespaces
//!  parent reaps the joiner, goes on with init as its child                  inside the user ns
//! ```
//! A process reading its own map file sees its user namespace's maps relative to the parent
//! namespace, which is what config.json's hostIDs mean (`userns_maps`). Init is born inside
//! the user namespace: it cannot open host root's files any more, so the parent opens every
//! other namespace it joins before the clone (`namespaces::open_all`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use nix::sched::CloneFlags;

use crate::create::clone::{clone_child, Child};
use crate::plan::IdMaps;
use crate::rootfs::procfs::ProcRoot;
use crate::syserror::{Context, SysError};

/// Clones init (`child`) with `flags` inside the user namespace `userns`, after checking its
/// maps are `maps` when config.json gives them. Init is the caller's child.
pub fn clone_in(userns: BorrowedFd, maps: Option<&IdMaps>, flags: CloneFlags, child: impl FnOnce() -> i32) -> Result<Child, SysError> {
    let proc = ProcRoot::host()?;
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "make a pipe")?;
    let joiner = clone_child(CloneFlags::empty(), None, move || {
        crate::create::init::set_comm("youki:userns");
        let said = match join_and_clone(userns, &proc, maps, flags, child) {
            Ok(pid) => format!("ok {pid}"),
            Err(e) => format!("err {}: {}", e.op, e.errno.desc()),
        };
        let _ = File::from(write_end).write_all(said.as_bytes());
        0
    })
    .ctx(|| "clone the process that joins the user namespace")?;
    // Init holds a copy of the write end until its execve: no EOF to wait for. The joiner
    // writes its one short answer (atomic below PIPE_BUF) before it exits, so it is all in
    // the pipe once the joiner is reaped; a joiner that died early left no init and no writer.
    let _ = nix::sys::wait::waitpid(joiner.pid, None);
    let mut buf = [0u8; 4096];
    let n = File::from(read_end).read(&mut buf).ctx(|| "read the pid of init from the user namespace joiner")?;
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    match answer.strip_prefix("ok ").map(str::parse::<i32>) {
        Some(Ok(pid)) => {
            let pidfd = crate::create::clone::pidfd_open(pid).ok();
            Ok(Child { pid: nix::unistd::Pid::from_raw(pid), pidfd, in_cgroup: false })
        }
        _ => {
            let text = answer.strip_prefix("err ").unwrap_or("the joiner died before it said why");
            Err(SysError::new(format!("join the user namespace: {text}"), nix::Error::EINVAL))
        }
    }
}

/// The joiner: into the user namespace, the maps checked, init cloned as our parent's child.
fn join_and_clone(
    userns: BorrowedFd,
    proc: &ProcRoot,
    maps: Option<&IdMaps>,
    flags: CloneFlags,
    child: impl FnOnce() -> i32,
) -> Result<i32, SysError> {
    nix::sched::setns(userns.as_fd(), CloneFlags::CLONE_NEWUSER).ctx(|| "setns")?;
    if let Some(given) = maps {
        crate::create::userns_maps::check_own(proc, given)?;
    }
    let init = clone_child(flags | CloneFlags::CLONE_PARENT, None, child).ctx(|| "clone init")?;
    Ok(init.pid.as_raw())
}
