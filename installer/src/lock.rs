//! A host-wide lock (flock on a file under the host root), so two installers, say an old and
//! a new DaemonSet pod during a rolling update, never edit the node at the same time.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::error::HostError;

/// Held for as long as the value lives; the kernel drops it if the process dies.
pub struct HostLock {
    _flock: Flock<File>,
}

impl HostLock {
    /// Takes the lock at `path`, retrying until `timeout` passes.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<Self, HostError> {
        let lock_err = |source| HostError::Lock {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(lock_err)?;
        }
        let started = Instant::now();
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(lock_err)?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(flock) => return Ok(HostLock { _flock: flock }),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                    if started.elapsed() >= timeout {
                        return Err(HostError::Busy {
                            path: PathBuf::from(path),
                        });
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
        let path = dir.path().join("run/youki-installer.lock");
        let first = HostLock::acquire(&path, Duration::ZERO).expect("first");
        let err = HostLock::acquire(&path, Duration::from_millis(200))
            .err()
            .expect("busy");
        assert!(
            err.to_string().ends_with("another installer holds it"),
            "{err}"
        );
        drop(first);
        HostLock::acquire(&path, Duration::ZERO).expect("after release");
    }
}
