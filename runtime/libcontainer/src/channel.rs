//! The parent-child channel of `create`: one SOCK_SEQPACKET pair, a typed message per direction.
//!
//! ```text
//!  parent (youki create)                          child (youki:init)
//!  ---------------------                          ------------------
//!  clone3 ─────────────────────────────────────▶  waits for Proceed
//!  cgroup: add pid, set resources
//!  user ns: write uid_map / gid_map
//!  ToInit::Proceed ────────────────────────────▶  setns joins, hostname, keyring, mounts, devices
//!                  ◀──────────────────────────── ToParent::MountsReady   (only if createRuntime
//!  prestart + createRuntime hooks                                        or prestart hooks exist)
//!  ToInit::HooksDone ──────────────────────────▶  createContainer hooks, pivot_root, masks,
//!                                                 sysctl, rlimits, user, caps, cwd, the
//!                                                 executor's prepare (find args[0])
//!                  ◀──────────────────────────── ToParent::Ready { timeline }
//!  write pid file and state "created", exit       blocks opening exec.fifo for write
//!                                                 (`youki start` opens it for read)
//!  any failure:    ◀──────────────────────────── ToParent::Failed(ChildError), child exits 1
//!  EOF without Ready: the child died; the parent reaps it and reports its exit status.
//! ```
//! Each side owns its end as an `OwnedFd`; the child's end is closed in the parent right after
//! clone, the parent's end in the child, so EOF always means the other side is gone. Both ends
//! are CLOEXEC, so the container process never inherits them. Fds (the pty master) travel over
//! the console socket, not here. `exec` uses the same pair; a rootless `exec` first gets
//! `ToParent::Forked { pid }` from the child that joined the namespaces, then talks to the
//! forked process (which holds a dup of the child's end) as above.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::timeline::Timeline;

/// What the parent tells the child.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum ToInit {
    /// The child is in its cgroup and its id maps are written: go on. `host_pid` is the
    /// child's pid as the runtime sees it, for the seccomp listener's state.
    Proceed { host_pid: i32 },
    /// prestart and createRuntime hooks have run.
    HooksDone,
}

/// What the child tells the parent.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum ToParent {
    /// Mounts are done, pivot_root is next: run the createRuntime hooks now.
    MountsReady,
    /// The container is set up; the child now waits on the exec fifo.
    Ready { timeline: Timeline },
    /// Setup failed; the child exits after sending this.
    Failed(ChildError),
    /// `exec` in a user namespace: the first child joined the namespaces and forked the
    /// process that will run (a sibling of it, a child of the runtime), whose host pid this is.
    Forked { pid: i32 },
}

/// A failure inside the child, carried home as data so the parent can print one clear line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ChildError {
    /// The stage of init, e.g. "mounts" or "capabilities".
    pub stage: String,
    /// What was being done, e.g. `mount "proc" on "/proc"`.
    pub op: String,
    /// The errno, when a syscall failed.
    pub errno: Option<i32>,
    /// Extra text when there is no errno, or the chain of causes.
    pub detail: Option<String>,
}

impl ChildError {
    fn render(&self) -> String {
        let mut s = format!("{}: {}", self.stage, self.op);
        if let Some(d) = &self.detail {
            s.push_str(": ");
            s.push_str(d);
        }
        if let Some(e) = self.errno {
            s.push_str(": ");
            s.push_str(&errno_text(e));
        }
        s
    }
}

/// strerror's text in lowercase, as runc and the Go standard library print it: "no such file
/// or directory" (our messages are lowercase from end to end).
fn errno_text(errno: i32) -> String {
    let desc = nix::errno::Errno::from_raw(errno).desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("create the init channel")]
    Create(#[source] nix::Error),
    #[error("send on the init channel")]
    Send(#[source] nix::Error),
    #[error("receive on the init channel")]
    Recv(#[source] nix::Error),
    #[error("the other end of the init channel closed")]
    Closed,
    #[error("malformed message on the init channel")]
    Decode(#[source] serde_json::Error),
}

const MAX_MESSAGE: usize = 64 * 1024;

/// One end of the channel, typed by what it sends (`S`) and receives (`R`).
pub struct End<S, R> {
    fd: OwnedFd,
    _types: std::marker::PhantomData<(S, R)>,
}

pub type ParentEnd = End<ToInit, ToParent>;
pub type ChildEnd = End<ToParent, ToInit>;

/// Makes the pair: (parent's end, child's end).
pub fn pair() -> Result<(ParentEnd, ChildEnd), ChannelError> {
    let (a, b) = socket::socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(ChannelError::Create)?;
    Ok((End { fd: a, _types: Default::default() }, End { fd: b, _types: Default::default() }))
}

impl<S, R> End<S, R> {
    /// The socket itself, for a caller that only needs to close it at the right moment.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// A second handle on the same end (dup, close-on-exec), for a process forked from the
    /// child that carries on the conversation (rootless `exec`).
    pub fn try_clone(&self) -> std::io::Result<Self> {
        Ok(End { fd: self.fd.try_clone()?, _types: Default::default() })
    }
}

impl<S: Serialize, R: DeserializeOwned> End<S, R> {
    pub fn send(&self, msg: &S) -> Result<(), ChannelError> {
        let buf = serde_json::to_vec(msg).map_err(ChannelError::Decode)?;
        loop {
            match send_one(&self.fd, &buf) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::EPIPE) | Err(nix::Error::ECONNRESET) => return Err(ChannelError::Closed),
                Err(e) => return Err(ChannelError::Send(e)),
            }
        }
    }

    pub fn recv(&self) -> Result<R, ChannelError> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let n = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match socket::recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, None, MsgFlags::MSG_CMSG_CLOEXEC) {
                Ok(m) => break m.bytes,
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::ECONNRESET) => return Err(ChannelError::Closed),
                Err(e) => return Err(ChannelError::Recv(e)),
            }
        };
        if n == 0 {
            return Err(ChannelError::Closed);
        }
        serde_json::from_slice(&buf[..n]).map_err(ChannelError::Decode)
    }
}

/// One message: send(2) with MSG_NOSIGNAL, or write(2) where the seccomp filter (the child
/// sends `Ready` under the container's profile) may refuse sendto, as profiles written for
/// runc, which writes to its sync pipe, may.
fn send_one(fd: &OwnedFd, buf: &[u8]) -> nix::Result<usize> {
    if !crate::seccomp::may_call("sendto") {
        return nix::unistd::write(fd, buf);
    }
    match socket::send(fd.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL) {
        Err(nix::Error::EPERM | nix::Error::ENOSYS | nix::Error::EACCES) => nix::unistd::write(fd, buf),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_and_eof_is_closed() {
        let (parent, child) = pair().unwrap();
        parent.send(&ToInit::Proceed { host_pid: 7 }).unwrap();
        assert_eq!(child.recv().unwrap(), ToInit::Proceed { host_pid: 7 });
        let err = ChildError { stage: "mounts".into(), op: r#"mount "proc" on "/proc""#.into(), errno: Some(1), detail: None };
        child.send(&ToParent::Failed(err.clone())).unwrap();
        assert_eq!(parent.recv().unwrap(), ToParent::Failed(err));
        drop(child);
        assert!(matches!(parent.recv(), Err(ChannelError::Closed)));
    }

    #[test]
    fn child_error_reads_as_one_line() {
        let err = ChildError { stage: "mounts".into(), op: r#"mount "proc" on "/proc""#.into(), errno: Some(1), detail: None };
        assert_eq!(err.to_string(), r#"mounts: mount "proc" on "/proc": operation not permitted"#);
        let err = ChildError { stage: "exec".into(), op: r#"find "nope""#.into(), errno: None, detail: Some("not found in $PATH".into()) };
        assert_eq!(err.to_string(), r#"exec: find "nope": not found in $PATH"#);
    }
}
