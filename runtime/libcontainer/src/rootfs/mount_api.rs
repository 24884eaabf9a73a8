//! Thin wrappers around the fd-based mount API (open_tree, move_mount, fsopen/fsmount,
//! mount_setattr; Linux 5.2+, mount_setattr 5.12+): mounts made from an open fd onto an open
//! fd, with no path looked up at the time of the mount. Used after pivot_root, when /proc is
//! the container's and `/proc/self/fd/N` could be redirected.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn owned(rc: libc::c_long) -> nix::Result<OwnedFd> {
    if rc < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the syscall returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

/// A detached copy of the mount tree at `fd` (open_tree `OPEN_TREE_CLONE`), with its
/// submounts when `recursive`.
pub fn clone_tree(fd: &impl AsRawFd, recursive: bool) -> nix::Result<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: open_tree with an fd, an empty C string and flags.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) })
}

/// A detached copy of the mount tree at the host path `path` (open_tree `OPEN_TREE_CLONE`,
/// following symlinks as mount(2) does), with its submounts when `recursive`.
pub fn clone_tree_at(path: &std::path::Path, recursive: bool) -> nix::Result<OwnedFd> {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: open_tree with AT_FDCWD, a valid C string and flags.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) })
}

/// Gives the detached mount at `fd` the id mapping of the user namespace `userns`
/// (mount_setattr `MOUNT_ATTR_IDMAP`), on every submount too when `recursive`.
pub fn set_idmap(fd: &impl AsRawFd, userns: &impl AsRawFd, recursive: bool) -> nix::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let attr = MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.as_raw_fd() as u64 };
    // SAFETY: an fd, an empty C string and a correctly laid out mount_attr.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Attaches the detached mount `tree` on top of the object behind `target`.
pub fn attach(tree: &OwnedFd, target: &impl AsRawFd) -> nix::Result<()> {
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: move_mount between two fds with empty C string paths.
    let rc = unsafe { libc::syscall(libc::SYS_move_mount, tree.as_raw_fd(), c"".as_ptr(), target.as_raw_fd(), c"".as_ptr(), flags) };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// A new, detached instance of filesystem `fstype` without options, with mount attributes
/// `attrs` (`MOUNT_ATTR_*`).
pub fn new_fs(fstype: &CStr, attrs: u64) -> nix::Result<OwnedFd> {
    // SAFETY: fsopen with a valid C string.
    let fs = owned(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: fsconfig CMD_CREATE takes no key or value.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fsmount on the configured context.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs as libc::c_uint) })
}

/// mount_setattr(2) on the mount at `fd`: set `set`, clear `clear` (`MOUNT_ATTR_*`), on every
/// submount too when `recursive`.
pub fn set_attrs(fd: &impl AsRawFd, set: u64, clear: u64, recursive: bool) -> nix::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let attr = MountAttr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: 0 };
    // SAFETY: an fd, an empty C string and a correctly laid out mount_attr.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_tmpfs_is_read_only() {
        // Needs CAP_SYS_ADMIN (the suite runs as root); without it the kernel says EPERM.
        let Ok(fs) = new_fs(c"tmpfs", MOUNT_ATTR_RDONLY) else {
            assert!(!nix::unistd::geteuid().is_root(), "fsmount of a tmpfs failed as root");
            return;
        };
        let how = nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC;
        let made = nix::fcntl::openat(&fs, "x", how, nix::sys::stat::Mode::from_bits_truncate(0o644));
        assert_eq!(made.unwrap_err(), Errno::EROFS);
        let copy = clone_tree(&fs, false).unwrap();
        set_attrs(&copy, MOUNT_ATTR_NOEXEC, 0, false).unwrap();
    }
}
