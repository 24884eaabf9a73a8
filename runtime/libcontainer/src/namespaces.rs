//! Linux namespace kinds: their clone flags, their /proc names, and joining one by path.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::LinuxNamespaceType;

/// One kind of namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NsKind {
    User,
    Mount,
    Pid,
    Net,
    Ipc,
    Uts,
    Cgroup,
    Time,
}

impl NsKind {
    pub fn from_spec(t: LinuxNamespaceType) -> Self {
        match t {
            LinuxNamespaceType::User => NsKind::User,
            LinuxNamespaceType::Mount => NsKind::Mount,
            LinuxNamespaceType::Pid => NsKind::Pid,
            LinuxNamespaceType::Network => NsKind::Net,
            LinuxNamespaceType::Ipc => NsKind::Ipc,
            LinuxNamespaceType::Uts => NsKind::Uts,
            LinuxNamespaceType::Cgroup => NsKind::Cgroup,
            LinuxNamespaceType::Time => NsKind::Time,
        }
    }

    /// The flag for clone(2), unshare(2) and setns(2).
    pub fn flag(self) -> CloneFlags {
        match self {
            NsKind::User => CloneFlags::CLONE_NEWUSER,
            NsKind::Mount => CloneFlags::CLONE_NEWNS,
            NsKind::Pid => CloneFlags::CLONE_NEWPID,
            NsKind::Net => CloneFlags::CLONE_NEWNET,
            NsKind::Ipc => CloneFlags::CLONE_NEWIPC,
            NsKind::Uts => CloneFlags::CLONE_NEWUTS,
            NsKind::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            NsKind::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
        }
    }

    /// The name under /proc/PID/ns/.
    pub fn proc_name(self) -> &'static str {
        match self {
            NsKind::User => "user",
            NsKind::Mount => "mnt",
            NsKind::Pid => "pid",
            NsKind::Net => "net",
            NsKind::Ipc => "ipc",
            NsKind::Uts => "uts",
            NsKind::Cgroup => "cgroup",
            NsKind::Time => "time",
        }
    }

    /// The name used in the runtime-spec and in our messages.
    pub fn spec_name(self) -> &'static str {
        match self {
            NsKind::Net => "network",
            NsKind::Mount => "mount",
            other => other.proc_name(),
        }
    }

    /// The order in which joins must happen: the user namespace first, so that the rest are
    /// joined with its privileges, and the mount namespace last, so that the paths of the
    /// others still resolve.
    pub fn join_rank(self) -> u8 {
        match self {
            NsKind::User => 0,
            NsKind::Mount => 9,
            _ => 5,
        }
    }
}

/// A namespace entered by path rather than created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NamespaceJoin {
    pub kind: NsKind,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("open {kind} namespace {path:?}")]
    Open {
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("join {kind} namespace {path:?}")]
    Join {
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("join the {kinds} namespaces of process {pid}")]
    JoinProcess {
        kinds: String,
        pid: i32,
        #[source]
        source: nix::Error,
    },
    #[error("unshare {kind} namespace")]
    Unshare {
        kind: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("write /proc/self/timens_offsets")]
    Offsets(#[source] crate::rootfs::procfs::ProcError),
    #[error("return to the runtime's {kind} namespace")]
    Return {
        kind: &'static str,
        #[source]
        source: nix::Error,
    },
}

/// Opens a namespace file, to be joined later with `enter`.
pub fn open(kind: NsKind, path: &Path) -> Result<File, NamespaceError> {
    File::open(path).map_err(|source| NamespaceError::Open { kind: kind.spec_name(), path: path.to_path_buf(), source })
}

/// setns(2) into an opened namespace file.
pub fn enter(kind: NsKind, path: &Path, file: &File) -> Result<(), NamespaceError> {
    nix::sched::setns(file.as_fd(), kind.flag()).map_err(|source| NamespaceError::Join {
        kind: kind.spec_name(),
        path: path.to_path_buf(),
        source,
    })
}

/// Opens and joins in one step.
pub fn join(j: &NamespaceJoin) -> Result<(), NamespaceError> {
    let f = open(j.kind, &j.path)?;
    enter(j.kind, &j.path, &f)
}

/// setns(2) with a pidfd: joins the `kinds` namespaces of the process `pid` in one call (the
/// kernel takes the user namespace first and gives the others its rights), with nothing to
/// open and no pid that could be reused meanwhile. Kernels before 5.8 take only nsfs files
/// and refuse a pidfd with EINVAL, as they refuse a namespace that cannot be entered: the
/// caller then joins kind by kind, which names the namespace that fails.
pub fn enter_process(pidfd: BorrowedFd, pid: i32, kinds: &[NsKind]) -> Result<(), NamespaceError> {
    let flags = kinds.iter().fold(CloneFlags::empty(), |f, k| f | k.flag());
    nix::sched::setns(pidfd, flags).map_err(|source| NamespaceError::JoinProcess {
        kinds: kinds.iter().map(|k| k.spec_name()).collect::<Vec<_>>().join(", "),
        pid,
        source,
    })
}

/// Namespace files opened before any of them is joined: once in a joined user namespace, a
/// file that host root owns (a CNI netns under /run/netns, say) can no longer be opened.
pub struct Opened<'a> {
    files: Vec<(&'a NamespaceJoin, File)>,
}

/// Opens every namespace of `joins` (O_RDONLY, close-on-exec), in their order.
pub fn open_all<'a>(joins: impl IntoIterator<Item = &'a NamespaceJoin>) -> Result<Opened<'a>, NamespaceError> {
    let files = joins.into_iter().map(|j| Ok((j, open(j.kind, &j.path)?))).collect::<Result<_, NamespaceError>>()?;
    Ok(Opened { files })
}

impl<'a> Opened<'a> {
    /// None at all.
    pub fn none() -> Self {
        Opened { files: Vec::new() }
    }

    /// The opened namespaces in order (the caller's: user first, mount last), each to be
    /// joined with `Ready::enter`.
    pub fn in_order(&self) -> impl Iterator<Item = Ready<'_>> {
        self.files.iter().map(|(join, file)| Ready { join, file })
    }
}

/// One opened namespace file, ready to be joined.
pub struct Ready<'a> {
    pub join: &'a NamespaceJoin,
    file: &'a File,
}

impl Ready<'_> {
    /// setns(2) into it.
    pub fn enter(&self) -> Result<(), NamespaceError> {
        enter(self.join.kind, &self.join.path, self.file)
    }
}

/// Pid and time namespaces only take effect for children: the runtime enters them just around
/// the clone of its child (so the child needs no second fork), then returns to its own.
/// Dropping this without `restore` returns too, best effort, on error paths.
#[derive(Default)]
pub struct ForChildren {
    originals: Vec<(NsKind, File)>,
}

impl ForChildren {
    fn remember(&mut self, kind: NsKind) -> Result<(), NamespaceError> {
        let own = PathBuf::from(format!("/proc/self/ns/{}", kind.proc_name()));
        let original = open(kind, &own)?;
        self.originals.push((kind, original));
        Ok(())
    }

    /// Enters the namespace at `path` for the children to come.
    pub fn join(&mut self, kind: NsKind, path: &Path) -> Result<(), NamespaceError> {
        let target = open(kind, path)?;
        self.remember(kind)?;
        enter(kind, path, &target)
    }

    /// As `join`, through the pidfd of the process whose namespace `path` is, where the
    /// kernel takes one (`enter_process`): nothing to open but our own namespace's file.
    pub fn join_process(&mut self, kind: NsKind, path: &Path, process: Option<(BorrowedFd, i32)>) -> Result<(), NamespaceError> {
        if let Some((pidfd, pid)) = process {
            self.remember(kind)?;
            match enter_process(pidfd, pid, &[kind]) {
                Ok(()) => return Ok(()),
                // Not entered: nothing to return from.
                Err(NamespaceError::JoinProcess { source: nix::Error::EINVAL, .. }) => drop(self.originals.pop()),
                Err(e) => return Err(e),
            }
        }
        self.join(kind, path)
    }

    /// A new time namespace for the children to come, with its clock offsets (`timens_offsets`
    /// lines), written before any process is inside.
    pub fn new_time(&mut self, offsets: &str) -> Result<(), NamespaceError> {
        self.remember(NsKind::Time)?;
        nix::sched::unshare(NsKind::Time.flag()).map_err(|source| NamespaceError::Unshare { kind: "time", source })?;
        let proc = crate::rootfs::procfs::ProcRoot::host().map_err(NamespaceError::Offsets)?;
        proc.write(Path::new("self/timens_offsets"), offsets.as_bytes()).map_err(NamespaceError::Offsets)
    }

    /// Returns to the runtime's own namespaces.
    pub fn restore(mut self) -> Result<(), NamespaceError> {
        self.return_all()
    }

    fn return_all(&mut self) -> Result<(), NamespaceError> {
        while let Some((kind, f)) = self.originals.pop() {
            nix::sched::setns(f.as_fd(), kind.flag()).map_err(|source| NamespaceError::Return { kind: kind.spec_name(), source })?;
        }
        Ok(())
    }
}

impl Drop for ForChildren {
    fn drop(&mut self) {
        let _ = self.return_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-call join names every kind and the process, and keeps the errno the callers
    /// fall back on: entering our own user namespace again is EINVAL.
    #[test]
    fn joining_through_a_pidfd_names_the_kinds_and_keeps_einval() {
        let me = std::process::id() as i32;
        let pidfd = crate::create::clone::pidfd_open(me).unwrap();
        let e = enter_process(pidfd.as_fd(), me, &[NsKind::User, NsKind::Uts]).unwrap_err();
        assert!(matches!(e, NamespaceError::JoinProcess { source: nix::Error::EINVAL, .. }), "{e:?}");
        assert_eq!(e.to_string(), format!("join the user, uts namespaces of process {me}"));
    }

    #[test]
    fn user_first_mount_last() {
        let mut v = [NsKind::Mount, NsKind::Net, NsKind::User, NsKind::Pid];
        v.sort_by_key(|k| k.join_rank());
        assert_eq!(v[0], NsKind::User);
        assert_eq!(v[3], NsKind::Mount);
    }

    /// Every file is opened before the first join: a path that cannot be opened fails the
    /// whole, with nothing joined.
    #[test]
    fn all_are_opened_before_any_join() {
        let joins = [
            NamespaceJoin { kind: NsKind::Uts, path: PathBuf::from("/proc/self/ns/uts") },
            NamespaceJoin { kind: NsKind::Net, path: PathBuf::from("/nonexistent/netns") },
        ];
        let e = match open_all(&joins) {
            Ok(_) => panic!("opened a missing namespace file"),
            Err(e) => e,
        };
        assert_eq!(e.to_string(), r#"open network namespace "/nonexistent/netns""#);
        let opened: Vec<NsKind> = open_all(&joins[..1]).unwrap().in_order().map(|r| r.join.kind).collect();
        assert_eq!(opened, vec![NsKind::Uts]);
    }

    #[test]
    fn names() {
        assert_eq!(NsKind::Net.proc_name(), "net");
        assert_eq!(NsKind::Net.spec_name(), "network");
        assert_eq!(NsKind::Time.flag().bits(), libc::CLONE_NEWTIME);
    }
}
