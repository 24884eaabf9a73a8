//! Builds the container's root filesystem from a `Plan`: propagation, the rootfs bind, every
//! mount in order, the cgroup view, device nodes and /dev symlinks, then pivot_root, masks and
//! read-only paths. Runs in the child, inside the new mount namespace.

use std::fs;
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::{Path, PathBuf};

use libcgroups::CgroupView;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::unistd::{chdir, chown, chroot, fchdir, pivot_root, Gid, Uid};

use crate::mount_options::RecursiveAttrs;
use crate::plan::{DeviceKind, DeviceNode, MountKind, MountStep, Plan};
use crate::resolve;
use crate::syserror::{Context, SysError};

const NONE: Option<&str> = None;

/// Flags that only change an existing mount's attributes; they go to the remount.
const ATTR_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME);

const DEFAULT_PROPAGATION: MsFlags = MsFlags::MS_SLAVE.union(MsFlags::MS_REC);

/// Makes the host's mounts not propagate into the container (rslave unless the spec says
/// otherwise) and binds the rootfs on itself, so that it is a mount point for pivot_root.
pub fn prepare(plan: &Plan) -> Result<(), SysError> {
    let flags = plan.rootfs_propagation.unwrap_or(DEFAULT_PROPAGATION);
    mount(NONE, "/", NONE, flags, NONE).ctx(|| format!("set propagation of \"/\" to {flags:?}"))?;
    if !flags.contains(MsFlags::MS_REC) || flags.contains(MsFlags::MS_SHARED) {
        // Some mounts may still be shared; pivot_root refuses a shared parent of the new root.
        // A slave (not private) keeps receiving from the host, as rootfsPropagation may ask,
        // while nothing the container mounts flows back.
        let info = fs::read_to_string("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo")?;
        if let Some((parent, true)) = crate::mountinfo::mount_of(&info, &plan.rootfs) {
            mount(NONE, &parent, NONE, MsFlags::MS_SLAVE, NONE).ctx(|| format!("make {parent:?} a slave"))?;
        }
    }
    mount(Some(&plan.rootfs), &plan.rootfs, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE)
        .ctx(|| format!("bind rootfs {:?} on itself", plan.rootfs))
}

/// Performs every mount of the plan, in order. An error names the mount as the spec does, by
/// its destination in the container and its source, then the step that failed; never the
/// destination's path on the host, which means nothing to the user.
pub fn mount_all(plan: &Plan, views: &[CgroupView]) -> Result<(), SysError> {
    for step in &plan.mounts {
        mount_one(plan, step, views).map_err(|e| SysError::new(mount_op(step, &e.op), e.errno))?;
    }
    Ok(())
}

/// `mount "/data" (source "/srv/data")`, then `: STEP` unless STEP is empty (the source
/// itself failed).
pub fn mount_op(step: &MountStep, failed_step: &str) -> String {
    let mut s = format!("mount {:?}", step.destination);
    if let Some(src) = &step.source {
        s.push_str(&format!(" (source {src:?})"));
    }
    if !failed_step.is_empty() {
        s.push_str(": ");
        s.push_str(failed_step);
    }
    s
}

/// One mount; its errors name only the step (`mount_all` adds which mount).
fn mount_one(plan: &Plan, step: &MountStep, views: &[CgroupView]) -> Result<(), SysError> {
    let dest = resolve::in_root(&plan.rootfs, &step.destination).ctx(|| "resolve the destination")?;
    match &step.kind {
        MountKind::Bind => mount_bind(step, &dest)?,
        MountKind::Cgroup => mount_cgroup(step, &dest, views)?,
        MountKind::Fs(fstype) => mount_fs(step, fstype, &dest)?,
    }
    for p in &step.options.propagation {
        mount(NONE, &dest, NONE, *p, NONE).ctx(|| format!("set propagation {p:?}"))?;
    }
    set_recursive(&dest, step.options.recursive).map_err(|e| as_step(e, "set recursive attributes"))
}

/// The error of a shared helper, renamed as a step of one mount.
fn as_step(e: SysError, step: &str) -> SysError {
    SysError::new(step, e.errno)
}

fn mount_bind(step: &MountStep, dest: &Path) -> Result<(), SysError> {
    let src = step.source.as_deref().unwrap_or(Path::new(""));
    // A missing source is the mount's own fault: no step to name.
    let md = fs::metadata(src).ctx(|| "")?;
    if md.is_dir() {
        mkdir_all(dest).map_err(|e| as_step(e, "create the mount point"))?;
    } else {
        touch(dest).map_err(|e| as_step(e, "create the mount point"))?;
    }
    let mut flags = MsFlags::MS_BIND;
    if step.options.recursive_bind {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(src), dest, NONE, flags, NONE).ctx(|| "bind")?;
    let attrs = step.options.flags & ATTR_FLAGS;
    if !attrs.is_empty() {
        remount(dest, attrs).map_err(|e| as_step(e, &format!("remount with {attrs:?}")))?;
    }
    Ok(())
}

fn mount_fs(step: &MountStep, fstype: &str, dest: &Path) -> Result<(), SysError> {
    mkdir_all(dest).map_err(|e| as_step(e, "create the mount point"))?;
    let source = step.source.clone().unwrap_or_else(|| PathBuf::from(fstype));
    let flags = step.options.flags & !MsFlags::MS_REMOUNT;
    let data = (!step.options.data.is_empty()).then_some(step.options.data.as_str());
    mount(Some(&source), dest, Some(fstype), flags, data).ctx(|| format!("mount {fstype}"))
}

/// The container's /sys/fs/cgroup: a tmpfs holding one bind of the container's own cgroup
/// directory per hierarchy, read-only when the mount asks for it.
fn mount_cgroup(step: &MountStep, dest: &Path, views: &[CgroupView]) -> Result<(), SysError> {
    mkdir_all(dest).map_err(|e| as_step(e, "create the mount point"))?;
    let attrs = step.options.flags & ATTR_FLAGS;
    let single = views.len() == 1 && views[0].name.is_empty();
    if !single {
        let base = attrs & !MsFlags::MS_RDONLY;
        mount(Some("tmpfs"), dest, Some("tmpfs"), base, Some("mode=755")).ctx(|| "mount tmpfs")?;
    }
    for v in views {
        let target = if v.name.is_empty() { dest.to_path_buf() } else { dest.join(&v.name) };
        mkdir_all(&target).map_err(|e| as_step(e, &format!("create the mount point of {:?}", v.name)))?;
        mount(Some(&v.host_dir), &target, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE)
            .ctx(|| format!("bind cgroup {:?} on {:?}", v.host_dir, v.name))?;
        remount(&target, attrs).map_err(|e| as_step(e, &format!("remount {:?} with {attrs:?}", v.name)))?;
        for alias in &v.aliases {
            let link = dest.join(alias);
            if link.symlink_metadata().is_err() {
                symlink(&v.name, &link).ctx(|| format!("symlink {alias:?} to {:?}", v.name))?;
            }
        }
    }
    if !single && attrs.contains(MsFlags::MS_RDONLY) {
        mount(NONE, dest, NONE, MsFlags::MS_REMOUNT | attrs, NONE).ctx(|| "remount read-only")?;
    }
    Ok(())
}

/// Changes the attributes of a bind mount, keeping the flags the kernel locks (in a user
/// namespace a remount may not clear nosuid, nodev or noexec set by the owner).
fn remount(dest: &Path, attrs: MsFlags) -> Result<(), SysError> {
    let locked = locked_flags(dest);
    mount(NONE, dest, NONE, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | attrs | locked, NONE)
        .ctx(|| format!("remount {dest:?} with {attrs:?}"))
}

fn locked_flags(path: &Path) -> MsFlags {
    let mut out = MsFlags::empty();
    if let Ok(st) = statvfs(path) {
        let f = st.flags();
        for (fs, ms) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        ] {
            if f.contains(fs) {
                out |= ms;
            }
        }
    }
    out
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) with AT_RECURSIVE, for `rro` and friends.
fn set_recursive(dest: &Path, attrs: RecursiveAttrs) -> Result<(), SysError> {
    if attrs.is_empty() {
        return Ok(());
    }
    let path = std::ffi::CString::new(dest.as_os_str().as_encoded_bytes())
        .map_err(|_| SysError::new(format!("path {dest:?}"), nix::Error::EINVAL))?;
    let attr = MountAttr { attr_set: attrs.set, attr_clr: attrs.clear, propagation: 0, userns_fd: 0 };
    // SAFETY: the path is a valid C string and `attr` a correctly laid out mount_attr.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            (libc::AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(SysError::new(format!("set recursive mount attributes on {dest:?}"), nix::Error::last()));
    }
    Ok(())
}

/// Whether the container gets our /dev nodes: not when the spec binds its own /dev.
pub fn wants_devices(plan: &Plan) -> bool {
    !plan.mounts.iter().any(|m| m.destination == Path::new("/dev") && m.kind == MountKind::Bind)
}

/// Creates the device nodes of the plan. In a user namespace mknod is not allowed, so the
/// host's node is bind mounted instead.
pub fn create_devices(plan: &Plan, in_user_ns: bool) -> Result<(), SysError> {
    for d in &plan.devices {
        let dest = resolve::in_root(&plan.rootfs, &d.path).ctx(|| format!("resolve device {:?}", d.path))?;
        if let Some(parent) = dest.parent() {
            mkdir_all(parent)?;
        }
        if in_user_ns {
            bind_device(d, &dest)?;
        } else {
            make_node(d, &dest)?;
        }
    }
    Ok(())
}

fn make_node(d: &DeviceNode, dest: &Path) -> Result<(), SysError> {
    let kind = match d.kind {
        DeviceKind::Char => SFlag::S_IFCHR,
        DeviceKind::Block => SFlag::S_IFBLK,
        DeviceKind::Fifo => SFlag::S_IFIFO,
    };
    let _ = fs::remove_file(dest);
    let mode = Mode::from_bits_truncate(d.mode);
    mknod(dest, kind, mode, makedev(d.major, d.minor)).ctx(|| format!("mknod {:?}", d.path))?;
    // mknod is subject to the umask; set the mode exactly.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        dest,
        mode,
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .ctx(|| format!("chmod {:?}", d.path))?;
    chown(dest, Some(Uid::from_raw(d.uid)), Some(Gid::from_raw(d.gid))).ctx(|| format!("chown {:?}", d.path))
}

fn bind_device(d: &DeviceNode, dest: &Path) -> Result<(), SysError> {
    touch(dest)?;
    mount(Some(&d.path), dest, NONE, MsFlags::MS_BIND, NONE).ctx(|| format!("bind device {:?}", d.path))
}

/// The /dev symlinks every container has.
pub fn dev_symlinks(rootfs: &Path) -> Result<(), SysError> {
    let mut links = vec![
        ("/proc/self/fd", "dev/fd"),
        ("/proc/self/fd/0", "dev/stdin"),
        ("/proc/self/fd/1", "dev/stdout"),
        ("/proc/self/fd/2", "dev/stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "dev/core"));
    }
    for (target, link) in links {
        let at = rootfs.join(link);
        match symlink(target, &at) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(SysError::io(format!("symlink {at:?}"), e)),
        }
    }
    // /dev/ptmx must be the devpts instance of the container.
    let ptmx = rootfs.join("dev/ptmx");
    if rootfs.join("dev/pts/ptmx").exists() {
        let _ = fs::remove_file(&ptmx);
        symlink("pts/ptmx", &ptmx).ctx(|| format!("symlink {ptmx:?}"))?;
    }
    Ok(())
}

/// Binds the host's NOTIFY_SOCKET into the container at `/run/notify/notify.sock`.
pub fn bind_notify_socket(rootfs: &Path, host_socket: &Path) -> Result<(), SysError> {
    let dest = resolve::in_root(rootfs, Path::new(crate::NOTIFY_SOCKET_IN_CONTAINER))
        .ctx(|| "resolve the notify socket path")?;
    touch(&dest)?;
    mount(Some(host_socket), &dest, NONE, MsFlags::MS_BIND, NONE).ctx(|| format!("bind notify socket {host_socket:?}"))
}

/// Swaps the root with pivot_root(2) and detaches the old one.
pub fn pivot(rootfs: &Path) -> Result<(), SysError> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old = open("/", flags, Mode::empty()).ctx(|| "open \"/\"")?;
    let new = open(rootfs, flags, Mode::empty()).ctx(|| format!("open rootfs {rootfs:?}"))?;
    fchdir(&new).ctx(|| format!("chdir to rootfs {rootfs:?}"))?;
    pivot_root(".", ".").ctx(|| format!("pivot_root to {rootfs:?}"))?;
    fchdir(&old).ctx(|| "chdir to the old root")?;
    mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE).ctx(|| "make the old root a slave")?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach the old root")?;
    chdir("/").ctx(|| "chdir to \"/\"")
}

/// `linux.rootfsPropagation`, applied to the container's "/" once it is the root.
pub fn root_propagation(plan: &Plan) -> Result<(), SysError> {
    match plan.rootfs_propagation {
        Some(flags) => mount(NONE, "/", NONE, flags, NONE).ctx(|| format!("set propagation of the container's \"/\" to {flags:?}")),
        None => Ok(()),
    }
}

/// `--no-pivot`: move the rootfs over "/" and chroot into it.
pub fn move_root(rootfs: &Path) -> Result<(), SysError> {
    chdir(rootfs).ctx(|| format!("chdir to rootfs {rootfs:?}"))?;
    mount(Some(rootfs), "/", NONE, MsFlags::MS_MOVE, NONE).ctx(|| format!("move rootfs {rootfs:?} to \"/\""))?;
    chroot(".").ctx(|| format!("chroot to {rootfs:?}"))?;
    chdir("/").ctx(|| "chdir to \"/\"")
}

/// maskedPaths: /dev/null over files, an empty read-only tmpfs over directories.
pub fn mask_paths(paths: &[PathBuf]) -> Result<(), SysError> {
    for p in paths {
        let md = match fs::metadata(p) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(SysError::io(format!("stat masked path {p:?}"), e)),
        };
        if md.is_dir() {
            mount(Some("tmpfs"), p, Some("tmpfs"), MsFlags::MS_RDONLY, NONE).ctx(|| format!("mask directory {p:?}"))?;
        } else {
            mount(Some("/dev/null"), p, NONE, MsFlags::MS_BIND, NONE).ctx(|| format!("mask {p:?}"))?;
        }
    }
    Ok(())
}

/// readonlyPaths: bind each on itself, then remount read-only.
pub fn readonly_paths(paths: &[PathBuf]) -> Result<(), SysError> {
    for p in paths {
        match mount(Some(p), p, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE) {
            Ok(()) => {}
            Err(nix::Error::ENOENT) => continue,
            Err(e) => return Err(SysError::new(format!("bind read-only path {p:?}"), e)),
        }
        remount(p, MsFlags::MS_RDONLY | MsFlags::MS_REC)?;
    }
    Ok(())
}

/// root.readonly: remount "/" read-only, keeping its other flags.
pub fn readonly_root() -> Result<(), SysError> {
    remount(Path::new("/"), MsFlags::MS_RDONLY)
}

fn mkdir_all(p: &Path) -> Result<(), SysError> {
    fs::create_dir_all(p).ctx(|| format!("create directory {p:?}"))
}

fn touch(p: &Path) -> Result<(), SysError> {
    if let Some(parent) = p.parent() {
        mkdir_all(parent)?;
    }
    if p.exists() {
        return Ok(());
    }
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(p)
        .map(drop)
        .ctx(|| format!("create mount point {p:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(source: Option<&str>) -> MountStep {
        MountStep {
            kind: MountKind::Bind,
            source: source.map(PathBuf::from),
            destination: PathBuf::from("/data"),
            options: crate::mount_options::parse(&["rbind".to_string()]).unwrap(),
        }
    }

    #[test]
    fn a_mount_error_names_the_destination_and_source_then_the_step() {
        assert_eq!(mount_op(&step(Some("/nonexistent")), ""), r#"mount "/data" (source "/nonexistent")"#);
        assert_eq!(mount_op(&step(Some("/srv")), "create the mount point"), r#"mount "/data" (source "/srv"): create the mount point"#);
        assert_eq!(mount_op(&step(None), "mount tmpfs"), r#"mount "/data": mount tmpfs"#);
        let e = crate::channel::ChildError { stage: "mounts".into(), op: mount_op(&step(Some("/nonexistent")), ""), errno: Some(libc::ENOENT), detail: None };
        assert_eq!(e.to_string(), r#"mounts: mount "/data" (source "/nonexistent"): no such file or directory"#);
    }
}
