//! Devices: the default device nodes, the /dev symlinks, nodes added by `linux.devices`, and
//! the device cgroup rules of `linux.resources.devices` (devices.allow/deny on v1, a BPF
//! program on v2), checked from inside the container by opening nodes.

use super::{Case, Outcome};
use crate::bundle::Bundle;
use crate::ctx::Ctx;
use crate::facts::Facts;
use crate::{check, check_eq, spec};
use anyhow::{Context, Result};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::statvfs::{statvfs, FsFlags};
use serde_json::json;

pub fn cases() -> Vec<Case> {
    let m = "devices";
    vec![
        Case::new(m, "default_devices", default_devices),
        Case::new(m, "dev_symlinks", dev_symlinks),
        Case::new(m, "added_char_device", added_char_device),
        Case::new(m, "cgroup_rules_in_order", cgroup_rules),
    ]
}

/// config-linux.md "Default Devices" with their numbers from the kernel's devices.txt.
const DEFAULTS: [(&str, u64, u64); 6] =
    [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)];

fn default_devices(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let mut args = Vec::new();
    for (path, _, _) in DEFAULTS {
        args.extend(["--stat", path]);
    }
    let f = ctx.checker(&mut b, &args)?;
    for (path, major, minor) in DEFAULTS {
        let st = f.stat(path)?;
        check_eq!(st.kind.as_deref(), Some("char"), "type of {path}");
        check_eq!((st.major, st.minor), (Some(major), Some(minor)), "device numbers of {path}");
    }
    Ok(Outcome::Pass)
}

/// runtime-linux.md: /dev/fd, stdin, stdout, stderr link into /proc/self/fd; config-linux.md:
/// /dev/ptmx is a symlink to (or bind mount of) the container's /dev/pts/ptmx.
fn dev_symlinks(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let links = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    let mut args = vec!["--stat", "/dev/ptmx"];
    for (link, _) in links {
        args.extend(["--stat", link]);
    }
    let f = ctx.checker(&mut b, &args)?;
    for (link, target) in links {
        let st = f.stat(link)?;
        check_eq!(st.kind.as_deref(), Some("symlink"), "type of {link}");
        check_eq!(st.target.as_deref(), Some(target), "target of {link}");
    }
    let ptmx = f.stat("/dev/ptmx")?;
    match ptmx.kind.as_deref() {
        Some("symlink") => {
            let t = ptmx.target.as_deref().unwrap_or("");
            check!(t == "pts/ptmx" || t == "/dev/pts/ptmx", "/dev/ptmx points at {t:?}");
        }
        Some("char") => {
            check_eq!((ptmx.major, ptmx.minor), (Some(5), Some(2)), "/dev/ptmx device numbers");
            f.require_mount("/dev/ptmx")?;
        }
        other => {
            anyhow::bail!("/dev/ptmx is a {other:?}, neither a symlink nor a bind-mounted pts/ptmx")
        }
    }
    Ok(Outcome::Pass)
}

fn added_char_device(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let device = json!({
        "path": "/dev/testdev", "type": "c", "major": 10, "minor": 229,
        "fileMode": 0o640, "uid": 1000, "gid": 1001
    });
    spec::push(&mut b.config, "/linux/devices", device)?;
    spec::push(&mut b.config, "/linux/resources/devices", json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}))?;
    let f = ctx.checker(&mut b, &["--stat", "/dev/testdev"])?;
    let st = f.stat("/dev/testdev")?;
    check_eq!(st.kind.as_deref(), Some("char"), "type of /dev/testdev");
    check_eq!((st.major, st.minor), (Some(10), Some(229)), "device numbers of /dev/testdev");
    check_eq!(st.mode, Some(0o640), "file mode of /dev/testdev");
    check_eq!((st.uid, st.gid), (Some(1000), Some(1001)), "owner of /dev/testdev");
    Ok(Outcome::Pass)
}

/// A node made by the harness in the rootfs (outside the container's /dev), with numbers no
/// driver owns: opening it fails with EPERM when the device cgroup denies it, and with
/// ENXIO (no such device) when the cgroup lets the open through.
struct Node {
    path: &'static str,
    kind: SFlag,
    major: u64,
    minor: u64,
    /// What the rules below decide for a read-only open.
    readable: bool,
}

/// Rules applied in order (config-linux.md "Allowed Device Cgroup"), after the spec's
/// default "deny all": a later deny takes access bits back from an identical earlier allow,
/// as devices.deny does on v1. The v2 BPF program must give the same answers. (A deny inside
/// a wildcard allow is left out on purpose: v1 silently ignores it and runc refuses it.)
const RULES: [(bool, &str, i64, i64, &str); 6] = [
    (true, "c", 240, 1, "rw"),
    (true, "c", 240, 2, "w"),
    (true, "c", 241, -1, "r"),
    (true, "c", 242, 3, "r"),
    (true, "c", 243, 0, "rw"),
    (false, "c", 243, 0, "r"),
];

const NODES: [Node; 7] = [
    Node { path: "/dev-unlisted", kind: SFlag::S_IFCHR, major: 240, minor: 0, readable: false },
    Node { path: "/dev-rw", kind: SFlag::S_IFCHR, major: 240, minor: 1, readable: true },
    Node { path: "/dev-write-only", kind: SFlag::S_IFCHR, major: 240, minor: 2, readable: false },
    Node { path: "/dev-wildcard", kind: SFlag::S_IFCHR, major: 241, minor: 5, readable: true },
    Node { path: "/dev-read-revoked", kind: SFlag::S_IFCHR, major: 243, minor: 0, readable: false },
    Node { path: "/dev-block-same-numbers", kind: SFlag::S_IFBLK, major: 242, minor: 3, readable: false },
    Node { path: "/dev-char", kind: SFlag::S_IFCHR, major: 242, minor: 3, readable: true },
];

fn rule_json((allow, kind, major, minor, access): (bool, &str, i64, i64, &str)) -> serde_json::Value {
    let mut rule = json!({"allow": allow, "type": kind, "access": access, "major": major});
    if minor >= 0 {
        rule["minor"] = json!(minor);
    }
    rule
}

/// Makes the nodes in the bundle's rootfs (the harness runs as root on the host).
fn make_nodes(b: &Bundle) -> Result<()> {
    for n in &NODES {
        let path = b.rootfs().join(n.path.trim_start_matches('/'));
        mknod(&path, n.kind, Mode::from_bits_truncate(0o666), makedev(n.major, n.minor))
            .with_context(|| format!("mknod {}", path.display()))?;
    }
    Ok(())
}

/// The skip of the device-rule cases where the case dir (under TMPDIR) is on a mount with
/// `nodev`: the kernel refuses every open of a device node there (EACCES), whatever the
/// rules say. Decided up front from statvfs(2), so an EACCES elsewhere stays a failure.
pub fn nodev_skip(ctx: &Ctx) -> Result<Option<Outcome>> {
    let st = statvfs(&ctx.dir).with_context(|| format!("statvfs {}", ctx.dir.display()))?;
    if !st.flags().contains(FsFlags::ST_NODEV) {
        return Ok(None);
    }
    let tmp = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".to_string());
    Ok(Some(Outcome::Skip(format!(
        "TMPDIR ({tmp}) is on a nodev mount: the device nodes these bundles hold cannot be opened; set TMPDIR to a directory on a mount without nodev"
    ))))
}

/// Checks each node's read-only open against the rules; `when` names the moment.
fn check_nodes(f: &Facts, when: &str) -> Result<()> {
    for n in &NODES {
        let errno = f.read_answer(n.path)?.errno;
        check!(errno != Some(libc::EACCES), "{when}: {} gives EACCES although the bundle is not on a nodev mount", n.path);
        let denied = errno == Some(libc::EPERM);
        check!(
            denied != n.readable,
            "{when}: {} ({} {}:{}) should be {} by the device cgroup, but the open gave {}",
            n.path,
            if n.kind == SFlag::S_IFBLK { "b" } else { "c" },
            n.major,
            n.minor,
            if n.readable { "allowed" } else { "denied" },
            errno.map_or("success".to_string(), |e| format!("errno {e}"))
        );
    }
    Ok(())
}

fn read_args() -> Vec<&'static str> {
    NODES.iter().flat_map(|n| ["--read", n.path]).collect()
}

fn cgroup_rules(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(skip) = nodev_skip(ctx)? {
        return Ok(skip);
    }
    let mut b = ctx.bundle()?;
    make_nodes(&b)?;
    for rule in RULES {
        spec::push(&mut b.config, "/linux/resources/devices", rule_json(rule))?;
    }
    let f = ctx.checker(&mut b, &read_args())?;
    check_nodes(&f, "at create")?;
    Ok(Outcome::Pass)
}

/// A running container with the nodes and rules of `cgroup_rules`, for `update` cases.
pub fn running_with_rules(ctx: &mut Ctx) -> Result<(String, String)> {
    let mut b = ctx.bundle()?;
    make_nodes(&b)?;
    for rule in RULES {
        spec::push(&mut b.config, "/linux/resources/devices", rule_json(rule))?;
    }
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    let cg = ctx.place_in_cgroup(&mut b, &id)?;
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    Ok((id, cg))
}

/// Runs the checker in a running container (`exec`) and checks the nodes again.
pub fn check_nodes_by_exec(ctx: &mut Ctx, id: &str, when: &str) -> Result<()> {
    let mut args = vec!["exec", id, "/checker"];
    args.extend(read_args());
    let out = ctx.call(&args)?.ok("exec /checker")?;
    check_nodes(&crate::facts::parse(&out.stdout)?, when)
}
