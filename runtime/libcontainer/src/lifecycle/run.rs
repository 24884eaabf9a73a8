//! `run` in the foreground: create and start, forward signals to the container's init, reap
//! children (as a subreaper), and return init's exit status the way a shell would.

use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::create::{create, CreateOptions};
use crate::error::ContainerError;
use crate::lifecycle::{self, tty_proxy};

/// The signals `run` forwards to the container (plus SIGCHLD, which it handles).
pub(crate) const FORWARDED: &[Signal] = &[
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
    let sfd = block_signals()?;
    if !o.no_subreaper {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(ContainerError::sys("become a child subreaper", nix::Error::last()));
        }
    }
    let created = create(create_opts)?;
    let pid = created.pid;
    let proxy = match &created.console {
        Some(sock) => match tty_proxy::receive_master(sock) {
            Ok(master) => Some(tty_proxy::Proxy::new(master)),
            Err(e) => {
                let _ = lifecycle::delete(&root, &id, true);
                return Err(ContainerError::sys(e.op, e.errno));
            }
        },
        None => None,
    };
    let result = lifecycle::start(&root, &id).map(|_| ()).and_then(|()| wait_for(pid, &sfd, proxy.as_ref()));
    drop(proxy);
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

/// Blocks SIGCHLD and the forwarded signals and returns a signalfd for them. Called before
/// clone so none is lost; the child unblocks them before its execve.
pub(crate) fn block_signals() -> Result<SignalFd, ContainerError> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(*s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(|e| ContainerError::sys("block signals", e))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).map_err(|e| ContainerError::sys("create signalfd", e))
}

/// Forwards signals to `init` until it exits, reaping any other child along the way, and
/// copies terminal traffic when there is a proxy.
pub(crate) fn wait_for(init: Pid, sfd: &SignalFd, proxy: Option<&tty_proxy::Proxy>) -> Result<i32, ContainerError> {
    let mut stdin_open = proxy.is_some();
    let mut master_open = proxy.is_some();
    loop {
        // Reap first: SIGCHLD may have arrived before we started reading.
        if let Some(code) = reap(init)? {
            if let Some(p) = proxy.filter(|_| master_open) {
                // Drain what the container wrote last.
                while tty_proxy::Proxy::pump(p.master(), stdout()) {}
            }
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(p) = proxy {
            if master_open {
                fds.push(PollFd::new(p.master(), PollFlags::POLLIN));
            }
            if stdin_open {
                fds.push(PollFd::new(p.stdin(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(ContainerError::sys("wait for the container", e)),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if let Some(p) = proxy {
            let mut i = 1;
            if master_open {
                if ready[i] {
                    master_open = tty_proxy::Proxy::pump(p.master(), stdout());
                }
                i += 1;
            }
            if stdin_open && ready[i] {
                stdin_open = tty_proxy::Proxy::pump(p.stdin(), p.master());
                if !stdin_open {
                    // Our stdin ended: say so to the terminal, as a person would with ^D.
                    let _ = nix::unistd::write(p.master(), &[4u8]);
                }
            }
        }
        if !ready[0] {
            continue;
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) | Err(_) => {}
                Ok(Signal::SIGWINCH) => {
                    if let Some(p) = proxy {
                        p.resize();
                    }
                    let _ = kill(init, Signal::SIGWINCH);
                }
                Ok(s) => {
                    let _ = kill(init, s);
                }
            }
        }
    }
}

fn stdout() -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: fd 1 stays open for the life of the process.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(1) }
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
