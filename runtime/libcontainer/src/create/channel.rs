//! The parent-child channel of `create`: one SOCK_SEQPACKET pair, a typed message per direction.
//!
//! ```text
//!  parent (youki create)                          child (youki:init)
//!  ---------------------                          ------------------
//!  state record "creating" (pid 0, cgroup)
//!  clone3 ─────────────────────────────────────▶  PR_SET_PDEATHSIG(SIGKILL), then exits if
//!                                                 the parent is already gone (its pidfd);
//!  state record "creating" + pid, start time      waits for Proceed
//!  cgroup: add pid, set resources (v1 or hybrid
//!  and the child in our user namespace: the
//!  child adds itself, see libcgroups::SelfJoin)
//!  user ns: write uid_map / gid_map
//!  ToInit::IdmappedMounts + fds ───────────────▶  (only when a mount is idmapped: `idmap_tree`)
//!  ToInit::Proceed { join_cgroup } ────────────▶  writes "0" to each v1 `tasks` file named,
//!                                                 then setns joins, hostname, keyring,
//!                                                 mounts, devices
//!                  ◀──────────────────────────── ToParent::MountsReady   (only if createRuntime
//!  prestart + createRuntime hooks                                        or prestart hooks exist)
//!  ToInit::HooksDone ──────────────────────────▶  createContainer hooks, pivot_root, masks,
//!                                                 sysctl; clears PDEATHSIG (a setuid would
//!                                                 anyway) and from here lives by the channel:
//!                                                 rlimits, user, caps, cwd, the executor's
//!                                                 prepare (find args[0])
//!                  ◀──────────────────────────── ToParent::Ready { timeline }
//!  state "created", pid file                      waits for Committed; EOF (the parent died
//!  ToInit::Committed ──────────────────────────▶  before it) means exit 1
//!  exit                                           blocks opening exec.fifo for write
//!                                                 (`youki start` opens it for read)
//!  any failure:    ◀──────────────────────────── ToParent::Failed(ChildError), child exits 1
//!  EOF without Ready: the child died; the parent reaps it and reports its exit status.
//! ```
//! So until Committed the child dies with the parent: by the death signal while it is armed,
//! and by EOF on its next send or receive afterwards (every stage after the disarm ends on
//! the channel). Committed comes only once the state says "created", so a `youki create`
//! killed at any point leaves either no process or a container its state describes.
//!
//! Each side owns its end as an `OwnedFd`; the child's end is closed in the parent right after
//! clone, the parent's end in the child first thing (`close_copy_in_child`), so EOF always
//! means the other side is gone. Both ends are CLOEXEC, so the container process never
//! inherits them. The pty master travels over the console socket; the only fds here are the
//! idmapped mount trees (`idmap_tree`), which init receives close-on-exec and closes once
//! attached. `exec` uses the same pair and the same Ready, Committed handover; a rootless
//! `exec` first gets `ToParent::Forked { pid }` from the child that joined the namespaces,
//! then talks to the forked process (which holds a dup of the child's end, and whose death
//! signal is armed against the runtime itself) as above.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::create::timeline::Timeline;

/// What the parent tells the child.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum ToInit {
    /// The child's cgroup is ready and its id maps are written: go on. `host_pid` is the
    /// child's pid as the runtime sees it, for the seccomp listener's state. `join_cgroup`:
    /// the v1 `tasks` files the child writes "0" to first, to move itself into the cgroup
    /// (libcgroups::SelfJoin); empty when the parent placed it.
    Proceed {
        host_pid: i32,
        #[serde(default)]
        join_cgroup: Vec<PathBuf>,
    },
    /// The detached idmapped mounts, one fd each in plan order, beside this message
    /// (SCM_RIGHTS); sent before Proceed, only when the plan has idmapped mounts.
    IdmappedMounts { count: usize },
    /// prestart and createRuntime hooks have run.
    HooksDone,
    /// After Ready: the state is committed ("created"; for exec, the runtime has the pid).
    /// The child stops dying with the runtime and goes on to the handover.
    Committed,
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
    let (a, b) =
        socket::socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).map_err(ChannelError::Create)?;
    Ok((End { fd: a, _types: Default::default() }, End { fd: b, _types: Default::default() }))
}

impl<S, R> End<S, R> {
    /// The socket itself, for a caller that only needs to close it at the right moment.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// In a child cloned (without CLONE_FILES) while this end was open: closes the child's
    /// copy of it, so that the other end sees EOF when the owner of this end dies. The value
    /// itself stays valid in the parent; the child never drops its copy (it leaves by _exit).
    pub fn close_copy_in_child(&self) {
        // SAFETY: in the child this fd number is the child's own copy, used by nothing there.
        unsafe { libc::close(self.fd.as_raw_fd()) };
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
        // read(2) where the seccomp filter (init waits for `Committed` under the container's
        // profile) may refuse recvmsg or recvfrom: profiles written for runc, which reads its
        // sync pipe.
        let plain = !crate::process::seccomp::may_call("recvmsg") || !crate::process::seccomp::may_call("recvfrom");
        // A buffer of the message's size, not of the largest one: zeroing 64 KiB touches 16
        // pages, copies of the parent's after a clone.
        let mut buf = vec![0u8; if plain { MAX_MESSAGE } else { self.next_len()? }];
        let n = loop {
            let got = if plain {
                nix::unistd::read(&self.fd, &mut buf)
            } else {
                let mut iov = [IoSliceMut::new(&mut buf)];
                socket::recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, None, MsgFlags::MSG_CMSG_CLOEXEC).map(|m| m.bytes)
            };
            match got {
                Ok(n) => break n,
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

    /// Waits for the next message and returns its length (0 at EOF), leaving it queued.
    fn next_len(&self) -> Result<usize, ChannelError> {
        loop {
            match socket::recv(self.fd.as_raw_fd(), &mut [], MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC) {
                // Room for one byte more than the message: a zero-length buffer cannot tell
                // EOF from an empty message, and the real read then sees the same length.
                Ok(n) => return Ok(n.min(MAX_MESSAGE) + 1),
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::ECONNRESET) => return Err(ChannelError::Closed),
                Err(e) => return Err(ChannelError::Recv(e)),
            }
        }
    }

    /// `send`, with `fds` beside the message (SCM_RIGHTS); the receiver gets its own copies.
    pub fn send_with_fds(&self, msg: &S, fds: &[std::os::fd::BorrowedFd]) -> Result<(), ChannelError> {
        let buf = serde_json::to_vec(msg).map_err(ChannelError::Decode)?;
        let iov = [IoSlice::new(&buf)];
        let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let cmsg = [socket::ControlMessage::ScmRights(&raw)];
        loop {
            match socket::sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::EPIPE) | Err(nix::Error::ECONNRESET) => return Err(ChannelError::Closed),
                Err(e) => return Err(ChannelError::Send(e)),
            }
        }
    }

    /// `recv`, keeping up to `max` fds that came beside the message (close-on-exec).
    pub fn recv_with_fds(&self, max: usize) -> Result<(R, Vec<OwnedFd>), ChannelError> {
        use std::os::fd::FromRawFd;
        let mut buf = vec![0u8; self.next_len()?];
        let mut cmsg = vec![0u8; nix::sys::socket::cmsg_space::<i32>() * max.max(1)];
        let mut fds = Vec::new();
        let n = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match socket::recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
                Ok(m) => {
                    for c in m.cmsgs().map_err(ChannelError::Recv)? {
                        if let socket::ControlMessageOwned::ScmRights(list) = c {
                            // SAFETY: the kernel just installed these fds for us.
                            fds.extend(list.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                        }
                    }
                    if m.flags.contains(MsgFlags::MSG_CTRUNC) {
                        return Err(ChannelError::Recv(nix::Error::EMSGSIZE));
                    }
                    break m.bytes;
                }
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::ECONNRESET) => return Err(ChannelError::Closed),
                Err(e) => return Err(ChannelError::Recv(e)),
            }
        };
        if n == 0 {
            return Err(ChannelError::Closed);
        }
        Ok((serde_json::from_slice(&buf[..n]).map_err(ChannelError::Decode)?, fds))
    }
}

/// One message: send(2) with MSG_NOSIGNAL, or write(2) where the seccomp filter (the child
/// sends `Ready` under the container's profile) may refuse sendto, as profiles written for
/// runc, which writes to its sync pipe, may.
fn send_one(fd: &OwnedFd, buf: &[u8]) -> nix::Result<usize> {
    if !crate::process::seccomp::may_call("sendto") {
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
        let join_cgroup = vec![PathBuf::from("/sys/fs/cgroup/cpu/c/tasks")];
        parent.send(&ToInit::Proceed { host_pid: 7, join_cgroup: join_cgroup.clone() }).unwrap();
        assert_eq!(child.recv().unwrap(), ToInit::Proceed { host_pid: 7, join_cgroup });
        let err = ChildError { stage: "mounts".into(), op: r#"mount "proc" on "/proc""#.into(), errno: Some(1), detail: None };
        child.send(&ToParent::Failed(err.clone())).unwrap();
        assert_eq!(parent.recv().unwrap(), ToParent::Failed(err));
        drop(child);
        assert!(matches!(parent.recv(), Err(ChannelError::Closed)));
    }

    #[test]
    fn each_message_arrives_whole_whatever_its_size() {
        // The receive buffer is sized from the queued message: a long one after a short one
        // (and the reverse) must not come out cut.
        let (parent, child) = pair().unwrap();
        let long: Vec<PathBuf> = (0..400).map(|i| PathBuf::from(format!("/sys/fs/cgroup/c{i}/tasks"))).collect();
        parent.send(&ToInit::Committed).unwrap();
        parent.send(&ToInit::Proceed { host_pid: 1, join_cgroup: long.clone() }).unwrap();
        parent.send(&ToInit::Committed).unwrap();
        assert_eq!(child.recv().unwrap(), ToInit::Committed);
        assert_eq!(child.recv().unwrap(), ToInit::Proceed { host_pid: 1, join_cgroup: long });
        assert_eq!(child.recv().unwrap(), ToInit::Committed);
    }

    #[test]
    fn fds_cross_beside_a_message() {
        use std::os::fd::AsFd;
        let (parent, child) = pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        parent.send_with_fds(&ToInit::IdmappedMounts { count: 2 }, &[r.as_fd(), w.as_fd()]).unwrap();
        let (msg, fds) = child.recv_with_fds(2).unwrap();
        assert_eq!(msg, ToInit::IdmappedMounts { count: 2 });
        assert_eq!(fds.len(), 2);
        nix::unistd::write(&fds[1], b"x").unwrap();
        let mut b = [0u8; 1];
        assert_eq!(nix::unistd::read(&r, &mut b).unwrap(), 1);
    }

    #[test]
    fn child_error_reads_as_one_line() {
        let err = ChildError { stage: "mounts".into(), op: r#"mount "proc" on "/proc""#.into(), errno: Some(1), detail: None };
        assert_eq!(err.to_string(), r#"mounts: mount "proc" on "/proc": operation not permitted"#);
        let err = ChildError { stage: "exec".into(), op: r#"find "nope""#.into(), errno: None, detail: Some("not found in $PATH".into()) };
        assert_eq!(err.to_string(), r#"exec: find "nope": not found in $PATH"#);
    }
}
