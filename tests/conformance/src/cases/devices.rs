//! Devices: the default device nodes, the /dev symlinks, and nodes added by `linux.devices`.

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::{check, check_eq, spec};
use anyhow::Result;
use serde_json::json;

pub fn cases() -> Vec<Case> {
    let m = "devices";
    vec![
        Case::new(m, "default_devices", default_devices),
        Case::new(m, "dev_symlinks", dev_symlinks),
        Case::new(m, "added_char_device", added_char_device),
    ]
}

/// config-linux.md "Default Devices" with their numbers from the kernel's devices.txt.
const DEFAULTS: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

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
        check_eq!(
            (st.major, st.minor),
            (Some(major), Some(minor)),
            "device numbers of {path}"
        );
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
            check!(
                t == "pts/ptmx" || t == "/dev/pts/ptmx",
                "/dev/ptmx points at {t:?}"
            );
        }
        Some("char") => {
            check_eq!(
                (ptmx.major, ptmx.minor),
                (Some(5), Some(2)),
                "/dev/ptmx device numbers"
            );
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
    spec::push(
        &mut b.config,
        "/linux/resources/devices",
        json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}),
    )?;
    let f = ctx.checker(&mut b, &["--stat", "/dev/testdev"])?;
    let st = f.stat("/dev/testdev")?;
    check_eq!(st.kind.as_deref(), Some("char"), "type of /dev/testdev");
    check_eq!(
        (st.major, st.minor),
        (Some(10), Some(229)),
        "device numbers of /dev/testdev"
    );
    check_eq!(st.mode, Some(0o640), "file mode of /dev/testdev");
    check_eq!(
        (st.uid, st.gid),
        (Some(1000), Some(1001)),
        "owner of /dev/testdev"
    );
    Ok(Outcome::Pass)
}
