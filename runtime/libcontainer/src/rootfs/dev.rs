//! The container's /dev before pivot_root: the plan's device nodes (made, or bound from the
//! host in a user namespace) and the standard symlinks (fd, stdin, stdout, stderr, core,
//! ptmx). Every name is made relative to an fd of the container's /dev opened inside the
//! root, so a /dev that is a symlink to a host directory (CVE-2026-41579) is resolved inside
//! the rootfs like any other path, and nothing is ever created, chowned or removed on the host.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, umask, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use crate::plan::{DeviceKind, DeviceNode, Plan};
use crate::rootfs::in_root::{self, Leaf, Root};
use crate::syserror::{Context, SysError};

/// Creates the device nodes of the plan. In a user namespace mknod is not allowed, so the
/// host's node is bind mounted instead.
pub fn create_devices(plan: &Plan, root: &Root, in_user_ns: bool) -> Result<(), SysError> {
    for d in &plan.devices {
        if in_user_ns {
            bind_device(d, root)?;
        } else {
            make_node(d, root)?;
        }
    }
    Ok(())
}

/// The directory fd and last name of a container path.
fn parent_and_name<'a>(root: &Root, path: &'a Path) -> Result<(OwnedFd, &'a std::ffi::OsStr), SysError> {
    let name = path.file_name().ok_or_else(|| SysError::new(format!("device path {path:?} has no file name"), Errno::EINVAL))?;
    let parent = path.parent().unwrap_or(Path::new("/"));
    Ok((root.dir(parent)?, name))
}

fn make_node(d: &DeviceNode, root: &Root) -> Result<(), SysError> {
    let kind = match d.kind {
        DeviceKind::Char => SFlag::S_IFCHR,
        DeviceKind::Block => SFlag::S_IFBLK,
        DeviceKind::Fifo => SFlag::S_IFIFO,
    };
    let (dir, name) = parent_and_name(root, &d.path)?;
    match unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(SysError::new(format!("remove {:?} before mknod", d.path), e)),
    }
    let mode = Mode::from_bits_truncate(d.mode);
    // mknod is subject to the umask: clear it so the mode is exact, with no chmod by name
    // afterwards (init is single-threaded).
    let old = umask(Mode::empty());
    let made = mknodat(&dir, name, kind, mode, makedev(d.major, d.minor));
    umask(old);
    made.ctx(|| format!("mknod {:?}", d.path))?;
    // AT_SYMLINK_NOFOLLOW: should the name be swapped for a symlink, the link is chowned.
    fchownat(&dir, name, Some(Uid::from_raw(d.uid)), Some(Gid::from_raw(d.gid)), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .ctx(|| format!("chown {:?}", d.path))
}

fn bind_device(d: &DeviceNode, root: &Root) -> Result<(), SysError> {
    let dest = root.make(&d.path, Leaf::File)?;
    mount(Some(&d.path), &in_root::fd_path(&dest), None::<&str>, MsFlags::MS_BIND, None::<&str>).ctx(|| format!("bind device {:?}", d.path))
}

/// The /dev symlinks every container has, and /dev/ptmx pointing at the container's devpts.
pub fn dev_symlinks(root: &Root) -> Result<(), SysError> {
    let dev = root.dir(Path::new("/dev"))?;
    let mut links =
        vec![("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match symlinkat(target, &dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(SysError::new(format!("symlink /dev/{name}"), e)),
        }
    }
    // /dev/ptmx must be the devpts instance of the container.
    let devpts_ptmx = root.open_no_follow(Path::new("/dev/pts/ptmx"));
    let is_char = devpts_ptmx.is_ok_and(|fd| in_root::kind_of(&fd).is_ok_and(|(k, _)| k == SFlag::S_IFCHR));
    if is_char {
        match unlinkat(&dev, "ptmx", UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(SysError::new("remove /dev/ptmx", e)),
        }
        symlinkat("pts/ptmx", &dev, "ptmx").ctx(|| "symlink /dev/ptmx")?;
    }
    Ok(())
}
