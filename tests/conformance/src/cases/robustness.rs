//! Robustness (slow): many short lifecycles in a row, many containers created, started and
//! deleted at once (concurrent calls), and many foreground runs; afterwards nothing may
//! remain: processes, cgroups, mounts, state dirs.

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::runtime::Call;
use crate::{check, spec};
use anyhow::Result;
use std::time::Duration;

pub fn cases() -> Vec<Case> {
    let m = "robustness";
    vec![
        Case::new(m, "create_start_delete_200_times", cycles).slow(),
        Case::new(m, "twenty_containers_at_once", twenty_at_once).slow(),
        Case::new(m, "run_never_hangs_100_times", run_never_hangs).slow(),
    ]
}

fn no_leftovers(ctx: &Ctx) -> Result<Outcome> {
    let left = ctx.leftovers();
    check!(left.is_empty(), "left behind: {}", left.join("; "));
    Ok(Outcome::Pass)
}

fn cycles(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["true"])?;
    for round in 0..200 {
        let id = ctx.id();
        ctx.place_in_cgroup(&mut b, &id)?;
        let fail = |what: &str, e: anyhow::Error| e.context(format!("round {round}: {what}"));
        ctx.create(&b, &id, &[])
            .and_then(|o| o.ok("create"))
            .map_err(|e| fail("create", e))?;
        ctx.start(&id)
            .and_then(|o| o.ok("start"))
            .map_err(|e| fail("start", e))?;
        ctx.wait_status(&id, "stopped", Duration::from_secs(10))
            .map_err(|e| fail("wait", e))?;
        ctx.delete(&id)
            .and_then(|o| o.ok("delete"))
            .map_err(|e| fail("delete", e))?;
    }
    no_leftovers(ctx)
}

fn twenty_at_once(ctx: &mut Ctx) -> Result<Outcome> {
    // One bundle per container: each has its own cgroupsPath.
    let mut containers = Vec::new();
    for _ in 0..20 {
        let id = ctx.id();
        let mut b = ctx.bundle()?;
        spec::args(&mut b.config, &["sleep", "100"])?;
        ctx.place_in_cgroup(&mut b, &id)?;
        b.write()?;
        containers.push((id, b.dir.to_string_lossy().into_owned()));
    }
    // Each step runs for all twenty at once: they race on the state root, its locks and the
    // shared cgroup parents.
    at_once(ctx, &containers, |id, dir| vec!["create", "--bundle", dir, id])?;
    at_once(ctx, &containers, |id, _| vec!["start", id])?;
    for (id, _) in &containers {
        let st = ctx.state(id)?;
        check!(st["status"] == "running", "{id} is not running: {st}");
    }
    at_once(ctx, &containers, |id, _| vec!["delete", "--force", id])?;
    no_leftovers(ctx)
}

/// Calls the runtime for every container at the same time, one thread each; fails on the
/// first call that failed.
fn at_once<'a>(
    ctx: &Ctx,
    containers: &'a [(String, String)],
    args: impl Fn(&'a str, &'a str) -> Vec<&'a str> + Sync,
) -> Result<()> {
    let outputs = std::thread::scope(|s| {
        let threads: Vec<_> = containers
            .iter()
            .map(|(id, dir)| {
                let argv = args(id, dir);
                s.spawn(move || ctx.call(&argv))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().map_err(|_| anyhow::anyhow!("a runtime call's thread panicked"))?)
            .collect::<Result<Vec<_>>>()
    })?;
    for out in outputs {
        let cmd = out.cmdline.clone();
        out.ok(&cmd)?;
    }
    Ok(())
}

fn run_never_hangs(ctx: &mut Ctx) -> Result<Outcome> {
    let b = ctx.bundle()?;
    let mut b = b;
    spec::args(&mut b.config, &["true"])?;
    b.write()?;
    let dir = b.dir.to_string_lossy().into_owned();
    for round in 0..100 {
        let id = ctx.id();
        let call = Call {
            timeout: Some(Duration::from_secs(10)),
            ..Call::default()
        };
        let out = ctx.call_with(&["run", "--bundle", &dir, &id], call)?;
        check!(
            !out.timed_out,
            "round {round}: run hung: {}",
            out.describe()
        );
        check!(
            out.success(),
            "round {round}: run failed: {}",
            out.describe()
        );
    }
    no_leftovers(ctx)
}
