//! Symlink and /proc redirections, set up deterministically: the races of CVE-2019-19921,
//! CVE-2023-27561 and the 2025 runc advisories need a second container swapping a path at
//! the right moment, so each case plants the swapped state before create instead. A runtime
//! that resolves container paths by name, before pivot_root through the host's view or
//! after it without checking what it opened, fails them; one that opens every path
//! fd-relative inside the root and writes /proc only through a checked procfs passes.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use super::{Case, Outcome};
use crate::bundle::make_dir;
use crate::console::ConsoleSocket;
use crate::ctx::Ctx;
use crate::spec;
use crate::{check, check_eq};
use anyhow::{Context, Result};
use serde_json::json;

pub fn cases() -> Vec<Case> {
    let m = "security";
    vec![
        Case::new(m, "mount_destination_symlink_out_of_the_rootfs", mount_destination_symlink),
        Case::new(m, "dev_symlink_out_of_the_rootfs", dev_symlink_out)
            .runc_xfail("CVE-2026-41579: runc 1.1.5 makes /dev/ptmx and the /dev symlinks by joining names to the rootfs path, so a /dev symlink to a host directory gets them made (and a host `ptmx` removed) on the host"),
        Case::new(m, "masked_path_with_dev_null_swapped_for_a_symlink", masked_dev_null)
            .runc_xfail("CVE-2025-31133: runc 1.1.5 binds /dev/null by name onto masked paths, following a symlink there to any file"),
        Case::new(m, "sysctl_into_an_overmounted_proc_file", sysctl_overmounted),
        Case::new(m, "console_swapped_for_a_symlink", console_symlink)
            .runc_xfail("CVE-2025-52565: runc 1.1.5 creates and binds /dev/console by name, following a symlink there"),
    ]
}

/// The entries of a host directory, sorted.
fn entries(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

/// CVE-2019-19921 / CVE-2023-27561: a mount destination whose parent is a symlink to a host
/// directory. The mount must land inside the rootfs, where the container resolves the path.
fn mount_destination_symlink(ctx: &mut Ctx) -> Result<Outcome> {
    let outside = ctx.path("outside");
    make_dir(&outside)?;
    let volume = ctx.path("volume");
    make_dir(&volume)?;
    std::fs::write(volume.join("hello"), "from the volume\n")?;
    let mut b = ctx.bundle()?;
    symlink(&outside, b.rootfs().join("escape")).context("plant the symlink")?;
    let source = volume.to_string_lossy().into_owned();
    spec::add_mount(&mut b.config, spec::mount("/escape/vol", "bind", &source, &["rbind"]))?;
    spec::shell(&mut b.config, "cat /escape/vol/hello")?;
    let (_, out) = ctx.run(&b)?;
    check_eq!(entries(&outside)?, Vec::<String>::new(), "entries made in the host directory the symlink points at ({})", out.describe());
    check!(out.success(), "run failed: {}", out.describe());
    check_eq!(out.stdout.as_str(), "from the volume\n", "the volume as the container sees it");
    Ok(Outcome::Pass)
}

/// CVE-2026-41579 class: the image's /dev is a symlink to a host directory holding a `ptmx`
/// and a `pts/ptmx`. The /dev nodes and symlinks must be made inside the rootfs.
fn dev_symlink_out(ctx: &mut Ctx) -> Result<Outcome> {
    let host_dev = ctx.path("host-dev");
    make_dir(&host_dev.join("pts"))?;
    std::fs::write(host_dev.join("ptmx"), "decoy\n")?;
    std::fs::write(host_dev.join("pts/ptmx"), "decoy\n")?;
    let mut b = ctx.bundle()?;
    std::fs::remove_dir(b.rootfs().join("dev"))?;
    symlink(&host_dev, b.rootfs().join("dev")).context("plant the /dev symlink")?;
    spec::shell(&mut b.config, "test -c /dev/null && test -L /dev/ptmx && echo dev-ok")?;
    let (_, out) = ctx.run(&b)?;
    let left = entries(&host_dev)?;
    let decoy = std::fs::read_to_string(host_dev.join("ptmx")).unwrap_or_default();
    check_eq!(left, vec!["ptmx".to_string(), "pts".to_string()], "entries of the host directory /dev pointed at ({})", out.describe());
    check_eq!(decoy.as_str(), "decoy\n", "the host file named ptmx");
    check_eq!(out.stdout.trim(), "dev-ok", "the container's /dev ({})", out.describe());
    Ok(Outcome::Pass)
}

/// A /dev of the container's own (bound from a host directory, as an image volume would be),
/// holding what `entries` says, and no device nodes unless given.
fn own_dev(ctx: &mut Ctx, name: &str, links: &[(&str, &str)]) -> Result<(crate::bundle::Bundle, std::path::PathBuf)> {
    let dev = ctx.path(name);
    make_dir(&dev)?;
    for (link, target) in links {
        symlink(target, dev.join(link)).with_context(|| format!("symlink {link}"))?;
    }
    let mut b = ctx.bundle()?;
    let mounts: Vec<serde_json::Value> =
        b.config["mounts"].as_array().cloned().unwrap_or_default().into_iter().filter(|m| m["destination"] != "/dev").collect();
    b.config["mounts"] = json!(mounts);
    let source = dev.to_string_lossy().into_owned();
    // Before /dev/pts and friends, which mount inside it.
    b.config["mounts"].as_array_mut().context("mounts is not an array")?.insert(1, spec::mount("/dev", "bind", &source, &["rbind"]));
    Ok((b, dev))
}

/// CVE-2025-31133: the container's /dev/null is a symlink to a procfs file that shows a
/// marker (the hostname). Masking /proc/timer_list with it must not put that file there:
/// refusing to mask with a fake /dev/null is right too.
fn masked_dev_null(ctx: &mut Ctx) -> Result<Outcome> {
    let marker = "masked-by-a-fake-null";
    let (mut b, _) = own_dev(ctx, "own-dev-null", &[("null", "/proc/sys/kernel/hostname")])?;
    spec::set(&mut b.config, "/hostname", json!(marker))?;
    spec::set(&mut b.config, "/linux/maskedPaths", json!(["/proc/timer_list"]))?;
    spec::set(&mut b.config, "/linux/readonlyPaths", json!([]))?;
    spec::shell(&mut b.config, "cat /proc/timer_list 2>&1 | head -c 300; echo; echo read-done")?;
    let (_, out) = ctx.run(&b)?;
    check!(!out.stdout.contains(marker), "the masked path shows the file the fake /dev/null points at: {:?}", out.stdout);
    if out.success() {
        check!(out.stdout.contains("read-done"), "the container did not run: {}", out.describe());
    } else {
        check!(out.messages().contains("/dev/null"), "create failed, but not because of /dev/null: {}", out.describe());
    }
    Ok(Outcome::Pass)
}

/// CVE-2025-52881: /proc/sys/kernel/shmmax is overmounted with a file the attacker reads.
/// The sysctl must reach the kernel or be refused; it must never land in that file.
fn sysctl_overmounted(ctx: &mut Ctx) -> Result<Outcome> {
    let bait = ctx.path("bait");
    std::fs::write(&bait, "ORIGINAL\n")?;
    let mut b = ctx.bundle()?;
    let source = bait.to_string_lossy().into_owned();
    spec::add_mount(&mut b.config, spec::mount("/proc/sys/kernel/shmmax", "bind", &source, &["bind"]))?;
    spec::set(&mut b.config, "/linux/sysctl", json!({"kernel.shmmax": "123456789"}))?;
    spec::shell(&mut b.config, "echo ran")?;
    let (_, out) = ctx.run(&b)?;
    let after = std::fs::read_to_string(&bait)?;
    check_eq!(after.as_str(), "ORIGINAL\n", "the file over /proc/sys/kernel/shmmax after the sysctl ({})", out.describe());
    if out.success() {
        check_eq!(out.stdout.trim(), "ran", "output of the container");
    }
    Ok(Outcome::Pass)
}

/// CVE-2025-52565: the container's /dev/console is a symlink to a file of the rootfs. The
/// pty must go on /dev/console itself, never on the file the symlink names; refusing the
/// symlinked /dev/console (runc 1.3.6 does, naming it) is right too.
fn console_symlink(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, _) = own_dev(ctx, "own-dev-console", &[("console", "/etc/target"), ("ptmx", "pts/ptmx")])?;
    std::fs::write(b.rootfs().join("etc/target"), "plain file\n")?;
    spec::set(&mut b.config, "/process/terminal", json!(true))?;
    spec::set(&mut b.config, "/linux/maskedPaths", json!([]))?;
    spec::shell(
        &mut b.config,
        "if test -c /etc/target; then echo target-is-a-tty; else echo target-is-a-file; fi; test -c /dev/console && echo console-is-a-tty",
    )?;
    let sock = ctx.path("console.sock");
    let console = ConsoleSocket::listen(&sock)?;
    let id = ctx.id();
    let out = ctx.create(&b, &id, &["--console-socket", &sock.to_string_lossy()])?;
    let content = std::fs::read_to_string(b.rootfs().join("etc/target")).unwrap_or_default();
    check_eq!(content.as_str(), "plain file\n", "the file /dev/console pointed at, after create ({})", out.describe());
    if !out.success() {
        check!(out.messages().contains("/dev/console"), "create failed, but not because of /dev/console: {}", out.describe());
        return Ok(Outcome::Pass);
    }
    drop(out);
    let reader = console.drain(Duration::from_secs(10))?;
    ctx.start(&id)?.ok("start")?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(10))?;
    let output = reader.join().map_err(|_| anyhow::anyhow!("the pty reader panicked"))?;
    let text = String::from_utf8_lossy(&output);
    check!(text.contains("target-is-a-file"), "the pty was bound onto the symlink's target: {text:?}");
    check!(text.contains("console-is-a-tty"), "/dev/console is not the pty: {text:?}");
    Ok(Outcome::Pass)
}
