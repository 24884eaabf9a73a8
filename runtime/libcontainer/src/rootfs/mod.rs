//! Builds the container's root filesystem from a `Plan`: propagation, the rootfs bind, every
//! mount in order and the cgroup view, then pivot_root and the read-only root. Device nodes
//! are in `dev`, masked and read-only paths in `masks`. Every destination inside the rootfs
//! is opened fd-relative first (`in_root`). Runs in the child, in the new mount namespace.
//! The folder holds what that needs: the fd-relative resolver (`in_root`), the fd-based
//! mount API (`mount_api`), /dev (`dev`), masked and read-only paths (`masks`), the checked
//! procfs (`procfs`), mountinfo, and the idmapped trees the parent makes (`idmap_tree`).

pub mod dev;
pub mod idmap_tree;
pub mod in_root;
pub mod masks;
pub mod mount_api;
pub mod mountinfo;
pub mod procfs;

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcgroups::CgroupView;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root, symlinkat};

use crate::plan::mount_options::RecursiveAttrs;
use crate::plan::{MountKind, MountStep, Plan};
use crate::rootfs::in_root::{Leaf, Root};
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
        if let Some((parent, true)) = crate::rootfs::mountinfo::mount_of(&info, &plan.rootfs) {
            mount(NONE, &parent, NONE, MsFlags::MS_SLAVE, NONE).ctx(|| format!("make {parent:?} a slave"))?;
        }
    }
    mount(Some(&plan.rootfs), &plan.rootfs, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE)
        .ctx(|| format!("bind rootfs {:?} on itself", plan.rootfs))
}

/// Performs every mount of the plan, in order. An error names the mount as the spec does, by
/// its destination in the container and its source, then the step that failed; never the
/// destination's path on the host, which means nothing to the user.
/// `trees` holds the detached trees from the parent (`idmap_tree`), one per bind the plan
/// marks `from_parent`, in plan order.
pub fn mount_all(plan: &Plan, root: &Root, views: &[CgroupView], trees: Vec<OwnedFd>) -> Result<(), SysError> {
    let mut trees = trees.into_iter();
    for step in &plan.mounts {
        let tree = if step.from_parent { trees.next() } else { None };
        mount_one(root, step, views, tree).map_err(|e| SysError::new(mount_op(step, &e.op), e.errno))?;
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

/// One mount; its errors name only the step (`mount_all` adds which mount). The destination
/// is opened inside the root (`in_root`) and the mount goes onto that fd, so no symlink can
/// move it elsewhere.
fn mount_one(root: &Root, step: &MountStep, views: &[CgroupView], tree: Option<OwnedFd>) -> Result<(), SysError> {
    let shown = step.destination.as_path();
    let leaf = match (&step.kind, &step.source, &tree) {
        // The parent's tree says what its source is: init may not reach the source itself.
        (MountKind::Bind, _, Some(tree)) if !is_dir(tree).ctx(|| "")? => Leaf::File,
        // A missing source is the mount's own fault: no step to name.
        (MountKind::Bind, Some(src), None) if !fs::metadata(src).ctx(|| "")?.is_dir() => Leaf::File,
        _ => Leaf::Dir,
    };
    let dest = root.make(&step.destination, leaf).map_err(|e| {
        let what = if e.path == step.destination {
            "create the mount point".to_string()
        } else {
            format!("create the mount point: {} {:?}", e.op, e.path)
        };
        SysError::new(what, e.source)
    })?;
    let target = in_root::fd_path(&dest);
    match &step.kind {
        MountKind::Bind if step.from_parent => attach_tree(tree, step, &dest)?,
        MountKind::Bind => mount_bind(step, &target)?,
        MountKind::Cgroup => mount_cgroup(step, root, &target, shown, views)?,
        MountKind::Fs(fstype) => mount_fs(step, fstype, &target)?,
    }
    let attrs = step.options.flags & ATTR_FLAGS;
    let needs_mount =
        (step.kind == MountKind::Bind && !attrs.is_empty()) || !step.options.propagation.is_empty() || !step.options.recursive.is_empty();
    if needs_mount {
        let mounted = mounted_at(root, &step.destination, &dest, shown)?;
        let mounted_path = in_root::fd_path(&mounted);
        if step.kind == MountKind::Bind && !attrs.is_empty() {
            remount(&mounted_path, attrs, shown)?;
        }
        apply_propagation(step, &mounted_path, shown)?;
        set_recursive(&mounted, step.options.recursive, shown)?;
    }
    Ok(())
}

/// The mount just made on `before` (the destination's fd from before the mount), reached
/// again from the root; refused when it is not a new mount (the destination was swapped).
fn mounted_at(root: &Root, dest: &Path, before: &OwnedFd, shown: &Path) -> Result<OwnedFd, SysError> {
    let after = root.open_at(dest, OFlag::O_PATH)?;
    let old = in_root::mount_id(before).ctx(|| format!("read the mount id of {shown:?}"))?;
    let new = in_root::mount_id(&after).ctx(|| format!("read the mount id of {shown:?}"))?;
    if old == new {
        return Err(SysError::new(format!("find the new mount on {shown:?}: the destination changed during the mount"), nix::Error::EXDEV));
    }
    Ok(after)
}

fn mount_bind(step: &MountStep, target: &Path) -> Result<(), SysError> {
    let src = step.source.as_deref().unwrap_or(Path::new(""));
    let mut flags = MsFlags::MS_BIND;
    if step.options.recursive_bind {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(src), target, NONE, flags, NONE).ctx(|| "bind")
}

/// A bind the parent made (idmapped, or opened for a container in a user namespace): its
/// detached tree, moved onto the destination.
fn attach_tree(tree: Option<OwnedFd>, step: &MountStep, dest: &OwnedFd) -> Result<(), SysError> {
    let what = if step.idmap.is_some() { "attach the idmapped mount" } else { "attach the bind mount" };
    let tree = tree.ok_or_else(|| SysError::new(format!("{what}: the runtime sent none"), nix::Error::EBADMSG))?;
    mount_api::attach(&tree, dest).ctx(|| what)
}

/// Whether a detached tree's root is a directory.
fn is_dir(tree: &OwnedFd) -> nix::Result<bool> {
    let st = nix::sys::stat::fstat(tree)?;
    Ok(nix::sys::stat::SFlag::from_bits_truncate(st.st_mode) & nix::sys::stat::SFlag::S_IFMT == nix::sys::stat::SFlag::S_IFDIR)
}

fn mount_fs(step: &MountStep, fstype: &str, target: &Path) -> Result<(), SysError> {
    let source = step.source.clone().unwrap_or_else(|| PathBuf::from(fstype));
    let flags = step.options.flags & !MsFlags::MS_REMOUNT;
    let data = (!step.options.data.is_empty()).then_some(step.options.data.as_str());
    mount(Some(&source), target, Some(fstype), flags, data).ctx(|| format!("mount {fstype}"))
}

/// The container's /sys/fs/cgroup: a tmpfs holding one bind of the container's own cgroup
/// directory per hierarchy, read-only when the mount asks for it.
fn mount_cgroup(step: &MountStep, root: &Root, target: &Path, shown: &Path, views: &[CgroupView]) -> Result<(), SysError> {
    let attrs = step.options.flags & ATTR_FLAGS;
    let single = views.len() == 1 && views[0].name.is_empty();
    if !single {
        let base = attrs & !MsFlags::MS_RDONLY;
        mount(Some("tmpfs"), target, Some("tmpfs"), base, Some("mode=755")).ctx(|| format!("mount tmpfs on {shown:?}"))?;
    }
    let dest = &step.destination;
    let tmpfs_dir =
        if single { None } else { Some(in_root::reopen_dir(&root.open_at(dest, OFlag::O_PATH)?).ctx(|| format!("open {shown:?}"))?) };
    for v in views {
        let (sub, sub_shown) =
            if v.name.is_empty() { (dest.clone(), shown.to_path_buf()) } else { (dest.join(&v.name), shown.join(&v.name)) };
        let at = root.make(&sub, Leaf::Dir)?;
        mount(Some(&v.host_dir), &in_root::fd_path(&at), NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE)
            .ctx(|| format!("bind cgroup {:?} on {sub_shown:?}", v.host_dir))?;
        let mounted = mounted_at(root, &sub, &at, &sub_shown)?;
        remount(&in_root::fd_path(&mounted), attrs, &sub_shown)?;
        if let Some(dir) = &tmpfs_dir {
            for alias in &v.aliases {
                match symlinkat(v.name.as_str(), dir, alias.as_str()) {
                    Ok(()) | Err(nix::Error::EEXIST) => {}
                    Err(e) => return Err(SysError::new(format!("symlink {:?} to {:?}", shown.join(alias), v.name), e)),
                }
            }
        }
    }
    if !single && attrs.contains(MsFlags::MS_RDONLY) {
        let mounted = root.open_at(dest, OFlag::O_PATH)?;
        mount(NONE, &in_root::fd_path(&mounted), NONE, MsFlags::MS_REMOUNT | attrs, NONE).ctx(|| format!("remount {shown:?} read-only"))?;
    }
    Ok(())
}

/// Changes the attributes of a bind mount, keeping the flags the kernel locks (in a user
/// namespace a remount may not clear nosuid, nodev or noexec set by the owner).
fn remount(target: &Path, attrs: MsFlags, shown: &Path) -> Result<(), SysError> {
    let locked = locked_flags(target);
    mount(NONE, target, NONE, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | attrs | locked, NONE)
        .ctx(|| format!("remount {shown:?} with {attrs:?}"))
}

fn locked_flags(path: &Path) -> MsFlags {
    let mut out = MsFlags::empty();
    if let Ok(st) = statvfs(path) {
        let f = st.flags();
        for (fs, ms) in
            [(FsFlags::ST_NOSUID, MsFlags::MS_NOSUID), (FsFlags::ST_NODEV, MsFlags::MS_NODEV), (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC)]
        {
            if f.contains(fs) {
                out |= ms;
            }
        }
    }
    out
}

fn apply_propagation(step: &MountStep, target: &Path, shown: &Path) -> Result<(), SysError> {
    for p in &step.options.propagation {
        mount(NONE, target, NONE, *p, NONE).ctx(|| format!("set propagation of {shown:?} to {p:?}"))?;
    }
    Ok(())
}

/// mount_setattr(2) with AT_RECURSIVE, for `rro` and friends.
fn set_recursive(mounted: &OwnedFd, attrs: RecursiveAttrs, shown: &Path) -> Result<(), SysError> {
    if attrs.is_empty() {
        return Ok(());
    }
    mount_api::set_attrs(mounted, attrs.set, attrs.clear, true).ctx(|| format!("set recursive mount attributes on {shown:?}"))
}

/// Whether the container gets our /dev nodes: not when the spec binds its own /dev.
pub fn wants_devices(plan: &Plan) -> bool {
    !plan.mounts.iter().any(|m| m.destination == Path::new("/dev") && m.kind == MountKind::Bind)
}

/// Binds the host's NOTIFY_SOCKET into the container at `/run/notify/notify.sock`.
pub fn bind_notify_socket(root: &Root, host_socket: &Path) -> Result<(), SysError> {
    let dest = root.make(Path::new(crate::NOTIFY_SOCKET_IN_CONTAINER), Leaf::File)?;
    mount(Some(host_socket), &in_root::fd_path(&dest), NONE, MsFlags::MS_BIND, NONE).ctx(|| format!("bind notify socket {host_socket:?}"))
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

/// root.readonly: remount "/" read-only, keeping its other flags.
pub fn readonly_root() -> Result<(), SysError> {
    remount(Path::new("/"), MsFlags::MS_RDONLY, Path::new("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(source: Option<&str>) -> MountStep {
        MountStep {
            kind: MountKind::Bind,
            source: source.map(PathBuf::from),
            destination: PathBuf::from("/data"),
            options: crate::plan::mount_options::parse(&["rbind".to_string()]).unwrap(),
            idmap: None,
            from_parent: false,
        }
    }

    #[test]
    fn a_mount_error_names_the_destination_and_source_then_the_step() {
        assert_eq!(mount_op(&step(Some("/nonexistent")), ""), r#"mount "/data" (source "/nonexistent")"#);
        assert_eq!(mount_op(&step(Some("/srv")), "create the mount point"), r#"mount "/data" (source "/srv"): create the mount point"#);
        assert_eq!(mount_op(&step(None), "mount tmpfs"), r#"mount "/data": mount tmpfs"#);
        let e = crate::create::channel::ChildError {
            stage: "mounts".into(),
            op: mount_op(&step(Some("/nonexistent")), ""),
            errno: Some(libc::ENOENT),
            detail: None,
        };
        assert_eq!(e.to_string(), r#"mounts: mount "/data" (source "/nonexistent"): no such file or directory"#);
    }
}
