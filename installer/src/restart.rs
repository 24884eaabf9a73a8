//! Making the container manager read its new config. containerd has no reload (SIGHUP
//! kills it), so it is restarted: through systemd, or by stopping it and letting its
//! supervisor start it again. Then we wait until its socket answers.
//! (Whether it knows the handler is asked through its CRI API, in `cri`.)

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

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
    #[error("signal {process} pid {pid}")]
    Kill {
        process: String,
        pid: i32,
        #[source]
        source: nix::Error,
    },
    #[error("{process} (pid {pid}) did not exit within {secs}s of SIGTERM")]
    NoExit {
        process: String,
        pid: i32,
        secs: u64,
    },
    #[error("{socket:?} did not answer within {secs}s after the restart")]
    NoAnswer { socket: PathBuf, secs: u64 },
}

/// Pids under `proc_dir` whose comm is exactly `name`.
pub fn pids_named(proc_dir: &Path, name: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return pids;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if std::fs::read_to_string(e.path().join("comm"))
            .map(|c| c.trim_end() == name)
            .unwrap_or(false)
        {
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
            return Err(RestartError::NoAnswer {
                socket: socket.to_path_buf(),
                secs: timeout.as_secs(),
            });
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
    /// Process name, for `Restart::Signal`.
    pub process: &'a str,
    /// Only this pid for `Restart::Signal` (else every process named `process`).
    pub pid: Option<i32>,
    /// The proc filesystem showing the host's processes.
    pub proc_dir: &'a Path,
    /// The manager's socket, resolved under the host root.
    pub socket: &'a Path,
}

/// Restarts the manager by `how`, then waits until its socket answers.
pub fn restart(how: Restart, m: &Manager<'_>, timeout: Duration) -> Result<(), RestartError> {
    let Manager {
        host_root,
        unit,
        process,
        proc_dir,
        socket,
        ..
    } = *m;
    match how {
        Restart::None => return Ok(()),
        Restart::Systemd => {
            let rt = crate::runtime().map_err(RestartError::Runtime)?;
            rt.block_on(crate::systemd::restart_unit(host_root, unit, timeout))
                .map_err(|e| RestartError::Systemd(Box::new(e)))?;
        }
        Restart::Signal => {
            let old = match m.pid {
                Some(pid) => vec![pid],
                None => pids_named(proc_dir, process),
            };
            for pid in &old {
                kill(Pid::from_raw(*pid), Signal::SIGTERM).map_err(|source| {
                    RestartError::Kill {
                        process: process.to_string(),
                        pid: *pid,
                        source,
                    }
                })?;
            }
            let start = Instant::now();
            for pid in &old {
                while pids_named(proc_dir, process).contains(pid) {
                    if start.elapsed() >= timeout {
                        return Err(RestartError::NoExit {
                            process: process.to_string(),
                            pid: *pid,
                            secs: timeout.as_secs(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    wait_for_socket(socket, timeout)
}
