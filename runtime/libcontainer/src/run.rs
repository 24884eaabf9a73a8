//! `run` in the foreground: create and start, forward signals to the container's init, reap
//! children (as a subreaper), and return init's exit status the way a shell would.

use std::os::fd::AsFd;


use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::create::{create, CreateOptions};
use crate::error::ContainerError;
use crate::lifecycle;

/// The signals `run` forwards to the container (plus SIGCHLD, which it handles).
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGWINCH,
    Signal::SIGURG,
    Signal::SIGIO,
    Signal::SIGPWR,
    Signal::SIGPIPE,
];

pub struct RunOptions {
    pub detach: bool,
    pub keep: bool,
    pub no_subreaper: bool,
}

/// Runs a container; returns the exit code for the runtime to exit with.
pub fn run(create_opts: CreateOptions, o: RunOptions) -> Result<i32, ContainerError> {
    let root = create_opts.root.to_path_buf();
    let id = create_opts.id.to_string();
    if o.detach {
        create(create_opts)?;
        lifecycle::start(&root, &id)?;
        return Ok(0);
    }
    // Block the signals before clone so none is lost; init unblocks them before execve.
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(*s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(|e| ContainerError::sys("block signals", e))?;
    if !o.no_subreaper {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(ContainerError::sys("become a child subreaper", nix::Error::last()));
        }
    }
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).map_err(|e| ContainerError::sys("create signalfd", e))?;
    let created = create(create_opts)?;
    let pid = created.pid;
    let result = lifecycle::start(&root, &id).map(|_| ()).and_then(|()| wait_for(pid, &sfd));
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let _ = lifecycle::delete(&root, &id, true);
            return Err(e);
        }
    };
    if !o.keep {
        lifecycle::delete(&root, &id, true)?;
    }
    Ok(code)
}

/// Forwards signals to `init` until it exits, reaping any other child along the way.
fn wait_for(init: Pid, sfd: &SignalFd) -> Result<i32, ContainerError> {
    loop {
        // Reap first: SIGCHLD may have arrived before we started reading.
        if let Some(code) = reap(init)? {
            return Ok(code);
        }
        let info = match sfd.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) => continue,
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(ContainerError::sys("read signalfd", e)),
        };
        let sig = Signal::try_from(info.ssi_signo as i32).ok();
        match sig {
            Some(Signal::SIGCHLD) | None => {}
            Some(s) => {
                let _ = kill(init, s);
            }
        }
        let _ = sfd.as_fd();
    }
}

/// Reaps every exited child; returns init's exit code once it is among them.
fn reap(init: Pid) -> Result<Option<i32>, ContainerError> {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == init => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == init => return Ok(Some(128 + sig as i32)),
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(nix::Error::ECHILD) => return Ok(None),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(ContainerError::sys("wait for the container", e)),
        }
    }
}

