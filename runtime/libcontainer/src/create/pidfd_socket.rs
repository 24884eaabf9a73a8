//! `--pidfd-socket PATH` (create, run, exec; runc 1.2): a pidfd of the container's init or
//! of the exec'd process goes to an AF_UNIX socket, in one message whose payload names the
//! kind of process, as runc writes it ("standard" for init, "setns" for an exec), and whose
//! one SCM_RIGHTS fd is the pidfd.
//!
//! The runtime connects before it starts anything, so a bad path fails with nothing made,
//! and sends from the parent once the process is ready: the pidfd is clone3's, or opened
//! with pidfd_open on our own child, not yet reaped, so it cannot name a reused pid. The
//! runtime closes its copies when the command ends; the receiver owns the one it got.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::unistd::Pid;

use crate::error::ContainerError;

/// Which process the pidfd is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Init,
    Exec,
}

impl Kind {
    /// The payload of the message, as runc sends it.
    pub fn payload(self) -> &'static str {
        match self {
            Kind::Init => "standard",
            Kind::Exec => "setns",
        }
    }
}

/// Connects to the receiver's socket.
pub fn connect(path: &Path) -> Result<OwnedFd, ContainerError> {
    crate::process::tty::connect(path).map_err(|source| ContainerError::PidfdSocket { path: path.to_path_buf(), source })
}

/// Sends a pidfd of `pid` (`pidfd` when the clone gave one, else a new one).
pub fn send(socket: &OwnedFd, pid: Pid, pidfd: Option<BorrowedFd>, kind: Kind) -> Result<(), ContainerError> {
    let opened;
    let fd = match pidfd {
        Some(fd) => fd,
        None => {
            opened = crate::create::clone::pidfd_open(pid.as_raw()).map_err(|e| ContainerError::sys(format!("pidfd_open {pid}"), e))?;
            opened.as_fd()
        }
    };
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(kind.payload().as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| ContainerError::sys("send the pidfd to the pidfd socket", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{recvmsg, socketpair, AddressFamily, ControlMessageOwned, SockFlag, SockType};
    use std::io::IoSliceMut;
    use std::os::fd::FromRawFd;

    #[test]
    fn payloads_are_runcs() {
        assert_eq!(Kind::Init.payload(), "standard");
        assert_eq!(Kind::Exec.payload(), "setns");
    }

    #[test]
    fn sends_one_pidfd_of_the_process_with_the_kind() {
        let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC).unwrap();
        let me = nix::unistd::getpid();
        send(&ours, me, None, Kind::Exec).unwrap();
        let mut buf = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 2]);
        let msg = recvmsg::<()>(theirs.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
        let fds: Vec<i32> = msg
            .cmsgs()
            .unwrap()
            .flat_map(|c| match c {
                ControlMessageOwned::ScmRights(f) => f,
                _ => vec![],
            })
            .collect();
        assert_eq!(msg.bytes, 5);
        assert_eq!(fds.len(), 1);
        // SAFETY: the fd just received, owned by nobody else.
        let got = unsafe { OwnedFd::from_raw_fd(fds[0]) };
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", got.as_raw_fd())).unwrap();
        assert!(info.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Pid:", &me.to_string()]), "{info}");
        assert_eq!(&buf[..5], b"setns");
    }
}
