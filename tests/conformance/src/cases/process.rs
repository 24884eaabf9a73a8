//! The process: hostname, domainname, sysctls, rlimits, oom_score_adj, capabilities,
//! no_new_privs, user ids, umask, cwd, env, executable lookup and exit status.

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::facts::cap_hex;
use crate::spec::{self, CapSets};
use crate::{check, check_eq, host};
use anyhow::{Context, Result};
use serde_json::json;
use std::fs;

const CAP_SYS_RESOURCE: u32 = 24;
const NO_SYS_RESOURCE: &str = "the host's root lacks CAP_SYS_RESOURCE, so no runtime can do this here \
     (skipped for every runtime alike)";

pub fn cases() -> Vec<Case> {
    let m = "process";
    vec![
        Case::new(m, "hostname", hostname),
        Case::new(m, "domainname", domainname).runc_xfail("runc 1.1.5 ignores `domainname`; the container keeps \"(none)\""),
        Case::new(m, "sysctl_network", |c| sysctl(c, "net.ipv4.ip_forward", "1")),
        Case::new(m, "sysctl_ipc", |c| sysctl(c, "kernel.shmmax", "123456789")),
        Case::new(m, "rlimits_lowered", rlimits_lowered),
        Case::new(m, "rlimit_hard_raised", rlimit_hard_raised),
        Case::new(m, "oom_score_adj_positive", |c| oom_score_adj(c, 500)),
        Case::new(m, "oom_score_adj_negative", |c| oom_score_adj(c, -100)),
        Case::new(m, "oom_score_adj_unset_is_inherited", oom_score_adj_unset),
        Case::new(m, "capabilities_root", |c| capabilities(c, 0, false)),
        Case::new(m, "capabilities_root_no_new_privs", |c| capabilities(c, 0, true)),
        Case::new(m, "capabilities_non_root_ambient", |c| capabilities(c, 1000, true)),
        Case::new(m, "no_new_privileges_true", |c| no_new_privileges(c, true)),
        Case::new(m, "no_new_privileges_false", |c| no_new_privileges(c, false)),
        Case::new(m, "user_uid_gid_additional_gids", user_ids),
        Case::new(m, "umask", umask),
        Case::new(m, "cwd", cwd),
        Case::new(m, "env", env),
        Case::new(m, "args0_path_lookup", path_lookup),
        Case::new(m, "missing_executable_fails", missing_executable).refusal(),
        Case::new(m, "exit_code_propagates", exit_code),
        Case::new(m, "signal_death_is_128_plus_signal", signal_death),
    ]
}

fn hostname(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/hostname", json!("conformance-host"))?;
    let f = ctx.checker(&mut b, &[])?;
    check_eq!(f.hostname.as_deref(), Some("conformance-host"), "hostname");
    Ok(Outcome::Pass)
}

fn domainname(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/domainname", json!("conformance.test"))?;
    let f = ctx.checker(&mut b, &[])?;
    check_eq!(f.domainname.as_deref(), Some("conformance.test"), "domainname");
    Ok(Outcome::Pass)
}

/// A sysctl of a namespaced subsystem is set inside the container and nowhere else.
fn sysctl(ctx: &mut Ctx, key: &str, value: &str) -> Result<Outcome> {
    let proc_path = format!("/proc/sys/{}", key.replace('.', "/"));
    let host_before = fs::read_to_string(&proc_path).with_context(|| format!("reading host {proc_path}"))?;
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/linux/sysctl", json!({ key: value }))?;
    let f = ctx.checker(&mut b, &["--read", &proc_path])?;
    check_eq!(f.content(&proc_path)?.trim(), value, "{key} inside the container");
    let host_after = fs::read_to_string(&proc_path).with_context(|| format!("reading host {proc_path}"))?;
    check_eq!(host_after, host_before, "{key} on the host after the run");
    Ok(Outcome::Pass)
}

fn rlimits_lowered(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(
        &mut b.config,
        "/process/rlimits",
        json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
            {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}
        ]),
    )?;
    let f = ctx.checker(&mut b, &[])?;
    for (name, soft, hard) in [("RLIMIT_NOFILE", 512, 768), ("RLIMIT_CORE", 0, 4096), ("RLIMIT_NPROC", 300, 400)] {
        let got = f.rlimit(name)?;
        check_eq!((got.soft, got.hard), (soft, hard), "{name} (soft, hard)");
    }
    Ok(Outcome::Pass)
}

fn rlimit_hard_raised(ctx: &mut Ctx) -> Result<Outcome> {
    if !host::has_capability(CAP_SYS_RESOURCE)? {
        return Ok(Outcome::Skip(format!("raising a hard rlimit: {NO_SYS_RESOURCE}")));
    }
    let own = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).context("getrlimit(RLIMIT_NOFILE)")?;
    let raised = own.1.saturating_add(1024);
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/rlimits", json!([{"type": "RLIMIT_NOFILE", "soft": raised, "hard": raised}]))?;
    let f = ctx.checker(&mut b, &[])?;
    let got = f.rlimit("RLIMIT_NOFILE")?;
    check_eq!((got.soft, got.hard), (raised, raised), "raised RLIMIT_NOFILE");
    Ok(Outcome::Pass)
}

fn oom_score_adj(ctx: &mut Ctx, value: i32) -> Result<Outcome> {
    if value < 0 && !host::has_capability(CAP_SYS_RESOURCE)? {
        return Ok(Outcome::Skip(format!("a negative oom_score_adj: {NO_SYS_RESOURCE}")));
    }
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/oomScoreAdj", json!(value))?;
    let f = ctx.checker(&mut b, &[])?;
    check_eq!(f.oom_score_adj, Some(value), "oom_score_adj");
    Ok(Outcome::Pass)
}

/// config.md: without `oomScoreAdj` the runtime MUST NOT change the value.
fn oom_score_adj_unset(ctx: &mut Ctx) -> Result<Outcome> {
    let own: i32 = fs::read_to_string("/proc/self/oom_score_adj")
        .context("reading the harness's oom_score_adj")?
        .trim()
        .parse()
        .context("parsing oom_score_adj")?;
    let mut b = ctx.bundle()?;
    spec::remove(&mut b.config, "/process/oomScoreAdj");
    let f = ctx.checker(&mut b, &[])?;
    check_eq!(f.oom_score_adj, Some(own), "oom_score_adj inherited from the runtime's caller");
    Ok(Outcome::Pass)
}

/// All five sets configured differently; the expectation applies the kernel's execve rules.
fn capabilities(ctx: &mut Ctx, uid: u32, no_new_privs: bool) -> Result<Outcome> {
    let bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETUID"];
    let permitted = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let effective = ["CAP_CHOWN", "CAP_KILL"];
    let inheritable = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let ambient = ["CAP_NET_BIND_SERVICE"];
    let mut b = ctx.bundle()?;
    spec::set(
        &mut b.config,
        "/process/capabilities",
        json!({"bounding": bounding, "permitted": permitted, "effective": effective,
               "inheritable": inheritable, "ambient": ambient}),
    )?;
    spec::set(&mut b.config, "/process/user", json!({"uid": uid, "gid": uid}))?;
    spec::set(&mut b.config, "/process/noNewPrivileges", json!(no_new_privs))?;
    let f = ctx.checker(&mut b, &[])?;
    let configured = CapSets {
        bounding: spec::cap_mask(&bounding)?,
        effective: spec::cap_mask(&effective)?,
        permitted: spec::cap_mask(&permitted)?,
        inheritable: spec::cap_mask(&inheritable)?,
        ambient: spec::cap_mask(&ambient)?,
    };
    let want = spec::caps_after_exec(configured, uid == 0, no_new_privs);
    let got = CapSets {
        bounding: cap_hex(f.caps.bounding.as_deref())?,
        effective: cap_hex(f.caps.effective.as_deref())?,
        permitted: cap_hex(f.caps.permitted.as_deref())?,
        inheritable: cap_hex(f.caps.inheritable.as_deref())?,
        ambient: cap_hex(f.caps.ambient.as_deref())?,
    };
    check_eq!(got, want, "capability sets after exec as uid {uid} (no_new_privs {no_new_privs})");
    Ok(Outcome::Pass)
}

fn no_new_privileges(ctx: &mut Ctx, on: bool) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/noNewPrivileges", json!(on))?;
    let f = ctx.checker(&mut b, &[])?;
    check_eq!(f.no_new_privs.as_deref(), Some(if on { "1" } else { "0" }), "NoNewPrivs");
    Ok(Outcome::Pass)
}

fn user_ids(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/user", json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]}))?;
    let f = ctx.checker(&mut b, &[])?;
    check_eq!((f.uid, f.euid), (1000, 1000), "uid and euid");
    check_eq!((f.gid, f.egid), (1001, 1001), "gid and egid");
    check!(f.groups.contains(&10) && f.groups.contains(&20), "supplementary groups {:?} lack 10 and 20", f.groups);
    check!(f.groups.iter().all(|g| [10, 20, 1001].contains(g)), "unexpected supplementary groups {:?}", f.groups);
    Ok(Outcome::Pass)
}

fn umask(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/user/umask", json!(0o027))?;
    let f = ctx.checker(&mut b, &[])?;
    check_eq!(f.umask.as_deref(), Some("0027"), "umask");
    Ok(Outcome::Pass)
}

fn cwd(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/cwd", json!("/tmp"))?;
    let f = ctx.checker(&mut b, &[])?;
    check_eq!(f.cwd.as_deref(), Some("/tmp"), "working directory");
    Ok(Outcome::Pass)
}

fn env(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/env", json!(["PATH=/bin:/", "FOO=bar baz", "EMPTY=", "EQ=a=b"]))?;
    let f = ctx.checker(&mut b, &[])?;
    for (k, v) in [("PATH", "/bin:/"), ("FOO", "bar baz"), ("EMPTY", ""), ("EQ", "a=b")] {
        check_eq!(f.env_var(k), Some(v), "environment variable {k}");
    }
    Ok(Outcome::Pass)
}

/// config.md: args[0] has execvp's *file* semantics, so a bare name is looked up in PATH.
fn path_lookup(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/env", json!(["PATH=/usr/bin:/bin:/"]))?;
    spec::args(&mut b.config, &["checker"])?;
    let (_, out) = ctx.run(&b)?;
    let out = out.ok("running `checker` found through PATH")?;
    let f = crate::facts::parse(&out.stdout)?;
    check_eq!(f.argv.first().map(String::as_str), Some("checker"), "argv[0]");
    Ok(Outcome::Pass)
}

fn missing_executable(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["no-such-binary-xyz"])?;
    let (_, out) = ctx.run(&b)?;
    check!(!out.success() && !out.timed_out, "a missing executable must fail: {}", out.describe());
    check!(out.messages().contains("no-such-binary-xyz"), "the error does not name the executable: {}", out.describe());
    Ok(Outcome::Pass)
}

fn exit_code(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::shell(&mut b.config, "exit 7")?;
    let (_, out) = ctx.run(&b)?;
    check_eq!(out.code, Some(7), "exit code of `run` ({})", out.describe());
    Ok(Outcome::Pass)
}

/// The process kills itself with SIGKILL; `run` exits 128 + 9. Without a pid namespace, so
/// the shell is not a namespace init (which ignores signals it has no handler for).
fn signal_death(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::remove_namespace(&mut b.config, "pid");
    spec::shell(&mut b.config, "kill -9 $$")?;
    let (_, out) = ctx.run(&b)?;
    check_eq!(out.code, Some(137), "exit code of `run` ({})", out.describe());
    Ok(Outcome::Pass)
}
