//! The receiving end of `--console-socket`: a unix socket server that takes the pty master
//! the runtime sends with SCM_RIGHTS, then drains everything the container writes to it.
//! `FdSocket` is the same server for `--pidfd-socket`, keeping the message's payload too.

use anyhow::{bail, Context, Result};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::fs::File;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::Duration;

/// Listens on a socket path; the first connection's fd arrives on `master`.
pub struct ConsoleSocket {
    master: Receiver<Result<OwnedFd>>,
}

impl ConsoleSocket {
    pub fn listen(path: &Path) -> Result<ConsoleSocket> {
        let listener = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(accept_master(&listener));
        });
        Ok(ConsoleSocket { master: rx })
    }

    /// Waits for the pty master and starts draining it in a thread.
    pub fn drain(&self, limit: Duration) -> Result<JoinHandle<Vec<u8>>> {
        let fd = self.master.recv_timeout(limit).context("the runtime sent no pty master on the console socket")??;
        let mut master = File::from(fd);
        Ok(std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            // Reads end with EIO once every slave fd is closed.
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            out
        }))
    }
}

/// Listens on a socket path; the first connection's fd and the bytes sent with it arrive on
/// `fd`.
pub struct FdSocket {
    fd: Receiver<Result<(OwnedFd, Vec<u8>)>>,
}

impl FdSocket {
    pub fn listen(path: &Path) -> Result<FdSocket> {
        let listener = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(accept_fd(&listener));
        });
        Ok(FdSocket { fd: rx })
    }

    /// The fd and the message's payload, once the runtime sent them.
    pub fn recv(&self, limit: Duration) -> Result<(OwnedFd, Vec<u8>)> {
        self.fd.recv_timeout(limit).context("the runtime sent no fd on the socket")?
    }
}

fn accept_master(listener: &UnixListener) -> Result<OwnedFd> {
    accept_fd(listener).map(|(fd, _)| fd)
}

fn accept_fd(listener: &UnixListener) -> Result<(OwnedFd, Vec<u8>)> {
    let (stream, _) = listener.accept().context("accepting on the console socket")?;
    let mut data = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).context("recvmsg on the console socket")?;
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs().context("reading control messages")? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            fds.extend(received);
        }
    }
    let Some((&first, rest)) = fds.split_first() else {
        bail!("the console socket message carried no file descriptor");
    };
    for &extra in rest {
        // SAFETY: these fds were just received and are owned by nobody else.
        drop(unsafe { OwnedFd::from_raw_fd(extra) });
    }
    let payload = msg.iovs().next().map(|b| b.to_vec()).unwrap_or_default();
    // SAFETY: as above; ownership moves into the OwnedFd.
    Ok((unsafe { OwnedFd::from_raw_fd(first) }, payload))
}
