//! Binds made by the parent, the effects: the parent (`youki create`) opens each bind the
//! plan marks `from_parent` as a detached mount tree, idmapped when the mount is, and sends
//! it to init, which attaches it on its destination inside the rootfs (`rootfs::mount_all`).
//! The idmapping plan is `idmap`'s.
//!
//! Why the parent: the kernel idmaps only a detached mount (from open_tree with
//! OPEN_TREE_CLONE), and only for a caller with CAP_SYS_ADMIN over the source's superblock
//! and over the user namespace that gives the mapping. For a host filesystem that is root in
//! the host's user namespace: the parent, never init once it sits in the container's user
//! namespace. The same holds for a plain bind of a container in a user namespace: init,
//! mapped root at best, cannot search a host directory closed to others (containerd's
//! sandbox dir with a pod's /dev/shm, a 0700 volume), while the parent, host root, can. The
//! parent also sees the host paths that mount sources name.
//!
//! ```text
//!  parent, once init's id maps are written, before Proceed, for each from_parent bind in order:
//!    open_tree(source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE for rbind])
//!    when idmapped:
//!      the user namespace: Container   -> /proc/<init>/ns/user
//!                          Joined(p)   -> p
//!                          Own(maps)   -> a throwaway child cloned with CLONE_NEWUSER that
//!                                         only waits: the parent writes its maps, opens its
//!                                         ns, then kills and reaps it
//!      mount_setattr(tree, "", AT_EMPTY_PATH [| AT_RECURSIVE for ridmap], MOUNT_ATTR_IDMAP, userns)
//!  ToInit::IdmappedMounts { count } + the trees (SCM_RIGHTS) ──▶ init keeps them in plan order
//!  init, mounts stage: move_mount(tree -> the destination's fd), then the mount's other options
//! ```
//! A mount keeps its own reference on its user namespace, so the throwaway process and every
//! namespace fd go right after mount_setattr. The parent closes its trees once they are sent;
//! init's copies are close-on-exec and each is closed once attached. Idmapping a host
//! filesystem needs real root: a rootless create gets EPERM, named with the mount.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::create::channel::{ChannelError, ChildEnd, ParentEnd, ToInit};
use crate::error::ContainerError;
use crate::plan::idmap::Userns;
use crate::plan::{IdMap, IdMaps, MountStep, Plan};
use crate::rootfs::mount_api;
use crate::rootfs::mount_op;
use crate::rootfs::procfs::ProcRoot;
use crate::syserror::{Context, SysError};

/// Whether init gets trees from the parent: it makes the mounts (a new mount namespace) and
/// at least one of them is a bind the plan marks `from_parent`.
pub fn wanted(plan: &Plan) -> bool {
    plan.new_mount_ns && plan.mounts.iter().any(|m| m.from_parent)
}

/// Parent: makes every idmapped mount of the plan as a detached tree and sends them to init,
/// in plan order. `init` is init's pid, whose id maps are written.
pub fn send_trees(plan: &Plan, init: Pid, channel: &ParentEnd) -> Result<(), ContainerError> {
    if !wanted(plan) {
        return Ok(());
    }
    let mut trees = Vec::new();
    for step in plan.mounts.iter().filter(|m| m.from_parent) {
        let tree = make_tree(step, init).map_err(|e| ContainerError::sys(mount_op(step, &e.op), e.errno))?;
        trees.push(tree);
    }
    let fds: Vec<BorrowedFd> = trees.iter().map(|t| t.as_fd()).collect();
    channel.send_with_fds(&ToInit::IdmappedMounts { count: trees.len() }, &fds)?;
    crate::failpoint::hit("create:after-idmapped-mounts");
    Ok(())
}

/// Init: receives the trees `send_trees` made (none when the plan wants none).
pub fn receive_trees(plan: &Plan, channel: &ChildEnd) -> Result<Vec<OwnedFd>, ChannelError> {
    if !wanted(plan) {
        return Ok(Vec::new());
    }
    let want = plan.mounts.iter().filter(|m| m.from_parent).count();
    match channel.recv_with_fds(want)? {
        (ToInit::IdmappedMounts { count }, fds) if count == want && fds.len() == want => Ok(fds),
        _ => Err(ChannelError::Recv(nix::Error::EBADMSG)),
    }
}

/// One detached copy of the mount's source, idmapped when the mount is. Errors name the step
/// only.
fn make_tree(step: &MountStep, init: Pid) -> Result<OwnedFd, SysError> {
    let source = step.source.as_deref().unwrap_or(Path::new(""));
    // A missing source is the mount's own fault: no step to name (as `rootfs` does).
    let tree = mount_api::clone_tree_at(source, step.options.recursive_bind).ctx(|| "")?;
    if let Some(idmap) = &step.idmap {
        let userns = userns_fd(&idmap.userns, init)?;
        let what = if idmap.recursive { "idmap the mount and its submounts" } else { "idmap the mount" };
        mount_api::set_idmap(&tree, &userns, idmap.recursive).ctx(|| what)?;
    }
    Ok(tree)
}

/// An fd of the user namespace that gives the mount its mapping.
fn userns_fd(userns: &Userns, init: Pid) -> Result<OwnedFd, SysError> {
    match userns {
        Userns::Container => open_userns(&PathBuf::from(format!("/proc/{init}/ns/user"))),
        Userns::Joined(path) => open_userns(path),
        Userns::Own(maps) => throwaway_userns(maps),
    }
}

/// Opens a namespace file (a magic link in /proc, or a bind of one).
fn open_userns(path: &Path) -> Result<OwnedFd, SysError> {
    nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .ctx(|| format!("open the user namespace {path:?}"))
}

/// A user namespace with `maps`, held by a child that does nothing until it is killed. The
/// child goes before this returns; the namespace lives on through the returned fd.
fn throwaway_userns(maps: &IdMaps) -> Result<OwnedFd, SysError> {
    let parent = nix::unistd::getpid();
    let child = crate::create::clone::clone_child(CloneFlags::CLONE_NEWUSER, None, move || {
        // Dies with the runtime, should that go first.
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
        if nix::unistd::getppid() != parent {
            return 1;
        }
        loop {
            nix::unistd::pause();
        }
    })
    .ctx(|| "make a user namespace for the mapping")?;
    let _reaper = Reaper(child.pid);
    crate::failpoint::hit("create:after-idmap-userns");
    let proc = ProcRoot::host()?;
    proc.write(&PathBuf::from(format!("{}/uid_map", child.pid)), map_text(&maps.uid).as_bytes())
        .map_err(|e| SysError::new(format!("write the uidMappings {}", inline(&maps.uid)), e.source))?;
    proc.write(&PathBuf::from(format!("{}/gid_map", child.pid)), map_text(&maps.gid).as_bytes())
        .map_err(|e| SysError::new(format!("write the gidMappings {}", inline(&maps.gid)), e.source))?;
    open_userns(&PathBuf::from(format!("/proc/{}/ns/user", child.pid)))
}

/// Kills and reaps the throwaway child on every path out.
struct Reaper(Pid);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGKILL);
        let _ = waitpid(self.0, None);
    }
}

/// The text of /proc/PID/uid_map for `maps`.
fn map_text(maps: &[IdMap]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container, m.host, m.size)).collect()
}

/// `[0 100000 65536, ...]`, for an error message.
fn inline(maps: &[IdMap]) -> String {
    let parts: Vec<String> = maps.iter().map(|m| format!("{} {} {}", m.container, m.host, m.size)).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_text_is_procs_format() {
        let maps = vec![IdMap { container: 0, host: 100000, size: 65536 }, IdMap { container: 65536, host: 7, size: 1 }];
        assert_eq!(map_text(&maps), "0 100000 65536\n65536 7 1\n");
        assert_eq!(inline(&maps), "[0 100000 65536, 65536 7 1]");
    }

    /// The whole parent-side recipe on a tmpfs, as root: a throwaway namespace, a detached
    /// idmapped tree, and the ids seen through it.
    #[test]
    fn a_throwaway_namespace_idmaps_a_detached_tree() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("youki-idmap-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f"), b"").unwrap();
        let maps =
            IdMaps { uid: vec![IdMap { container: 0, host: 4000, size: 10 }], gid: vec![IdMap { container: 0, host: 5000, size: 10 }] };
        let ns = throwaway_userns(&maps).unwrap();
        let tree = mount_api::clone_tree_at(&dir, false).unwrap();
        let result = mount_api::set_idmap(&tree, &ns, false);
        let st = nix::sys::stat::fstatat(&tree, "f", nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW);
        std::fs::remove_dir_all(&dir).unwrap();
        result.unwrap();
        let st = st.unwrap();
        // Root on disk shows as the mapping's host ids.
        assert_eq!((st.st_uid, st.st_gid), (4000, 5000));
    }
}
