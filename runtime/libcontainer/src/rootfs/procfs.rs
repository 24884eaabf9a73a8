//! Writes under /proc that cannot be redirected: sysctls, oom_score_adj, setgroups and the id
//! maps go through an fd of a procfs root we checked, never through a /proc path.
//!
//! Threat model (CVE-2025-52881, and the fake /proc of CVE-2019-16884): inside the container
//! /proc is mounted from a spec we trust, but the rootfs, shared volumes and racing containers
//! can put a bind mount, a tmpfs or a symlink over any file below it, so a write meant for
//! `/proc/sys/kernel/x` lands in a file the attacker reads or, worse, in another procfs file
//! of their choosing. So the root used here is, in order of preference: a private procfs
//! instance of our own (fsopen, seen by no one else), a non-recursive clone of /proc (which
//! drops every mount stacked below it), or /proc itself. In every case it must be a procfs
//! (fstatfs `PROC_SUPER_MAGIC`) at its root inode, and files are opened beneath it with
//! `RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS`: any mount crossed on the way
//! (an overmounted file) fails with EXDEV rather than being written.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use crate::rootfs::mount_api;

/// The inode number of the root directory of every procfs instance.
const PROC_ROOT_INO: u64 = 1;

/// A failed step on a procfs file.
#[derive(Debug, thiserror::Error)]
#[error("{op} /proc/{}", path.display())]
pub struct ProcError {
    pub op: &'static str,
    /// Relative to the procfs root.
    pub path: PathBuf,
    #[source]
    pub source: nix::Error,
}

impl From<ProcError> for crate::syserror::SysError {
    fn from(e: ProcError) -> Self {
        crate::syserror::SysError::new(e.to_string(), e.source)
    }
}

/// A checked procfs root.
#[derive(Debug)]
pub struct ProcRoot {
    fd: OwnedFd,
}

impl ProcRoot {
    /// The most private procfs root this process may have (see the module doc).
    pub fn open() -> Result<ProcRoot, ProcError> {
        let attrs = mount_api::MOUNT_ATTR_NOSUID | mount_api::MOUNT_ATTR_NODEV | mount_api::MOUNT_ATTR_NOEXEC;
        let private = mount_api::new_fs(c"proc", attrs);
        let fd = match private {
            Ok(fd) => fd,
            Err(_) => Self::host_proc_clone().or_else(|_| Self::host_proc())?,
        };
        Self::checked(fd)
    }

    /// /proc of this mount namespace, checked: for the runtime's own process on the host,
    /// which may not make a new procfs.
    pub fn host() -> Result<ProcRoot, ProcError> {
        Self::checked(Self::host_proc()?)
    }

    fn host_proc_clone() -> Result<OwnedFd, ProcError> {
        let proc = Self::host_proc()?;
        mount_api::clone_tree(&proc, false).map_err(|source| ProcError { op: "clone the mount of", path: PathBuf::new(), source })
    }

    fn host_proc() -> Result<OwnedFd, ProcError> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        nix::fcntl::open("/proc", flags, Mode::empty()).map_err(|source| ProcError { op: "open", path: PathBuf::new(), source })
    }

    fn checked(fd: OwnedFd) -> Result<ProcRoot, ProcError> {
        let fail = |source| ProcError { op: "check procfs at", path: PathBuf::new(), source };
        let fs = fstatfs(&fd).map_err(fail)?;
        let st = nix::sys::stat::fstat(&fd).map_err(fail)?;
        if fs.filesystem_type() != PROC_SUPER_MAGIC || st.st_ino != PROC_ROOT_INO {
            return Err(fail(Errno::EXDEV));
        }
        Ok(ProcRoot { fd })
    }

    /// Opens `path` (relative to the procfs root) beneath it, crossing no mount and no magic
    /// link, and checks the result is procfs too.
    pub fn open_file(&self, path: &Path, flags: OFlag) -> Result<OwnedFd, ProcError> {
        let fail = |op| move |source| ProcError { op, path: path.to_path_buf(), source };
        if crate::defences::OFF {
            // Test-only negative control: the /proc path by name, through whatever is mounted there.
            let flags = flags | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
            return nix::fcntl::open(&Path::new("/proc").join(path), flags, Mode::empty()).map_err(fail("open"));
        }
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOCTTY)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_XDEV | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = openat2(self.fd.as_fd(), path, how).map_err(fail("open"))?;
        let fs = fstatfs(&fd).map_err(fail("check procfs at"))?;
        if fs.filesystem_type() != PROC_SUPER_MAGIC {
            return Err(fail("check procfs at")(Errno::EXDEV));
        }
        Ok(fd)
    }

    /// Writes `data` to the procfs file `path` in one write(2), as procfs files want.
    pub fn write(&self, path: &Path, data: &[u8]) -> Result<(), ProcError> {
        let fd = self.open_file(path, OFlag::O_WRONLY)?;
        let n = nix::unistd::write(&fd, data).map_err(|source| ProcError { op: "write", path: path.to_path_buf(), source })?;
        if n != data.len() {
            return Err(ProcError { op: "write all of", path: path.to_path_buf(), source: Errno::EIO });
        }
        Ok(())
    }

    /// Reads the procfs file `path`.
    pub fn read(&self, path: &Path) -> Result<String, ProcError> {
        let fd = self.open_file(path, OFlag::O_RDONLY)?;
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut out).map_err(|e| ProcError {
            op: "read",
            path: path.to_path_buf(),
            source: crate::syserror::errno_of(&e),
        })?;
        Ok(out)
    }
}

/// The procfs path of a sysctl key: dots become slashes (`net.ipv4.ip_forward`), except that
/// a key already written with slashes keeps them, as sysctl(8) allows.
pub fn sysctl_path(key: &str) -> PathBuf {
    let rel = if key.contains('/') { key.to_string() } else { key.replace('.', "/") };
    Path::new("sys").join(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_map_to_proc_sys() {
        assert_eq!(sysctl_path("net.ipv4.ip_forward"), PathBuf::from("sys/net/ipv4/ip_forward"));
        assert_eq!(sysctl_path("net/ipv4/conf/eth0.100/forwarding"), PathBuf::from("sys/net/ipv4/conf/eth0.100/forwarding"));
    }

    #[test]
    fn reads_through_a_checked_root_and_refuses_other_filesystems() {
        let proc = ProcRoot::host().unwrap();
        let status = proc.read(Path::new("self/status")).unwrap();
        assert!(status.contains("Pid:"));
        // Magic links (fd/N, exe, cwd) are never followed.
        assert!(proc.open_file(Path::new("self/cwd"), OFlag::O_PATH).is_err());
        // Not a procfs root: a directory elsewhere is refused.
        let d = tempfile::tempdir().unwrap();
        let fd = nix::fcntl::open(d.path(), OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).unwrap();
        assert_eq!(ProcRoot::checked(fd).unwrap_err().source, Errno::EXDEV);
    }
}
