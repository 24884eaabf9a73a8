//! A host-wide lock (flock on a file under the host root), so two installers, say an old and
//! a new DaemonSet pod during a rolling update, never edit the node at the same time.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::error::HostError;
use crate::hostfs::HostRoot;

/// Held for as long as the value lives; the kernel drops it if the process dies.
pub struct HostLock {
    _flock: Flock<File>,
}

impl HostLock {
    /// Takes the lock at host path `path`, retrying until `timeout` passes.
    pub fn acquire(host: &HostRoot, path: &Path, timeout: Duration) -> Result<Self, HostError> {
        let lock_err = |source| HostError::Lock { path: host.shown(path), source };
        let started = Instant::now();
        let mut file = host.open_lock(path)?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(flock) => return Ok(HostLock { _flock: flock }),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                    if started.elapsed() >= timeout {
                        return Err(HostError::Busy { path: host.shown(path) });
                    }
                    file = f;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err((_, errno)) => return Err(lock_err(std::io::Error::from(errno))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = HostRoot::open(dir.path()).expect("host root");
        let path = Path::new("/run/youki-installer.lock");
        let first = HostLock::acquire(&host, path, Duration::ZERO).expect("first");
        let err = HostLock::acquire(&host, path, Duration::from_millis(200)).err().expect("busy");
        assert!(err.to_string().ends_with("another installer holds it"), "{err}");
        drop(first);
        HostLock::acquire(&host, path, Duration::ZERO).expect("after release");
    }
}
