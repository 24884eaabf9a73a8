//! The process that runs `create` (a shim, conmon, a shell): a create it abandons is undone
//! rather than left half made or left waiting for a start that never comes.
//!
//! containerd's shims run the runtime with a parent-death signal of SIGKILL. When a shim is
//! SIGKILLed (on a timeout, or with the node's containerd), that signal would kill create
//! between any two steps, leaving the state directory and the cgroups of a task the
//! restarted containerd never saw created and so never deletes. So create holds the signal
//! off while it runs (`hold`), checks before its last commit whether its caller is still
//! there (`gone`), and undoes the container when it is not; dropping the `Caller` gives the
//! caller's signal back for what follows create (`run` waits on the container).

use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// Who started this create, and the parent-death signal it asked for.
#[derive(Debug)]
pub struct Caller {
    pid: Pid,
    deathsig: Option<Signal>,
}

impl Caller {
    /// Notes the caller and clears the parent-death signal until the `Caller` is dropped.
    pub fn hold() -> Caller {
        let deathsig = prctl::get_pdeathsig().ok().flatten();
        if deathsig.is_some() {
            // A failure leaves the signal armed: create is then only as safe as before.
            let _ = prctl::set_pdeathsig(None);
        }
        Caller { pid: nix::unistd::getppid(), deathsig }
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Whether the caller exited (this process was handed to a reaper).
    pub fn gone(&self) -> bool {
        nix::unistd::getppid() != self.pid
    }
}

impl Drop for Caller {
    /// Arms the caller's parent-death signal again.
    fn drop(&mut self) {
        if let Some(sig) = self.deathsig {
            let _ = prctl::set_pdeathsig(sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_clears_the_signal_and_drop_gives_it_back() {
        // The test runner's own setting, restored at the end.
        let before = prctl::get_pdeathsig().unwrap();
        prctl::set_pdeathsig(Signal::SIGTERM).unwrap();
        let c = Caller::hold();
        assert_eq!(prctl::get_pdeathsig().unwrap(), None);
        assert!(!c.gone());
        assert_eq!(c.pid(), nix::unistd::getppid());
        drop(c);
        assert_eq!(prctl::get_pdeathsig().unwrap(), Some(Signal::SIGTERM));
        let _ = prctl::set_pdeathsig(before);
    }
}
