//! `run` in the foreground with process.terminal and no --console-socket: youki keeps the pty
//! master itself and copies between it and its own stdin/stdout, in raw mode, passing window
//! size changes on.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

use crate::syserror::{Context, SysError};

/// Receives the pty master that init sent over the console socket.
pub fn receive_master(sock: &OwnedFd) -> Result<OwnedFd, SysError> {
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC).ctx(|| "receive the pty master")?;
    for c in msg.cmsgs().ctx(|| "read the pty master message")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this fd for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(SysError::new("receive the pty master: no fd in the message", nix::Error::EBADMSG))
}

/// The terminal side of a foreground `run`.
pub struct Proxy {
    pub master: OwnedFd,
    saved: Option<Termios>,
}

fn stdin() -> BorrowedFd<'static> {
    // SAFETY: fd 0 stays open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(0) }
}

impl Proxy {
    /// Puts our stdin in raw mode when it is a terminal, and copies its window size.
    pub fn new(master: OwnedFd) -> Self {
        let saved = termios::tcgetattr(stdin()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(stdin(), SetArg::TCSANOW, &raw);
        }
        let p = Proxy { master, saved };
        p.resize();
        p
    }

    /// Copies the window size of our terminal to the container's.
    pub fn resize(&self) {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize struct.
        unsafe {
            if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
                libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
            }
        }
    }

    /// Copies what is readable from `from` to `to`; false once `from` is finished.
    pub fn pump(from: BorrowedFd, to: BorrowedFd) -> bool {
        let mut buf = [0u8; 8192];
        match nix::unistd::read(from, &mut buf) {
            Ok(0) => false,
            Ok(n) => {
                let mut off = 0;
                while off < n {
                    match nix::unistd::write(to, &buf[off..n]) {
                        Ok(k) => off += k,
                        Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => continue,
                        Err(_) => return false,
                    }
                }
                true
            }
            Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => true,
            // EIO: every slave fd is closed, the container side is done.
            Err(_) => false,
        }
    }

    pub fn stdin(&self) -> BorrowedFd<'static> {
        stdin()
    }

    pub fn master(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(stdin(), SetArg::TCSANOW, t);
        }
    }
}
