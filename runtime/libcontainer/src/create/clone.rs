//! Starts the child with one clone3(2), falling back to clone(2) on kernels without it. Every
//! child dies with the runtime process that started it (PR_SET_PDEATHSIG) until it disarms
//! that at its handover (`disarm_parent_death`).

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::unistd::Pid;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// A pidfd for any process (not only our children): readable once it has exited.
pub fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd, nix::Error> {
    // SAFETY: pidfd_open returns a new fd that nothing else owns, or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
}

/// In a new child: SIGKILL when the parent dies, and exit now if it already has.
fn die_with_parent(parent: Option<OwnedFd>) {
    arm_parent_death();
    if let Some(fd) = parent {
        use std::os::fd::AsFd;
        let mut fds = [nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN)];
        if matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0) {
            // SAFETY: leaving at once; the parent that would handle us is gone.
            unsafe { libc::_exit(1) }
        }
    }
}

/// SIGKILL when the parent dies; again after a uid or gid change, which clears it.
pub fn arm_parent_death() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
}

/// At the handover (the runtime has committed the state): the child no longer dies with the
/// runtime. Call it before any setuid/setgid too (the kernel clears it then anyway), and
/// from there on let every step end on the channel, whose EOF says the runtime is gone.
pub fn disarm_parent_death() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
}

/// Whether the death signal is armed in this process (for tests).
pub fn parent_death_signal() -> i32 {
    let mut sig: libc::c_int = 0;
    // SAFETY: PR_GET_PDEATHSIG writes one int through the pointer.
    unsafe { libc::prctl(libc::PR_GET_PDEATHSIG, &mut sig as *mut libc::c_int, 0, 0, 0) };
    sig
}

/// The child as the parent sees it.
pub struct Child {
    pub pid: Pid,
    /// A pidfd when clone3 gave one.
    pub pidfd: Option<OwnedFd>,
    /// True when the child was born in the cgroup passed to `clone_child`.
    pub in_cgroup: bool,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

fn clone3(args: &CloneArgs) -> libc::c_long {
    // SAFETY: clone3 without CLONE_VM behaves like fork: the child gets a copy of our memory
    // and stack, so returning into Rust code in the child is sound in a single-threaded process.
    unsafe { libc::syscall(libc::SYS_clone3, args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) }
}

/// Forks with `flags` (namespace flags only) and runs `child` in the new process, which exits
/// with its return value. With `cgroup` (a cgroup v2 directory), the child starts in that
/// cgroup when the kernel can do it; `Child::in_cgroup` says whether it did. The caller must
/// be single-threaded, as with fork(2).
pub fn clone_child(flags: CloneFlags, cgroup: Option<BorrowedFd>, child: impl FnOnce() -> i32) -> Result<Child, nix::Error> {
    let mut pidfd: libc::c_int = -1;
    // A sibling (CLONE_PARENT) inherits our own exit signal; clone3 wants none given.
    let sibling = flags.contains(CloneFlags::CLONE_PARENT);
    // The process whose death ends the child: us, or our parent for a sibling. Its pidfd
    // closes the race of a parent that dies before the child arms the signal (getppid()
    // cannot tell in a new pid namespace, where it is 0).
    let parent = if sibling { nix::unistd::getppid() } else { nix::unistd::getpid() };
    let parent_fd = pidfd_open(parent.as_raw()).ok();
    crate::process::process_setup::note_ignored_signals();
    let mut args = CloneArgs {
        flags: flags.bits() as u64 | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: if sibling { 0 } else { libc::SIGCHLD as u64 },
        ..Default::default()
    };
    let mut in_cgroup = false;
    let mut ret = -1;
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
        ret = clone3(&args);
        in_cgroup = ret >= 0;
        args.flags &= !CLONE_INTO_CGROUP;
        args.cgroup = 0;
    }
    if ret < 0 {
        ret = clone3(&args);
    }
    if ret < 0 && matches!(nix::Error::last(), nix::Error::ENOSYS | nix::Error::E2BIG) {
        if flags.bits() & libc::CLONE_NEWTIME != 0 {
            return Err(nix::Error::ENOSYS);
        }
        let signal = if sibling { 0 } else { libc::SIGCHLD as libc::c_ulong };
        // SAFETY: as above; a null stack makes clone(2) use a copy of ours, like fork.
        ret = unsafe { libc::syscall(libc::SYS_clone, flags.bits() as libc::c_ulong | signal, 0usize, 0usize, 0usize, 0usize) };
        pidfd = -1;
    }
    match ret {
        r if r < 0 => Err(nix::Error::last()),
        0 => {
            die_with_parent(parent_fd);
            let code = child();
            // SAFETY: leaving the child without running the parent's destructors or atexit.
            unsafe { libc::_exit(code) }
        }
        pid => Ok(Child {
            pid: Pid::from_raw(pid as i32),
            // SAFETY: the kernel gave us this fd and nobody else owns it.
            pidfd: (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) }),
            in_cgroup,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_dies_with_its_parent_until_disarmed() {
        // The child reports its death signal through its exit code.
        let child = clone_child(CloneFlags::empty(), None, || {
            let armed = parent_death_signal();
            disarm_parent_death();
            if armed == libc::SIGKILL && parent_death_signal() == 0 {
                0
            } else {
                1
            }
        })
        .unwrap();
        let status = nix::sys::wait::waitpid(child.pid, None).unwrap();
        assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child.pid, 0));
    }
}
