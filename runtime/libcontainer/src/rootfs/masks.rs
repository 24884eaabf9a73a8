//! maskedPaths and readonlyPaths, after pivot_root. Every path is opened inside the new root
//! (`in_root`) and the mounts go fd to fd through `mount_api`, so neither the container's
//! /proc nor a symlink can redirect them.
//!
//! maskedPaths (CVE-2025-31133): a file is covered by a bind of the container's /dev/null,
//! which must be the real null device (character device 1:3, not a symlink): a /dev/null
//! swapped for a symlink would otherwise bind any file, e.g. a writable procfs file, onto
//! the masked path, and a missing one must not silently leave the path unmasked. A
//! directory gets an empty read-only tmpfs. A masked path that is itself a symlink is left
//! alone with a warning: following it would mask whatever the image points it at.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{major, minor, SFlag};

use crate::rootfs::in_root::{self, Root};
use crate::rootfs::mount_api;
use crate::syserror::{Context, SysError};

/// The container's /dev/null, checked to be the null device.
fn dev_null(root: &Root) -> Result<OwnedFd, SysError> {
    let fd = root.open_no_follow(Path::new("/dev/null"))?;
    let (kind, st) = in_root::kind_of(&fd).ctx(|| "stat /dev/null")?;
    if !crate::defences::OFF && (kind != SFlag::S_IFCHR || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3) {
        return Err(SysError::new(format!("mask paths with /dev/null: it is not the null device ({kind:?})"), Errno::EPERM));
    }
    Ok(fd)
}

/// maskedPaths: /dev/null over files, an empty read-only tmpfs over directories.
pub fn mask_paths(paths: &[PathBuf]) -> Result<(), SysError> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = Root::open(Path::new("/"))?;
    let mut null: Option<OwnedFd> = None;
    for p in paths {
        let target = match root.open_no_follow(p) {
            Ok(fd) => fd,
            Err(e) if e.source == Errno::ENOENT => continue,
            Err(e) => return Err(e.into()),
        };
        let (kind, _) = in_root::kind_of(&target).ctx(|| format!("stat masked path {p:?}"))?;
        let tree = match kind {
            SFlag::S_IFDIR => mount_api::new_fs(c"tmpfs", mount_api::MOUNT_ATTR_RDONLY).ctx(|| format!("make a tmpfs to mask {p:?}"))?,
            SFlag::S_IFLNK => {
                tracing::warn!(path = %p.display(), "masked path is a symlink; not following it");
                continue;
            }
            _ => {
                let null = match &null {
                    Some(fd) => fd,
                    None => null.insert(dev_null(&root)?),
                };
                mount_api::clone_tree(null, false).ctx(|| "clone the mount of /dev/null")?
            }
        };
        mount_api::attach(&tree, &target).ctx(|| format!("mask {p:?}"))?;
    }
    Ok(())
}

/// readonlyPaths: a read-only copy of each path's mount tree, attached over it.
pub fn readonly_paths(paths: &[PathBuf]) -> Result<(), SysError> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = Root::open(Path::new("/"))?;
    for p in paths {
        let target = match root.open_at(p, OFlag::O_PATH) {
            Ok(fd) => fd,
            Err(e) if e.source == Errno::ENOENT => continue,
            Err(e) => return Err(e.into()),
        };
        let tree = mount_api::clone_tree(&target, true).ctx(|| format!("bind read-only path {p:?}"))?;
        mount_api::set_attrs(&tree, mount_api::MOUNT_ATTR_RDONLY, 0, true).ctx(|| format!("make {p:?} read-only"))?;
        mount_api::attach(&tree, &target).ctx(|| format!("attach read-only {p:?}"))?;
    }
    Ok(())
}
