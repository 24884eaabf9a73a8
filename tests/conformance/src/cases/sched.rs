//! The scheduling fields of runtime-spec 1.2: linux.personality (config-linux.md
//! "Personality"), process.scheduler, process.ioPriority and process.execCPUAffinity
//! (config.md "Linux Process"), read back by the checker with personality(2),
//! sched_getattr(2), ioprio_get(2) and sched_getaffinity(2). runc 1.1.5 predates all four
//! and ignores them: those cases carry the runc-xfail mark, and the spec text is the oracle.

use super::bad_input::{bundle_with_cgroup, rejected};
use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::facts;
use crate::spec;
use crate::{check, check_eq};
use anyhow::Result;
use serde_json::json;

const LACKS: &str = "runc 1.1.5 predates this runtime-spec 1.2 field and ignores it";

pub fn cases() -> Vec<Case> {
    let m = "sched";
    vec![
        Case::new(m, "personality_linux32", personality).runc_xfail(LACKS),
        Case::new(m, "scheduler_batch_nice_flags", scheduler_batch).runc_xfail(LACKS),
        Case::new(m, "io_priority", io_priority).runc_xfail(LACKS),
        Case::new(m, "exec_cpu_affinity_final", exec_affinity).runc_xfail(LACKS),
        Case::new(m, "exec_cpu_affinity_not_for_init", affinity_not_for_init),
        Case::new(m, "bad_scheduler_policy_refused", bad_policy).refusal().runc_xfail(LACKS),
        Case::new(m, "bad_priority_for_policy_refused", bad_priority).refusal()
            .runc_xfail(LACKS)
            .runc13_xfail("runc 1.3 refuses it, but its error (\"error setting scheduler: invalid argument\") names neither process.scheduler nor the priority"),
    ]
}

/// LINUX32: personality(2) reports PER_LINUX32 (0x0008), for the container's process and for
/// one `exec` adds to the container.
fn personality(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/linux/personality", json!({"domain": "LINUX32"}))?;
    let f = ctx.checker(&mut b, &[])?;
    check_eq!(f.personality, Some(0x0008), "personality of the container's process");
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    let out = ctx.call(&["exec", &id, "/checker"])?.ok("exec /checker")?;
    check_eq!(facts::parse(&out.stdout)?.personality, Some(0x0008), "personality of an exec'd process");
    Ok(Outcome::Pass)
}

/// SCHED_BATCH (3) with nice 7 and SCHED_FLAG_RESET_ON_FORK (0x01), named as the spec names
/// them.
fn scheduler_batch(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let sched = json!({"policy": "SCHED_BATCH", "nice": 7, "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    spec::set(&mut b.config, "/process/scheduler", sched)?;
    let f = ctx.checker(&mut b, &[])?;
    let s = f.sched.ok_or_else(|| anyhow::anyhow!("the checker could not read its scheduler"))?;
    check_eq!((s.policy, s.nice, s.flags & 0x01), (3, 7, 0x01), "policy, nice and reset-on-fork of the container's process");
    Ok(Outcome::Pass)
}

/// IOPRIO_CLASS_BE (2), level 6.
fn io_priority(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/ioPriority", json!({"class": "IOPRIO_CLASS_BE", "priority": 6}))?;
    let f = ctx.checker(&mut b, &[])?;
    check_eq!(f.ioprio, Some(facts::IoPrio { class: 2, level: 6 }), "I/O priority of the container's process");
    Ok(Outcome::Pass)
}

fn cpu_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `exec` of a process with execCPUAffinity.final = the last CPU: it runs there only.
fn exec_affinity(ctx: &mut Ctx) -> Result<Outcome> {
    let cpus = cpu_count();
    if cpus < 2 {
        return Ok(Outcome::Skip("needs at least two CPUs to tell a pinned process apart".into()));
    }
    let last = (cpus - 1) as u32;
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    let path = ctx.path("process.json");
    let process = json!({
        "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["/checker"], "env": ["PATH=/bin"],
        "execCPUAffinity": {"initial": "0", "final": last.to_string()}
    });
    std::fs::write(&path, process.to_string())?;
    let p = path.to_string_lossy().into_owned();
    let out = ctx.call(&["exec", "--process", &p, &id])?.ok("exec --process")?;
    let f = facts::parse(&out.stdout)?;
    check_eq!(f.cpus, Some(vec![last]), "cpus of the exec'd process");
    Ok(Outcome::Pass)
}

/// config.md: execCPUAffinity "is not applicable to the container's init process".
fn affinity_not_for_init(ctx: &mut Ctx) -> Result<Outcome> {
    let cpus = cpu_count();
    if cpus < 2 {
        return Ok(Outcome::Skip("needs at least two CPUs to tell a pinned process apart".into()));
    }
    let own = facts_own_cpus();
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/execCPUAffinity", json!({"final": "0"}))?;
    let f = ctx.checker(&mut b, &[])?;
    check!(f.cpus.as_ref().is_some_and(|c| c.len() > 1), "the container's init was pinned: {:?}", f.cpus);
    check_eq!(f.cpus, own, "cpus of the container's init (right) against the harness's own");
    Ok(Outcome::Pass)
}

/// The harness's own CPU list, from /proc/self/status.
fn facts_own_cpus() -> Option<Vec<u32>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?.trim().to_string();
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<u32>().ok()?..=b.parse::<u32>().ok()?),
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

fn bad_policy(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/process/scheduler", json!({"policy": "SCHED_FAST"}))?;
    rejected(ctx, &mut b, &id, &cg, &["SCHED_FAST"])
}

/// config.md: priority is for real-time policies; SCHED_RR needs 1 to 99 (sched(7)).
fn bad_priority(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/process/scheduler", json!({"policy": "SCHED_RR", "priority": 0}))?;
    rejected(ctx, &mut b, &id, &cg, &["process.scheduler"])
}
