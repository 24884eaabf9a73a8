//! The container's terminal: a pty made inside the container's devpts, its slave as the
//! controlling terminal and stdio, its master sent to `--console-socket` over SCM_RIGHTS.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;

use crate::syserror::{Context, SysError};

/// Where the pty master goes when process.terminal is true.
pub enum Console {
    None,
    /// `--console-socket PATH`.
    Socket(PathBuf),
    /// `run` in the foreground: youki keeps the master itself (`Created::console`).
    Proxy,
}

impl Console {
    /// For a process with `terminal`: (the end the runtime keeps, with `Proxy`; the socket
    /// the child sends the pty master to). Nothing without a terminal.
    pub fn endpoints(self, terminal: bool) -> Result<(Option<OwnedFd>, Option<OwnedFd>), crate::error::ContainerError> {
        use crate::error::ContainerError;
        match (terminal, self) {
            (false, _) => Ok((None, None)),
            (true, Console::None) => Err(ContainerError::TerminalNeedsSocket),
            (true, Console::Socket(path)) => {
                let sock = connect(&path).map_err(|source| ContainerError::ConsoleSocket { path, source })?;
                Ok((None, Some(sock)))
            }
            (true, Console::Proxy) => {
                let (ours, theirs) = nix::sys::socket::socketpair(
                    nix::sys::socket::AddressFamily::Unix,
                    nix::sys::socket::SockType::Stream,
                    None,
                    nix::sys::socket::SockFlag::SOCK_CLOEXEC,
                )
                .map_err(|e| ContainerError::sys("create the console socket pair", e))?;
                Ok((Some(ours), Some(theirs)))
            }
        }
    }
}

/// Connects to the console socket (in the parent, before clone).
pub fn connect(path: &Path) -> std::io::Result<OwnedFd> {
    UnixStream::connect(path).map(OwnedFd::from)
}

/// Makes the pty and hands its master to the socket. Runs after pivot_root. `console` binds
/// the pty over /dev/console too (for the container's init, not for `exec`).
pub fn setup(socket: &OwnedFd, console: bool) -> Result<(), SysError> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).ctx(|| "open /dev/ptmx")?;
    grantpt(&master).ctx(|| "grantpt")?;
    unlockpt(&master).ctx(|| "unlockpt")?;
    let name = ptsname_r(&master).ctx(|| "ptsname")?;
    let slave = nix::fcntl::open(Path::new(&name), OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .ctx(|| format!("open pty {name:?}"))?;
    // /dev/console is the pty too, as the runtime-spec asks.
    if console && Path::new("/dev").is_dir() {
        let console = Path::new("/dev/console");
        if !console.exists() {
            let _ = std::fs::File::create(console);
        }
        mount(Some(name.as_str()), console, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .ctx(|| format!("bind {name:?} on /dev/console"))?;
    }
    // SAFETY: ioctl on a valid fd with an integer argument.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(SysError::new(format!("make {name:?} the controlling terminal"), nix::Error::last()));
    }
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard fds, which we own in this process.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(SysError::new(format!("dup {name:?} to fd {target}"), nix::Error::last()));
        }
    }
    let fds = [master.as_raw_fd()];
    let payload = name.as_bytes();
    sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(payload)], &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .ctx(|| "send the pty master to the console socket")?;
    Ok(())
}
