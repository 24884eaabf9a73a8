//! Mounts: the default filesystems, bind/rbind/tmpfs options, the read-only root, masked and
//! read-only paths, rootfs propagation, recursive read-only, and destinations that try to
//! leave the rootfs through a symlink. (A relative destination is in `bad_input`.)

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::facts::{Facts, Mount};
use crate::{check, check_eq, host, spec};
use anyhow::{Context, Result};
use serde_json::json;
use std::fs;
use std::path::Path;

const EROFS: i32 = libc::EROFS;

pub fn cases() -> Vec<Case> {
    let m = "mounts";
    let propagation_gap = "runc 1.1.5 privatizes the mount holding the rootfs and leaves / without the requested propagation";
    vec![
        Case::new(m, "default_filesystems", default_filesystems),
        Case::new(m, "bind_ro_nosuid_nodev_noexec", bind_options),
        Case::new(m, "rbind_keeps_submounts", rbind_keeps_submounts),
        Case::new(m, "tmpfs_size_and_mode", tmpfs_size_and_mode),
        Case::new(m, "readonly_root", readonly_root),
        Case::new(m, "writable_root", writable_root),
        Case::new(m, "masked_paths", masked_paths),
        Case::new(m, "readonly_paths", readonly_paths),
        Case::new(m, "rootfs_propagation_private", |c| rootfs_propagation(c, "private")),
        Case::new(m, "rootfs_propagation_shared", |c| rootfs_propagation(c, "shared")).runc_xfail(propagation_gap),
        Case::new(m, "rootfs_propagation_slave", |c| rootfs_propagation(c, "slave"))
            .runc_xfail(propagation_gap)
            .runc13_xfail("runc 1.3 still leaves / private for `slave`: no master, so host mounts do not propagate in"),
        Case::new(m, "rootfs_propagation_unbindable", |c| rootfs_propagation(c, "unbindable")).runc_xfail(propagation_gap),
        Case::new(m, "recursive_readonly_rro", recursive_readonly),
        Case::new(m, "symlink_destination_stays_in_rootfs", symlink_destination),
    ]
}

fn require_fstype<'a>(facts: &'a Facts, point: &str, fstype: &str) -> Result<&'a Mount> {
    let m = facts.require_mount(point)?;
    check_eq!(m.fstype.as_str(), fstype, "filesystem type at {point}");
    Ok(m)
}

fn require_options(m: &Mount, options: &[&str]) -> Result<()> {
    for opt in options {
        check!(m.has_option(opt), "{} lacks mount option {opt}: {}", m.mount_point, m.options);
    }
    Ok(())
}

/// The seven mounts of the `runc spec` default, with the options it asks for.
fn default_filesystems(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let f = ctx.checker(&mut b, &["--stat", "/dev", "--stat", "/dev/shm", "--write-test", "/sys"])?;
    require_fstype(&f, "/proc", "proc")?;
    let dev = require_fstype(&f, "/dev", "tmpfs")?;
    require_options(dev, &["nosuid"])?;
    check!(dev.has_super("size=65536k"), "/dev tmpfs lacks size=65536k: {}", dev.super_options);
    check_eq!(f.stat("/dev")?.mode, Some(0o755), "mode of /dev");

    let pts = require_fstype(&f, "/dev/pts", "devpts")?;
    require_options(pts, &["nosuid", "noexec"])?;
    for opt in ["ptmxmode=666", "mode=620", "gid=5"] {
        check!(pts.has_super(opt), "/dev/pts lacks {opt}: {}", pts.super_options);
    }
    // newinstance: a devpts of its own, not the host's.
    let host_mounts = host::mounts()?;
    if let Some(host_pts) = host_mounts.iter().find(|m| m.mount_point == "/dev/pts") {
        check!(host_pts.dev != pts.dev, "/dev/pts is the host's devpts instance ({})", pts.dev);
    }

    let shm = require_fstype(&f, "/dev/shm", "tmpfs")?;
    require_options(shm, &["nosuid", "noexec", "nodev"])?;
    check!(shm.has_super("size=65536k"), "/dev/shm lacks size=65536k: {}", shm.super_options);
    check_eq!(f.stat("/dev/shm")?.mode, Some(0o1777), "mode of /dev/shm");

    let mq = require_fstype(&f, "/dev/mqueue", "mqueue")?;
    require_options(mq, &["nosuid", "noexec", "nodev"])?;
    let sys = require_fstype(&f, "/sys", "sysfs")?;
    require_options(sys, &["ro", "nosuid", "noexec", "nodev"])?;
    check_eq!(f.write_answer("/sys")?.errno, Some(EROFS), "creating a file in /sys");

    // The cgroup mount: on v1 a runtime mounts each hierarchy below /sys/fs/cgroup.
    f.require_mount("/sys/fs/cgroup")?;
    let cgroups: Vec<&Mount> =
        f.mounts().iter().filter(|m| m.mount_point.starts_with("/sys/fs/cgroup") && m.fstype.starts_with("cgroup")).collect();
    check!(!cgroups.is_empty(), "no cgroup filesystem mounted at or below /sys/fs/cgroup");
    for m in cgroups {
        require_options(m, &["ro", "nosuid", "noexec", "nodev"])?;
    }
    Ok(Outcome::Pass)
}

fn bind_options(ctx: &mut Ctx) -> Result<Outcome> {
    let src = ctx.path("bind-src");
    crate::bundle::make_dir(&src)?;
    fs::write(src.join("hello"), "hi from the host\n").context("writing the bind source file")?;
    let mut b = ctx.bundle()?;
    let options = ["bind", "ro", "nosuid", "nodev", "noexec"];
    spec::add_mount(&mut b.config, spec::mount("/data", "none", &src.to_string_lossy(), &options))?;
    let f = ctx.checker(&mut b, &["--read", "/data/hello", "--write-test", "/data"])?;
    let m = f.require_mount("/data")?;
    require_options(m, &["ro", "nosuid", "nodev", "noexec"])?;
    check_eq!(f.content("/data/hello")?, "hi from the host\n", "file seen through the bind mount");
    check_eq!(f.write_answer("/data")?.errno, Some(EROFS), "creating a file in the ro bind mount");
    Ok(Outcome::Pass)
}

/// A source dir holding a tmpfs submount with one file, for the recursive cases.
fn source_with_submount(ctx: &mut Ctx) -> Result<std::path::PathBuf> {
    let src = ctx.path("rbind-src");
    crate::bundle::make_dir(&src)?;
    ctx.host_tmpfs(&src.join("sub"))?;
    fs::write(src.join("sub/inner"), "inner\n").context("writing into the host submount")?;
    Ok(src)
}

fn rbind_keeps_submounts(ctx: &mut Ctx) -> Result<Outcome> {
    let src = source_with_submount(ctx)?;
    let mut b = ctx.bundle()?;
    let s = src.to_string_lossy();
    spec::add_mount(&mut b.config, spec::mount("/data", "none", &s, &["rbind"]))?;
    spec::add_mount(&mut b.config, spec::mount("/plain", "none", &s, &["bind"]))?;
    let f = ctx.checker(&mut b, &["--read", "/data/sub/inner"])?;
    require_fstype(&f, "/data/sub", "tmpfs")?;
    check_eq!(f.content("/data/sub/inner")?, "inner\n", "file on the submount through rbind");
    f.require_mount("/plain")?;
    check!(f.mount("/plain/sub").is_none(), "a plain bind mount must not carry the submount along");
    Ok(Outcome::Pass)
}

fn tmpfs_size_and_mode(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::add_mount(&mut b.config, spec::mount("/scratch", "tmpfs", "tmpfs", &["size=2m", "mode=1770", "nodev"]))?;
    let f = ctx.checker(&mut b, &["--stat", "/scratch", "--write-test", "/scratch"])?;
    let m = require_fstype(&f, "/scratch", "tmpfs")?;
    check!(m.has_super("size=2048k"), "tmpfs lacks size=2048k: {}", m.super_options);
    require_options(m, &["nodev"])?;
    check_eq!(f.stat("/scratch")?.mode, Some(0o1770), "mode of the tmpfs root");
    check_eq!(f.write_answer("/scratch")?.ok, Some(true), "writing into the tmpfs");
    Ok(Outcome::Pass)
}

fn readonly_root(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/root/readonly", json!(true))?;
    let f = ctx.checker(&mut b, &["--write-test", "/"])?;
    require_options(f.require_mount("/")?, &["ro"])?;
    check_eq!(f.write_answer("/")?.errno, Some(EROFS), "creating a file in the read-only root");
    Ok(Outcome::Pass)
}

fn writable_root(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/root/readonly", json!(false))?;
    let f = ctx.checker(&mut b, &["--write-test", "/"])?;
    let answer = f.write_answer("/")?;
    check_eq!(answer.ok, Some(true), "creating a file in a writable root ({:?})", answer.error);
    Ok(Outcome::Pass)
}

/// Reading a masked path yields nothing of the original: an empty read or an error.
fn unreadable(f: &Facts, path: &str, secret: Option<&str>) -> Result<()> {
    let a = f.read_answer(path)?;
    if let Some(content) = &a.content {
        check!(content.is_empty(), "masked {path} still reads {} bytes", content.len());
        if let Some(secret) = secret {
            check!(!content.contains(secret), "masked {path} shows its content");
        }
    }
    Ok(())
}

fn masked_paths(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let etc = b.rootfs().join("etc");
    fs::write(etc.join("secret"), "top secret\n").context("writing rootfs/etc/secret")?;
    crate::bundle::make_dir(&etc.join("secretdir"))?;
    fs::write(etc.join("secretdir/file"), "x").context("writing rootfs/etc/secretdir/file")?;
    spec::push(&mut b.config, "/linux/maskedPaths", json!("/etc/secret"))?;
    spec::push(&mut b.config, "/linux/maskedPaths", json!("/etc/secretdir"))?;
    let f = ctx.checker(&mut b, &["--read", "/proc/kcore", "--read", "/etc/secret", "--ls", "/etc/secretdir", "--ls", "/sys/firmware"])?;
    unreadable(&f, "/proc/kcore", None)?;
    unreadable(&f, "/etc/secret", Some("top secret"))?;
    for dir in ["/etc/secretdir", "/sys/firmware"] {
        if let Ok(entries) = f.entries(dir) {
            check!(entries.is_empty(), "masked directory {dir} still lists {entries:?}");
        }
    }
    Ok(Outcome::Pass)
}

fn readonly_paths(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::add_mount(&mut b.config, spec::mount("/scratch", "tmpfs", "tmpfs", &["size=1m"]))?;
    spec::push(&mut b.config, "/linux/readonlyPaths", json!("/scratch"))?;
    let f = ctx.checker(&mut b, &["--write-test", "/proc/sys/kernel/domainname", "--write-test", "/scratch"])?;
    require_options(f.require_mount("/proc/sys")?, &["ro"])?;
    require_options(f.require_mount("/scratch")?, &["ro"])?;
    check_eq!(f.write_answer("/proc/sys/kernel/domainname")?.errno, Some(EROFS), "opening a sysctl for writing");
    check_eq!(f.write_answer("/scratch")?.errno, Some(EROFS), "creating a file in a read-only path");
    Ok(Outcome::Pass)
}

/// config-linux.md, rootfsPropagation, with the rootfs on a shared host mount.
fn rootfs_propagation(ctx: &mut Ctx, mode: &str) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let rootfs = b.rootfs();
    ctx.host_shared_bind(&rootfs)?;
    let host_group = host::mounts()?
        .iter()
        .rev()
        .find(|m| Path::new(&m.mount_point) == rootfs)
        .and_then(|m| m.propagation.iter().find_map(|p| p.strip_prefix("shared:")?.parse::<u32>().ok()))
        .context("the host bind of the rootfs is not shared")?;
    spec::set(&mut b.config, "/linux/rootfsPropagation", json!(mode))?;
    let f = ctx.checker(&mut b, &[])?;
    let root = f.require_mount("/")?;
    let (shared, master) = (root.peer_group("shared"), root.peer_group("master"));
    let tags = &root.propagation;
    match mode {
        "private" => check!(shared.is_none() && master.is_none(), "private / has propagation {tags:?}"),
        "shared" => {
            check!(shared.is_some(), "shared / is in no peer group: {tags:?}");
            check!(shared != Some(host_group), "shared / joined the host's peer group {host_group}");
        }
        "slave" => {
            check_eq!(master, Some(host_group), "slave / should receive from the host peer group ({tags:?})");
            check!(shared.is_none(), "slave / must not propagate back: {tags:?}");
        }
        _ => check!(tags.iter().any(|t| t == "unbindable"), "unbindable / has propagation {tags:?}"),
    }
    Ok(Outcome::Pass)
}

fn recursive_readonly(ctx: &mut Ctx) -> Result<Outcome> {
    let src = source_with_submount(ctx)?;
    let mut b = ctx.bundle()?;
    spec::add_mount(&mut b.config, spec::mount("/data", "none", &src.to_string_lossy(), &["rbind", "rro"]))?;
    let f = ctx.checker(&mut b, &["--write-test", "/data/sub"])?;
    require_options(f.require_mount("/data")?, &["ro"])?;
    require_options(f.require_mount("/data/sub")?, &["ro"])?;
    check_eq!(f.write_answer("/data/sub")?.errno, Some(EROFS), "writing into the submount of an rro mount");
    Ok(Outcome::Pass)
}

/// A destination whose first component is a symlink pointing far above the rootfs must be
/// resolved inside the rootfs: nothing may appear at the host path it names.
fn symlink_destination(ctx: &mut Ctx) -> Result<Outcome> {
    let outside = ctx.path("outside");
    crate::bundle::make_dir(&outside)?;
    let mut b = ctx.bundle()?;
    let target = format!("{}{}", "../".repeat(16), outside.to_string_lossy().trim_start_matches('/'));
    std::os::unix::fs::symlink(&target, b.rootfs().join("escape")).context("creating rootfs/escape")?;
    spec::add_mount(&mut b.config, spec::mount("/escape/x", "tmpfs", "tmpfs", &["size=1m"]))?;
    spec::checker_args(&mut b.config, &[])?;
    let (_, out) = ctx.run(&b)?;
    let host_entries: Vec<String> = fs::read_dir(&outside)
        .context("listing the outside dir")?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    check!(host_entries.is_empty(), "the runtime followed the symlink out of the rootfs: {outside:?} now holds {host_entries:?}");
    if out.success() {
        // Resolved in the rootfs, the mount sits at the in-container path the symlink names.
        let f = crate::facts::parse(&out.stdout)?;
        let inside = format!("{}/x", outside.to_string_lossy());
        require_fstype(&f, &inside, "tmpfs")?;
    }
    Ok(Outcome::Pass)
}
