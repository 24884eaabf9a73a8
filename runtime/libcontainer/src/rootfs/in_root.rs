//! Opens and creates paths inside the container's root through an `O_PATH` fd of that root,
//! with openat2(2) `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, so the kernel resolves every
//! component at the moment we use it and never outside the root.
//!
//! Threat model: the rootfs, and every volume shared with another container, is written by
//! people we do not trust. They may plant symlinks (absolute, `..`-laden, or to /proc magic
//! links) anywhere in it, and a second container sharing a volume may swap a directory for
//! a symlink while we work (CVE-2019-19921 and its regression CVE-2023-27561, CVE-2021-30465,
//! the /dev symlinks of CVE-2026-41579). A path checked first and used later by name can be
//! redirected between the two steps, so nothing here checks a path and then uses it: a
//! destination is opened once, as an fd, and the mount goes onto that fd
//! (`/proc/self/fd/N` of the host's procfs before pivot_root, or move_mount(2) after it, see
//! `mount_api`). Whatever the container does afterwards, the mount lands on the object we
//! opened, which lies inside the root. Missing components are made one at a time with
//! mkdirat(2)/openat(2) relative to the fd of their resolved parent. Out of scope: a host
//! root that races us on the host side of the bundle path, and kernels without openat2 (5.6+).

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, mkdirat, FileStat, Mode, SFlag};

/// How often openat2 is retried when it reports EAGAIN (a rename raced the lookup).
const RETRIES: usize = 64;

/// How many dangling symlinks `Root::make` follows to make their targets, as the kernel's
/// own limit on symlinks in one lookup.
const MAX_LINKS: usize = 40;

/// A failed step on a path inside the container's root.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path:?} in the container root")]
pub struct PathError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: nix::Error,
}

impl From<PathError> for crate::syserror::SysError {
    fn from(e: PathError) -> Self {
        crate::syserror::SysError::new(e.to_string(), e.source)
    }
}

fn err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> PathError + 'a {
    move |source| PathError { op, path: path.to_path_buf(), source }
}

/// What a newly made leaf should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Dir,
    File,
}

/// The container's root, held open.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    /// Opens the directory at `path` (a host path from the bundle, trusted) as the root.
    pub fn open(path: &Path) -> Result<Root, PathError> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(path, flags, Mode::empty()).map_err(err("open root", path))?;
        Ok(Root { fd })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `path` (a container path) as the container would see it: symlinks are followed
    /// inside the root, magic links are refused. `O_CLOEXEC` is always added.
    pub fn open_at(&self, path: &Path, flags: OFlag) -> Result<OwnedFd, PathError> {
        open_in(self.fd(), &relative(path), flags).map_err(err("open", path))
    }

    /// Like `open_at` without following a symlink in the last component: a symlink comes
    /// back as an `O_PATH` fd of the link itself.
    pub fn open_no_follow(&self, path: &Path) -> Result<OwnedFd, PathError> {
        open_in(self.fd(), &relative(path), OFlag::O_PATH | OFlag::O_NOFOLLOW).map_err(err("open", path))
    }

    /// Opens `path` as an `O_PATH` fd, making it (and every missing parent directory) when
    /// it does not exist: a directory or an empty file, as `leaf` says. A dangling symlink
    /// on the way gets its target made, inside the root.
    pub fn make(&self, path: &Path, leaf: Leaf) -> Result<OwnedFd, PathError> {
        self.make_within(path, leaf, 0)
    }

    fn make_within(&self, path: &Path, leaf: Leaf, links: usize) -> Result<OwnedFd, PathError> {
        let rel = relative(path);
        match open_in(self.fd(), &rel, OFlag::O_PATH) {
            Err(Errno::ENOENT) => {}
            other => return other.map_err(err("open", path)),
        }
        let Some((parent, name)) = split_last(&rel) else {
            return open_in(self.fd(), &rel, OFlag::O_PATH).map_err(err("open", path));
        };
        let dir = self.make_within(Path::new(&parent), Leaf::Dir, links)?;
        let dir = reopen_dir(&dir).map_err(err("open directory", path))?;
        let made = match leaf {
            Leaf::Dir => mkdirat(&dir, name.as_os_str(), Mode::from_bits_truncate(0o755)),
            Leaf::File => nix::fcntl::openat(
                &dir,
                name.as_os_str(),
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map(drop),
        };
        match made {
            Ok(()) => {}
            // Someone made it first, or it is a dangling symlink: make what it points at.
            Err(Errno::EEXIST) => {
                if let Ok(target) = nix::fcntl::readlinkat(&dir, name.as_os_str()) {
                    if links >= MAX_LINKS {
                        return Err(err("resolve", path)(Errno::ELOOP));
                    }
                    let target = Path::new(&target);
                    let next = if target.is_absolute() { target.to_path_buf() } else { Path::new("/").join(&parent).join(target) };
                    self.make_within(&next, leaf, links + 1)?;
                }
            }
            Err(e) => return Err(err("create", path)(e)),
        }
        open_in(self.fd(), &rel, OFlag::O_PATH).map_err(err("open what was created at", path))
    }

    /// The directory at `path` (made when missing), opened for *at() calls.
    pub fn dir(&self, path: &Path) -> Result<OwnedFd, PathError> {
        let fd = self.make(path, Leaf::Dir)?;
        reopen_dir(&fd).map_err(err("open directory", path))
    }
}

/// openat2 with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` from `root`, retried on EAGAIN.
fn open_in(root: BorrowedFd, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let target: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    if crate::defences::OFF {
        // Test-only negative control: by name, following every symlink (the last one too) from
        // the process's root, and `..` climbs out.
        return nix::fcntl::openat(root, target, (flags - OFlag::O_NOFOLLOW) | OFlag::O_CLOEXEC, Mode::empty());
    }
    let how = OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut last = Errno::EAGAIN;
    for _ in 0..RETRIES {
        match openat2(root, target, how) {
            Err(Errno::EAGAIN) => last = Errno::EAGAIN,
            other => return other,
        }
    }
    Err(last)
}

/// A directory `O_PATH` fd reopened for reading, so it can serve as the dirfd of mkdirat,
/// symlinkat and unlinkat. Fails with ENOTDIR on anything else.
pub fn reopen_dir(fd: &OwnedFd) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    openat2(fd.as_fd(), ".", how)
}

/// The path through which the kernel reaches exactly the object behind `fd`: the mount
/// target and source for mount(2) before pivot_root, while /proc is the host's.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The file type of an open fd.
pub fn kind_of(fd: &OwnedFd) -> nix::Result<(SFlag, FileStat)> {
    let st = fstat(fd)?;
    Ok((SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()), st))
}

/// The mount id of the mount `fd` lives on (statx `STATX_MNT_ID`).
pub fn mount_id(fd: &OwnedFd) -> nix::Result<u64> {
    // SAFETY: statx is plain data, valid when zeroed; statx(2) fills the buffer we pass and
    // AT_EMPTY_PATH makes it look at `fd` only.
    let (rc, stx) = unsafe {
        let mut stx: libc::statx = std::mem::zeroed();
        let rc = libc::statx(fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, libc::STATX_MNT_ID, &mut stx);
        (rc, stx)
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok(stx.stx_mnt_id)
}

/// A container path as a path relative to the root, without `.`, leading `/` or prefix.
/// `..` stays: RESOLVE_IN_ROOT clamps it at the root, as the container would.
pub fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// (parent, last name) of a relative path whose last component is a plain name.
fn split_last(rel: &Path) -> Option<(PathBuf, OsString)> {
    match rel.components().next_back() {
        Some(Component::Normal(name)) => Some((rel.parent().unwrap_or(Path::new("")).to_path_buf(), name.to_os_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn relative_paths_drop_the_root_and_dots() {
        assert_eq!(relative(Path::new("/a/./b/../c")), PathBuf::from("a/b/../c"));
        assert_eq!(relative(Path::new("/")), PathBuf::new());
        assert_eq!(split_last(Path::new("a/b")), Some((PathBuf::from("a"), OsString::from("b"))));
        assert_eq!(split_last(Path::new("a/..")), None);
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        symlink("/real", root.join("abs")).unwrap();
        symlink("../../../../../../..", root.join("up")).unwrap();
        symlink(outside.path(), root.join("host")).unwrap();
        let r = Root::open(root).unwrap();
        let fd = r.make(Path::new("/abs/dir/new/leaf"), Leaf::Dir).unwrap();
        assert!(root.join("real/dir/new/leaf").is_dir());
        assert_eq!(kind_of(&fd).unwrap().0, SFlag::S_IFDIR);
        r.make(Path::new("/up/escaped"), Leaf::File).unwrap();
        assert!(root.join("escaped").is_file());
        // An absolute symlink to a host directory lands in the root, never on the host.
        r.make(Path::new("/host/x"), Leaf::Dir).unwrap();
        symlink("/deep/er/target", root.join("dangling")).unwrap();
        r.make(Path::new("/dangling/y"), Leaf::File).unwrap();
        assert!(root.join("deep/er/target/y").is_file());
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none(), "the host directory was written");
        assert!(root.join(outside.path().strip_prefix("/").unwrap()).join("x").is_dir());
    }

    #[test]
    fn magic_links_and_loops_are_refused() {
        let d = tempfile::tempdir().unwrap();
        symlink("/proc/self/root", d.path().join("magic")).unwrap();
        symlink("/b", d.path().join("a")).unwrap();
        symlink("/a", d.path().join("b")).unwrap();
        let r = Root::open(d.path()).unwrap();
        assert_eq!(r.open_at(Path::new("/a/x"), OFlag::O_PATH).unwrap_err().source, Errno::ELOOP);
        // /proc/self/root inside the root is a dangling path, not the host's magic link.
        assert!(r.open_at(Path::new("/magic/etc"), OFlag::O_PATH).is_err());
        let link = r.open_no_follow(Path::new("/a")).unwrap();
        assert_eq!(kind_of(&link).unwrap().0, SFlag::S_IFLNK);
    }

    /// CVE-2024-21626: no fd the runtime opens may survive into the container's execve.
    #[test]
    fn every_fd_opened_here_is_close_on_exec() {
        let cloexec = |fd: &OwnedFd| {
            // SAFETY: F_GETFD on an fd we own.
            let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
            flags >= 0 && flags & libc::FD_CLOEXEC != 0
        };
        let d = tempfile::tempdir().unwrap();
        let r = Root::open(d.path()).unwrap();
        assert!(cloexec(&r.fd));
        let made = r.make(Path::new("/a/b"), Leaf::File).unwrap();
        assert!(cloexec(&made));
        assert!(cloexec(&r.dir(Path::new("/a")).unwrap()));
        assert!(cloexec(&r.open_at(Path::new("/a/b"), OFlag::O_RDONLY).unwrap()));
        assert!(cloexec(&r.open_no_follow(Path::new("/a")).unwrap()));
        let proc = crate::rootfs::procfs::ProcRoot::host().unwrap();
        assert!(cloexec(&proc.open_file(Path::new("self/status"), OFlag::O_RDONLY).unwrap()));
        if let Ok(fs) = crate::rootfs::mount_api::new_fs(c"tmpfs", 0) {
            assert!(cloexec(&fs));
            assert!(cloexec(&crate::rootfs::mount_api::clone_tree(&fs, false).unwrap()));
        }
    }
}
