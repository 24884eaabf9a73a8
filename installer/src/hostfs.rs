//! Host files through an fd of the host root. Every open, read, rename and unlink resolves
//! its path with openat2 and `RESOLVE_IN_ROOT` relative to an `O_PATH` fd of the host root,
//! so a symlink, absolute or full of `..`, resolves inside the host root and never inside
//! the installer's own filesystem. Paths given to these functions are as the host sees them.
//!
//! A config that is a symlink is written at its target (the link stays): `resolve_final`
//! follows the links of the last component, and writes go to a temp file beside the target.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, readlinkat, renameat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fchmod, fstat, mkdirat, Mode, SFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::error::HostError;

/// Links followed in the last component before giving up, as the kernel's own limit.
const MAX_LINKS: usize = 40;

/// The host root, held open.
#[derive(Debug)]
pub struct HostRoot {
    fd: OwnedFd,
    /// Where the root is mounted, for messages only.
    mounted: PathBuf,
}

/// `host_path` relative to the root ("." for the root itself).
fn rel(host_path: &Path) -> PathBuf {
    let r: PathBuf = host_path.components().filter(|c| !matches!(c, Component::RootDir)).collect();
    if r.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        r
    }
}

fn io(e: Errno) -> std::io::Error {
    std::io::Error::from(e)
}

/// `host_path` split into its parent and a plain last component; None for the root, `.`
/// or `..` endings.
fn split(host_path: &Path) -> Option<(PathBuf, &std::ffi::OsStr)> {
    match host_path.components().next_back()? {
        Component::Normal(name) => Some((host_path.parent().map(Path::to_path_buf).unwrap_or_default(), name)),
        _ => None,
    }
}

impl HostRoot {
    /// Opens the host root mounted at `mounted`.
    pub fn open(mounted: &Path) -> Result<Self, HostError> {
        let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC);
        let fd = openat2(nix::fcntl::AT_FDCWD, mounted, how).map_err(|e| HostError::Read { path: mounted.to_path_buf(), source: io(e) })?;
        Ok(HostRoot { fd, mounted: mounted.to_path_buf() })
    }

    /// Where `host_path` is in the installer's filesystem, for messages.
    pub fn shown(&self, host_path: &Path) -> PathBuf {
        self.mounted.join(rel(host_path))
    }

    /// openat2 under the root; EAGAIN (a rename raced the lookup) is retried.
    fn open_at(&self, host_path: &Path, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .mode(mode)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let path = rel(host_path);
        let mut tries = 0;
        loop {
            match openat2(self.fd.as_fd(), &path, how) {
                Err(Errno::EAGAIN) if tries < 10 => tries += 1,
                other => return other,
            }
        }
    }

    fn read_err(&self, host_path: &Path) -> impl FnOnce(Errno) -> HostError {
        let path = self.shown(host_path);
        move |e| HostError::Read { path, source: io(e) }
    }

    fn write_err(&self, host_path: &Path) -> impl Fn(Errno) -> HostError {
        let path = self.shown(host_path);
        move |e| HostError::Write { path: path.clone(), source: io(e) }
    }

    /// Reads a file, or None when it does not exist (a dangling link counts as absent).
    pub fn read_optional(&self, host_path: &Path) -> Result<Option<Vec<u8>>, HostError> {
        let fd = match self.open_at(host_path, OFlag::O_RDONLY, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(self.read_err(host_path)(e)),
        };
        let mut bytes = Vec::new();
        File::from(fd).read_to_end(&mut bytes).map_err(|source| HostError::Read { path: self.shown(host_path), source })?;
        Ok(Some(bytes))
    }

    fn stat(&self, host_path: &Path) -> Option<nix::sys::stat::FileStat> {
        let fd = self.open_at(host_path, OFlag::O_PATH, Mode::empty()).ok()?;
        fstat(fd.as_fd()).ok()
    }

    /// Whether `host_path` exists (following links inside the root).
    pub fn exists(&self, host_path: &Path) -> bool {
        self.stat(host_path).is_some()
    }

    /// Whether `host_path` is a directory.
    pub fn is_dir(&self, host_path: &Path) -> bool {
        self.stat(host_path).is_some_and(|s| SFlag::from_bits_truncate(s.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
    }

    /// Permission bits of an existing file, or `default`.
    pub fn mode_or(&self, host_path: &Path, default: u32) -> u32 {
        self.stat(host_path).map(|s| s.st_mode & 0o7777).unwrap_or(default)
    }

    /// `host_path` with the symlinks of its last component followed, as a host path the
    /// kernel resolves inside the root. A link target's `..` is left to the kernel, which
    /// resolves it after the links before it (and never above the root). The path may not
    /// exist (a dangling link, or a missing file).
    pub fn resolve_final(&self, host_path: &Path) -> Result<PathBuf, HostError> {
        let mut path = host_path.to_path_buf();
        for _ in 0..MAX_LINKS {
            let Some((parent, name)) = split(&path) else {
                return Ok(path);
            };
            let dir = match self.open_at(&parent, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => return Ok(path),
                Err(e) => return Err(self.read_err(&parent)(e)),
            };
            match readlinkat(dir.as_fd(), name) {
                Ok(target) => {
                    let target = PathBuf::from(target);
                    path = if target.is_absolute() { target } else { parent.join(target) };
                }
                Err(Errno::EINVAL) | Err(Errno::ENOENT) => return Ok(path),
                Err(e) => return Err(self.read_err(&path)(e)),
            }
        }
        Err(HostError::Read { path: self.shown(host_path), source: io(Errno::ELOOP) })
    }

    /// Opens directory `host_path`, creating it and its missing parents (mode 0755).
    pub fn create_dir_all(&self, host_path: &Path) -> Result<OwnedFd, HostError> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        match self.open_at(host_path, flags, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(self.write_err(host_path)(e)),
        }
        let Some((parent, name)) = split(host_path) else {
            return Err(self.write_err(host_path)(Errno::ENOENT));
        };
        let parent_fd = self.create_dir_all(&parent)?;
        match mkdirat(parent_fd.as_fd(), name, Mode::from_bits_truncate(0o755)) {
            // EEXIST after ENOENT: a link to a missing directory; the open below says so.
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(self.write_err(host_path)(e)),
        }
        self.open_at(host_path, flags, Mode::empty()).map_err(self.write_err(host_path))
    }

    /// Refuses a directory on a read-only mount (a NixOS store, a read-only bind mount).
    fn check_writable(&self, dir: BorrowedFd<'_>, asked: &Path, target: &Path) -> Result<(), HostError> {
        let st = fstatvfs(dir).map_err(self.read_err(target))?;
        if st.flags().contains(FsFlags::ST_RDONLY) {
            return Err(self.read_only(asked, target));
        }
        Ok(())
    }

    fn read_only(&self, asked: &Path, target: &Path) -> HostError {
        HostError::ReadOnly { path: asked.to_path_buf(), target: target.to_path_buf() }
    }

    /// Fails with `HostError::ReadOnly` when writing `host_path` (at its link target) could
    /// not work because the target's directory is on a read-only mount. A missing directory
    /// is fine (it will be created).
    pub fn ensure_writable(&self, host_path: &Path) -> Result<(), HostError> {
        let target = self.resolve_final(host_path)?;
        let Some((dir, _)) = split(&target) else {
            return Ok(());
        };
        match self.open_at(&dir, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()) {
            Ok(fd) => self.check_writable(fd.as_fd(), host_path, &target),
            Err(_) => Ok(()),
        }
    }

    /// Replaces `host_path` (at its link target, keeping the link) with `bytes` atomically:
    /// a temp file in the target's directory, fsync, rename over the target, fsync of the
    /// directory. A process running the old file keeps its inode (no ETXTBSY).
    pub fn replace_atomically(&self, host_path: &Path, bytes: &[u8], mode: u32) -> Result<(), HostError> {
        let target = self.resolve_final(host_path)?;
        let Some((dir_path, name)) = split(&target) else {
            return Err(self.write_err(host_path)(Errno::EISDIR));
        };
        let dir = self.create_dir_all(&dir_path)?;
        self.check_writable(dir.as_fd(), host_path, &target)?;
        let tmp = format!(".{}.youki-installer.{}", name.to_string_lossy(), std::process::id());
        let tmp_path = dir_path.join(&tmp);
        let werr = |e: Errno| match e {
            Errno::EROFS => self.read_only(host_path, &target),
            e => self.write_err(&tmp_path)(e),
        };
        let _ = unlinkat(dir.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        let fd = nix::fcntl::openat(
            dir.as_fd(),
            tmp.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode & 0o7777),
        )
        .map_err(werr)?;
        let result = (|| {
            fchmod(fd.as_fd(), Mode::from_bits_truncate(mode & 0o7777)).map_err(werr)?;
            let mut file = File::from(fd);
            file.write_all(bytes)
                .and_then(|()| file.sync_all())
                .map_err(|source| HostError::Write { path: self.shown(&tmp_path), source })?;
            renameat(dir.as_fd(), tmp.as_str(), dir.as_fd(), name).map_err(|e| match e {
                Errno::EROFS => self.read_only(host_path, &target),
                e => self.write_err(&target)(e),
            })?;
            nix::unistd::fsync(dir.as_fd()).map_err(self.write_err(&dir_path))
        })();
        if result.is_err() {
            let _ = unlinkat(dir.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        result
    }

    fn unlink(&self, host_path: &Path, shown: &Path) -> Result<(), HostError> {
        let Some((parent, name)) = split(host_path) else {
            return Ok(());
        };
        let dir = match self.open_at(&parent, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(HostError::Remove { path: self.shown(shown), source: io(e) }),
        };
        match unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(HostError::Remove { path: self.shown(shown), source: io(e) }),
        }
    }

    /// Removes `host_path` itself (a link is removed, not its target); missing is fine.
    pub fn remove_optional(&self, host_path: &Path) -> Result<(), HostError> {
        self.unlink(host_path, host_path)
    }

    /// Removes the file `host_path` leads to (the link's target; the link stays).
    pub fn remove_target(&self, host_path: &Path) -> Result<(), HostError> {
        let target = self.resolve_final(host_path)?;
        self.unlink(&target, host_path)
    }

    /// Removes directory `host_path` if it is empty; anything else is left alone.
    pub fn remove_dir_if_empty(&self, host_path: &Path) {
        if let Some((parent, name)) = split(host_path) {
            if let Ok(dir) = self.open_at(&parent, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()) {
                // rmdir fails on a non-empty directory (ENOTEMPTY) and on a link (ENOTDIR).
                let _ = unlinkat(dir.as_fd(), name, UnlinkatFlags::RemoveDir);
            }
        }
    }

    /// Names of the entries of directory `host_path` and whether each is a directory
    /// (links are not followed); empty when it cannot be read.
    pub fn list_dir(&self, host_path: &Path) -> Vec<(String, bool)> {
        let Ok(fd) = self.open_at(host_path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()) else {
            return Vec::new();
        };
        let Ok(mut dir) = nix::dir::Dir::from_fd(fd) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in dir.iter().flatten() {
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name == "." || name == ".." {
                continue;
            }
            let is_dir = entry.file_type() == Some(nix::dir::Type::Directory);
            out.push((name.to_string(), is_dir));
        }
        out.sort();
        out
    }

    /// Opens (creating) a file for a lock.
    pub fn open_lock(&self, host_path: &Path) -> Result<File, HostError> {
        let lock_err = |e: Errno| HostError::Lock { path: self.shown(host_path), source: io(e) };
        if let Some((parent, _)) = split(host_path) {
            self.create_dir_all(&parent)?;
        }
        self.open_at(host_path, OFlag::O_WRONLY | OFlag::O_CREAT, Mode::from_bits_truncate(0o644)).map(File::from).map_err(lock_err)
    }

    /// A path to `host_path` in the installer's filesystem with every link already resolved
    /// inside the root (for sockets, which are reached by path): `/proc/self/fd/N` of an
    /// `O_PATH` fd would close with the fd, so the fd's own path is read back instead.
    pub fn pod_path(&self, host_path: &Path) -> Result<PathBuf, HostError> {
        let fd = self.open_at(host_path, OFlag::O_PATH, Mode::empty()).map_err(self.read_err(host_path))?;
        std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map_err(|source| HostError::Read { path: self.shown(host_path), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_resolve_inside_the_root() {
        let top = tempfile::tempdir().expect("tempdir");
        let root = top.path().join("root");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::create_dir_all(root.join("store")).expect("mkdir");
        std::fs::write(root.join("store/c"), "inside").expect("write");
        std::fs::write(top.path().join("c"), "outside").expect("write");
        let h = HostRoot::open(&root).expect("open");
        for (link, target) in [("abs", "/store/c"), ("rel", "../store/c"), ("up", "../../../../../../store/c")] {
            symlink(target, root.join("etc").join(link)).expect("symlink");
            let p = Path::new("/etc").join(link);
            assert_eq!(h.read_optional(&p).expect("read").as_deref(), Some(&b"inside"[..]), "{link}");
        }
        // A link that leaves the root lands inside it, where nothing is.
        symlink("../../c", root.join("etc/escape")).expect("symlink");
        assert_eq!(h.read_optional(Path::new("/etc/escape")).expect("read"), None);
    }

    #[test]
    fn replace_keeps_no_temp_file_and_sets_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = HostRoot::open(dir.path()).expect("open");
        let path = Path::new("/bin/tool");
        h.replace_atomically(path, b"one", 0o755).expect("first write");
        h.replace_atomically(path, b"two", 0o755).expect("second write");
        assert_eq!(std::fs::read(dir.path().join("bin/tool")).expect("read"), b"two");
        assert_eq!(h.mode_or(path, 0), 0o755);
        assert_eq!(h.list_dir(Path::new("/bin")).len(), 1);
    }
}
