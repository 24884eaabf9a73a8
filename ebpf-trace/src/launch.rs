//! Starts the traced command held before exec: the child blocks on a pipe until the tracer
//! is attached, so its first syscall after release is already seen.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::analysis::RootStatus;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("empty command")]
    Empty,
    #[error("command argument contains a NUL byte")]
    Nul(#[from] std::ffi::NulError),
    #[error("pipe for the held child")]
    Pipe(#[source] std::io::Error),
    #[error("fork of the traced command")]
    Fork(#[source] std::io::Error),
    #[error("release of the held child")]
    Release(#[source] std::io::Error),
    #[error("waitpid on the traced command")]
    Wait(#[source] std::io::Error),
}

/// A forked child waiting for `release` before it execs the command.
pub struct Held {
    pub pid: u32,
    gate: Option<OwnedFd>,
}

/// Forks a child that waits on a pipe, then execs `argv` (searching PATH).
pub fn spawn_held(argv: &[String]) -> Result<Held, LaunchError> {
    if argv.is_empty() {
        return Err(LaunchError::Empty);
    }
    let cargs = argv.iter().map(|a| CString::new(a.as_str())).collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(LaunchError::Pipe(std::io::Error::last_os_error()));
    }
    // SAFETY: the pipe fds are fresh and owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only calls async-signal-safe functions (close, read, execvp, write, _exit)
    // on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(LaunchError::Fork(std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: see above; nothing here allocates.
        unsafe {
            libc::close(wr.as_raw_fd());
            let mut b = 0u8;
            let n = loop {
                let n = libc::read(rd.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
                if n >= 0 || *libc::__errno_location() != libc::EINTR {
                    break n;
                }
            };
            if n != 1 {
                libc::_exit(126);
            }
            libc::execvp(ptrs[0], ptrs.as_ptr());
            let msg = b"youki-trace: exec of the command failed\n";
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(127);
        }
    }
    drop(rd);
    Ok(Held { pid: pid as u32, gate: Some(wr) })
}

impl Held {
    /// Lets the child exec its command.
    pub fn release(&mut self) -> Result<(), LaunchError> {
        if let Some(fd) = self.gate.take() {
            let b = [1u8];
            // SAFETY: fd is an open pipe write end, b is one valid byte.
            let n = unsafe { libc::write(fd.as_raw_fd(), b.as_ptr().cast(), 1) };
            if n != 1 {
                return Err(LaunchError::Release(std::io::Error::last_os_error()));
            }
        }
        Ok(())
    }

    /// Non-blocking check whether the command ended, and how.
    pub fn try_wait(&self) -> Result<Option<RootStatus>, LaunchError> {
        self.wait_flags(libc::WNOHANG)
    }

    fn wait_flags(&self, flags: i32) -> Result<Option<RootStatus>, LaunchError> {
        let mut status = 0;
        // SAFETY: status is a valid out pointer.
        let rc = unsafe { libc::waitpid(self.pid as i32, &mut status, flags) };
        if rc < 0 {
            return Err(LaunchError::Wait(std::io::Error::last_os_error()));
        }
        if rc == 0 {
            return Ok(None);
        }
        if libc::WIFSIGNALED(status) {
            Ok(Some(RootStatus::Signaled(libc::WTERMSIG(status))))
        } else {
            Ok(Some(RootStatus::Exited(libc::WEXITSTATUS(status))))
        }
    }
}
