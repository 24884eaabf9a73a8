//! Making the container manager read its new config. containerd has no reload (SIGHUP
//! kills it), so it is restarted: through systemd, or by stopping it and letting its
//! supervisor start it again. Then we wait until its socket answers.
//! (Whether it knows the handler is asked through its CRI API, in `cri`.)
//!
//! `Restart::Signal` never looks processes up by name: the process to stop is the one that
//! serves the manager's socket (SO_PEERPIDFD, else SO_PEERCRED's pid, on a connection to
//! it), or the pid in the manager's pid file, or an explicit pid. It is held as a pidfd, so
//! a recycled pid is never signalled, and its exit is awaited on that pidfd.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{getsockopt, sockopt};

/// How to restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Restart {
    /// RestartUnit through the host's systemd over D-Bus, waiting for the job.
    Systemd,
    /// SIGTERM to the running process; its supervisor (systemd, k3s, a test) starts it again.
    Signal,
    /// Leave it to the operator.
    None,
}

/// Problems restarting.
#[derive(Debug, thiserror::Error)]
pub enum RestartError {
    #[error(transparent)]
    Systemd(Box<crate::systemd::SystemdError>),
    #[error("start the runtime for the D-Bus calls")]
    Runtime(#[source] std::io::Error),
    #[error("find the process serving {socket:?}")]
    Peer {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the process serving {socket:?} is not visible in this pid namespace (the installer pod needs hostPID for --restart signal)")]
    PeerNotVisible { socket: PathBuf },
    #[error("read the pid file {path:?}")]
    PidFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("pid file {path:?} holds {content:?}, not a pid")]
    BadPidFile { path: PathBuf, content: String },
    #[error("signal {process} pid {pid}")]
    Kill {
        process: String,
        pid: i32,
        #[source]
        source: nix::Error,
    },
    #[error("{process} (pid {pid}) did not exit within {secs}s of SIGTERM")]
    NoExit { process: String, pid: i32, secs: u64 },
    #[error("{socket:?} did not answer within {secs}s after the restart")]
    NoAnswer { socket: PathBuf, secs: u64 },
}

/// Pids under `proc_dir` whose comm is exactly `name` (for diagnostics and tests; restarts
/// never signal by name).
pub fn pids_named(proc_dir: &Path, name: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return pids;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if std::fs::read_to_string(e.path().join("comm")).map(|c| c.trim_end() == name).unwrap_or(false) {
            pids.push(pid);
        }
    }
    pids
}

/// Waits until `socket` accepts a connection.
pub fn wait_for_socket(socket: &Path, timeout: Duration) -> Result<(), RestartError> {
    let start = Instant::now();
    loop {
        if UnixStream::connect(socket).is_ok() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(RestartError::NoAnswer { socket: socket.to_path_buf(), secs: timeout.as_secs() });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What to restart and how to tell it is back.
#[derive(Debug, Clone)]
pub struct Manager<'a> {
    pub host_root: &'a Path,
    /// systemd unit, for `Restart::Systemd`.
    pub unit: &'a str,
    /// Process name, for messages.
    pub process: &'a str,
    /// For `Restart::Signal`: stop this pid (else the pid file's, else the socket's server).
    pub pid: Option<i32>,
    /// The proc filesystem showing the host's processes (unused by restarts).
    pub proc_dir: &'a Path,
    /// For `Restart::Signal`: the manager's pid file, as the host sees it.
    pub pid_file: Option<&'a Path>,
    /// The manager's socket, resolved under the host root.
    pub socket: &'a Path,
}

/// Restarts the manager by `how`, then waits until its socket answers.
pub fn restart(how: Restart, m: &Manager<'_>, timeout: Duration) -> Result<(), RestartError> {
    let Manager { host_root, unit, process, socket, .. } = *m;
    match how {
        Restart::None => return Ok(()),
        Restart::Systemd => {
            let rt = crate::runtime().map_err(RestartError::Runtime)?;
            rt.block_on(crate::systemd::restart_unit(host_root, unit, timeout)).map_err(|e| RestartError::Systemd(Box::new(e)))?;
        }
        Restart::Signal => {
            let (pid, pidfd) = match (m.pid, m.pid_file) {
                (Some(pid), _) => (pid, pidfd_open(pid).map_err(kill_err(process, pid))?),
                (None, Some(file)) => {
                    let pid = read_pid_file(host_root, file)?;
                    (pid, pidfd_open(pid).map_err(kill_err(process, pid))?)
                }
                (None, None) => serving(socket)?,
            };
            pidfd_send_signal(&pidfd, libc::SIGTERM).map_err(kill_err(process, pid))?;
            if !wait_exit(&pidfd, timeout) {
                return Err(RestartError::NoExit { process: process.to_string(), pid, secs: timeout.as_secs() });
            }
        }
    }
    wait_for_socket(socket, timeout)
}

fn kill_err(process: &str, pid: i32) -> impl FnOnce(Errno) -> RestartError + '_ {
    move |source| RestartError::Kill { process: process.to_string(), pid, source }
}

/// The process serving `socket`: its pid (as this pid namespace sees it) and a pidfd.
pub fn serving(socket: &Path) -> Result<(i32, OwnedFd), RestartError> {
    let peer_err = |source| RestartError::Peer { socket: socket.to_path_buf(), source };
    let stream = UnixStream::connect(socket).map_err(peer_err)?;
    let cred = getsockopt(&stream, sockopt::PeerCredentials).map_err(|e| peer_err(std::io::Error::from(e)))?;
    let pid = cred.pid();
    if pid <= 0 {
        return Err(RestartError::PeerNotVisible { socket: socket.to_path_buf() });
    }
    // SO_PEERPIDFD (Linux 6.5) names the very process; older kernels: the pid, opened now.
    let pidfd = match getsockopt(&stream, sockopt::PeerPidfd) {
        Ok(fd) => fd,
        Err(_) => pidfd_open(pid).map_err(|e| peer_err(std::io::Error::from(e)))?,
    };
    Ok((pid, pidfd))
}

/// The pid in the manager's pid file (a host path, read through the host root).
fn read_pid_file(host_root: &Path, file: &Path) -> Result<i32, RestartError> {
    let pid_err = |source| RestartError::PidFile { path: file.to_path_buf(), source };
    let host = crate::hostfs::HostRoot::open(host_root).map_err(|e| pid_err(std::io::Error::other(e)))?;
    let bytes = host
        .read_optional(file)
        .map_err(|e| pid_err(std::io::Error::other(e)))?
        .ok_or_else(|| pid_err(std::io::Error::from(std::io::ErrorKind::NotFound)))?;
    let content = String::from_utf8_lossy(&bytes).trim().to_string();
    match content.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(RestartError::BadPidFile { path: file.to_path_buf(), content }),
    }
}

fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    Errno::result(fd)?;
    // SAFETY: the fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pidfd_send_signal(pidfd: &OwnedFd, signal: i32) -> Result<(), Errno> {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), signal, std::ptr::null::<libc::siginfo_t>(), 0) };
    Errno::result(r).map(drop)
}

/// Whether the process exited within `timeout` (a pidfd turns readable when it does).
fn wait_exit(pidfd: &OwnedFd, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(n) if n > 0 => return true,
            Ok(_) if start.elapsed() >= timeout => return false,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}
