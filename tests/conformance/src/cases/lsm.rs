//! Linux security modules (config.md "Linux Process": apparmorProfile, selinuxLabel;
//! config-linux.md "Mount Label"). Where AppArmor is enabled and apparmor_parser exists (the
//! cgroup v2 VM lane), a small test profile is loaded and the container's process, and one
//! added by `exec --apparmor`, must run under it. Where SELinux or AppArmor is missing (this
//! host), a requested label must fail the way runc 1.1.5 fails, leaving nothing behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::bad_input::{bundle_with_cgroup, mentions, rejected};
use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::spec;
use crate::{check, check_eq};
use anyhow::{bail, Context, Result};
use serde_json::json;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("apparmor", "profile_applied", profile_applied),
        Case::new("apparmor", "exec_flag_sets_the_profile", exec_flag),
        Case::new("apparmor", "without_apparmor_fails_like_runc", without_apparmor).refusal(),
        Case::new("selinux", "process_label_refused_without_selinux", process_label_without_selinux).refusal(),
        Case::new("selinux", "mount_label_without_selinux_fails_at_mount", mount_label_without_selinux).refusal(),
        Case::new("selinux", "exec_process_label_refused_without_selinux", exec_label_without_selinux).refusal(),
    ]
}

const PROFILE: &str = "youki-conformance";

/// Permissive enough for busybox and the checker; what matters is its name on the process.
const PROFILE_TEXT: &str = "profile youki-conformance flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  mount,
  umount,
  pivot_root,
}
";

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn apparmor_parser() -> Option<PathBuf> {
    ["/sbin/apparmor_parser", "/usr/sbin/apparmor_parser"].iter().map(PathBuf::from).find(|p| p.exists())
}

/// The test profile, loaded for as long as this lives.
struct LoadedProfile {
    parser: PathBuf,
    file: PathBuf,
}

impl LoadedProfile {
    /// Loads the profile, or says why this host cannot.
    fn load(ctx: &Ctx) -> Result<std::result::Result<LoadedProfile, String>> {
        if !apparmor_enabled() {
            return Ok(Err("AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled)".into()));
        }
        let Some(parser) = apparmor_parser() else { return Ok(Err("apparmor_parser is not installed".into())) };
        let file = ctx.path("apparmor-profile");
        std::fs::write(&file, PROFILE_TEXT)?;
        let out = Command::new(&parser).arg("-r").arg(&file).output().context("run apparmor_parser -r")?;
        if !out.status.success() {
            bail!("apparmor_parser -r failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(Ok(LoadedProfile { parser, file }))
    }
}

impl Drop for LoadedProfile {
    fn drop(&mut self) {
        let _ = Command::new(&self.parser).arg("-R").arg(&self.file).output();
    }
}

fn enforced(label: &str) -> String {
    format!("{label} (enforce)")
}

fn profile_applied(ctx: &mut Ctx) -> Result<Outcome> {
    let _profile = match LoadedProfile::load(ctx)? {
        Ok(p) => p,
        Err(why) => return Ok(Outcome::Skip(why)),
    };
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/apparmorProfile", json!(PROFILE))?;
    let facts = ctx.checker(&mut b, &[])?;
    check_eq!(facts.lsm_label.as_deref(), Some(enforced(PROFILE).as_str()), "/proc/self/attr/current of the container's process");
    Ok(Outcome::Pass)
}

fn exec_flag(ctx: &mut Ctx) -> Result<Outcome> {
    let _profile = match LoadedProfile::load(ctx)? {
        Ok(p) => p,
        Err(why) => return Ok(Outcome::Skip(why)),
    };
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    let read = ["cat", "/proc/self/attr/current"];
    let plain = ctx.call(&[&["exec", &id][..], &read].concat())?.ok("exec without --apparmor")?;
    check_eq!(plain.stdout.trim_end_matches(['\n', '\0']), "unconfined", "label of an exec'd process without a profile");
    let confined = ctx.call(&[&["exec", "--apparmor", PROFILE, &id][..], &read].concat())?.ok("exec --apparmor")?;
    check_eq!(confined.stdout.trim_end_matches(['\n', '\0']), enforced(PROFILE), "label of a process exec'd with --apparmor");
    Ok(Outcome::Pass)
}

/// Where `enabled` is false: `pointer` = `value` makes create fail with an error naming one of
/// `words`, leaving nothing behind.
fn refused_without(ctx: &mut Ctx, lsm: &str, enabled: bool, pointer: &str, value: &str, words: &[&str]) -> Result<Outcome> {
    if enabled {
        return Ok(Outcome::Skip(format!("{lsm} is enabled on this host")));
    }
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, pointer, json!(value))?;
    rejected(ctx, &mut b, &id, &cg, words)
}

/// runc 1.1.5 checks nothing and writes the profile to /proc/self/attr/exec, which fails with
/// EINVAL without AppArmor: create fails, and nothing may remain.
fn without_apparmor(ctx: &mut Ctx) -> Result<Outcome> {
    refused_without(ctx, "AppArmor", apparmor_enabled(), "/process/apparmorProfile", PROFILE, &["attr/exec"])
}

/// runc 1.1.5: "selinux label is specified in config, but selinux is disabled or not
/// supported", before anything is made.
fn process_label_without_selinux(ctx: &mut Ctx) -> Result<Outcome> {
    refused_without(ctx, "SELinux", selinux_enabled(), "/process/selinuxLabel", "system_u:system_r:container_t:s0", &["selinux"])
}

/// runc 1.1.5 passes `context="LABEL"` to the tmpfs on /dev, which the kernel refuses without
/// SELinux: create fails with EINVAL at that mount, and nothing may remain.
fn mount_label_without_selinux(ctx: &mut Ctx) -> Result<Outcome> {
    let label = "system_u:object_r:container_file_t:s0";
    refused_without(ctx, "SELinux", selinux_enabled(), "/linux/mountLabel", label, &["invalid argument"])
}

fn exec_label_without_selinux(ctx: &mut Ctx) -> Result<Outcome> {
    if selinux_enabled() {
        return Ok(Outcome::Skip("SELinux is enabled on this host".into()));
    }
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    let out = ctx.call(&["exec", "--process-label", "system_u:system_r:container_t:s0", &id, "sh", "-c", "echo ran"])?;
    check!(!out.success(), "exec --process-label succeeded without SELinux: {}", out.describe());
    check!(!out.stdout.contains("ran"), "the process ran: {}", out.describe());
    mentions(&out, &["selinux"])?;
    Ok(Outcome::Pass)
}
