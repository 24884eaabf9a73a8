//! The container's terminal: a pty made inside the container's devpts, its slave as the
//! controlling terminal and stdio, its master sent to `--console-socket` over SCM_RIGHTS.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::pty::{grantpt, ptsname_r, unlockpt, PtyMaster};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::{major, minor, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::rootfs::in_root::{self, Root};
use crate::rootfs::mount_api;
use crate::syserror::{Context, SysError};

/// /dev/ptmx is character device 5:2; pty slaves have the UNIX98 majors 136-143.
const PTMX_MAJOR: u64 = 5;
const PTMX_MINOR: u64 = 2;
const PTS_MAJORS: std::ops::RangeInclusive<u64> = 136..=143;

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
/// the pty over /dev/console too (for the container's init, not for `exec`); `size` is
/// `process.consoleSize` (rows, columns), set before the master leaves.
///
/// CVE-2025-52565: nothing here goes by a name the container could swap. The master comes
/// from /dev/ptmx opened inside the root and checked to be a devpts ptmx; the slave comes
/// from the master (TIOCGPTPEER), not from /dev/pts/N; /dev/console is opened without
/// following a symlink (a symlink or anything but a file or device there is replaced by an
/// empty file), and the pty is attached to that fd with move_mount.
pub fn setup(socket: &OwnedFd, console: bool, size: Option<(u16, u16)>) -> Result<(), SysError> {
    let root = Root::open(Path::new("/"))?;
    let master = root.open_at(Path::new("/dev/ptmx"), OFlag::O_RDWR | OFlag::O_NOCTTY)?;
    let (kind, st) = in_root::kind_of(&master).ctx(|| "stat /dev/ptmx")?;
    if kind != SFlag::S_IFCHR || major(st.st_rdev) != PTMX_MAJOR || minor(st.st_rdev) != PTMX_MINOR {
        return Err(SysError::new(format!("open /dev/ptmx: not the ptmx device ({kind:?})"), Errno::EPERM));
    }
    // SAFETY: `master` is a valid fd we own until the end of this function.
    let master = unsafe { PtyMaster::from_owned_fd(master) };
    grantpt(&master).ctx(|| "grantpt")?;
    unlockpt(&master).ctx(|| "unlockpt")?;
    let name = ptsname_r(&master).ctx(|| "ptsname")?;
    let slave = peer(&master).ctx(|| format!("open pty {name:?} from its master"))?;
    let (kind, st) = in_root::kind_of(&slave).ctx(|| format!("stat pty {name:?}"))?;
    if kind != SFlag::S_IFCHR || !(PTS_MAJORS).contains(&major(st.st_rdev)) {
        return Err(SysError::new(format!("open pty {name:?}: not a pty slave"), Errno::EPERM));
    }
    if let Some((rows, cols)) = size {
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ on a pty master with a valid winsize.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(SysError::new(format!("set the size of {name:?} to {rows}x{cols}"), nix::Error::last()));
        }
    }
    // /dev/console is the pty too, as the runtime-spec asks.
    if console && root.open_at(Path::new("/dev"), OFlag::O_PATH | OFlag::O_DIRECTORY).is_ok() {
        let target = console_target(&root)?;
        let tree = mount_api::clone_tree(&slave, false).ctx(|| format!("clone the mount of {name:?}"))?;
        mount_api::attach(&tree, &target).ctx(|| format!("bind {name:?} on /dev/console"))?;
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
    // `master` stays open (and close-on-exec) until after the send.
    let payload = name.as_bytes();
    sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(payload)], &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .ctx(|| "send the pty master to the console socket")?;
    Ok(())
}

/// The slave of `master`, opened through the master itself (TIOCGPTPEER, Linux 4.13+).
fn peer(master: &PtyMaster) -> nix::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER on a pty master returns a new fd or -1.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new fd nothing else owns.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// /dev/console as an fd of a regular file or device that is not a symlink, made (or put in
/// place of anything else) when needed.
fn console_target(root: &Root) -> Result<OwnedFd, SysError> {
    let path = Path::new("/dev/console");
    if let Ok(fd) = root.open_no_follow(path) {
        if matches!(in_root::kind_of(&fd).map(|(k, _)| k), Ok(SFlag::S_IFREG | SFlag::S_IFCHR)) {
            return Ok(fd);
        }
    }
    let dev = root.dir(Path::new("/dev"))?;
    for flag in [UnlinkatFlags::NoRemoveDir, UnlinkatFlags::RemoveDir] {
        match unlinkat(&dev, "console", flag) {
            Ok(()) | Err(Errno::ENOENT) => break,
            Err(Errno::EISDIR) => continue,
            Err(e) => return Err(SysError::new("remove /dev/console", e)),
        }
    }
    let how = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    nix::fcntl::openat(&dev, "console", how, nix::sys::stat::Mode::from_bits_truncate(0o600)).ctx(|| "create /dev/console")?;
    let fd = root.open_no_follow(path)?;
    match in_root::kind_of(&fd).ctx(|| "stat /dev/console")? {
        (SFlag::S_IFREG, _) => Ok(fd),
        (kind, _) => Err(SysError::new(format!("create /dev/console: found a {kind:?}"), Errno::EEXIST)),
    }
}
