//! Robustness (slow): many short lifecycles in a row, many containers created, started and
//! deleted at once (one thread per call, released together by a barrier; the creates must
//! really overlap), and many foreground runs; afterwards nothing may remain: processes,
//! cgroups, mounts, state dirs.

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::runtime::Call;
use crate::{check, spec};
use anyhow::Result;
use std::sync::Barrier;
use std::time::{Duration, Instant};

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
        ctx.create(&b, &id, &[]).and_then(|o| o.ok("create")).map_err(|e| fail("create", e))?;
        ctx.start(&id).and_then(|o| o.ok("start")).map_err(|e| fail("start", e))?;
        ctx.wait_status(&id, "stopped", Duration::from_secs(10)).map_err(|e| fail("wait", e))?;
        ctx.delete(&id).and_then(|o| o.ok("delete")).map_err(|e| fail("delete", e))?;
    }
    no_leftovers(ctx)
}

/// Containers in the concurrent case.
const AT_ONCE: usize = 20;
/// How many of the creates must be running at the same moment: all released together by a
/// barrier, most of them overlap even on a small, busy host. A runtime (or harness) that
/// serializes them shows a peak of 1.
const MIN_OVERLAP: usize = AT_ONCE / 2;

fn twenty_at_once(ctx: &mut Ctx) -> Result<Outcome> {
    // One bundle per container: each has its own cgroupsPath.
    let mut containers = Vec::new();
    for _ in 0..AT_ONCE {
        let id = ctx.id();
        let mut b = ctx.bundle()?;
        spec::args(&mut b.config, &["sleep", "100"])?;
        ctx.place_in_cgroup(&mut b, &id)?;
        b.write()?;
        containers.push((id, b.dir.to_string_lossy().into_owned()));
    }
    // Each step runs for all twenty at once: they race on the state root, its locks and the
    // shared cgroup parents.
    let creates = at_once(ctx, &containers, |id, dir| vec!["create", "--bundle", dir, id])?;
    let peak = peak_overlap(&creates);
    check!(peak >= MIN_OVERLAP, "at most {peak} of the {AT_ONCE} creates ran at the same time (want {MIN_OVERLAP} or more)");
    at_once(ctx, &containers, |id, _| vec!["start", id])?;
    let mut pids = std::collections::BTreeSet::new();
    for (id, _) in &containers {
        let st = ctx.state(id)?;
        check!(st["status"] == "running", "{id} is not running: {st}");
        pids.insert(st["pid"].as_i64().unwrap_or_default());
    }
    check!(pids.len() == AT_ONCE, "the {AT_ONCE} containers have {} distinct pids: {pids:?}", pids.len());
    at_once(ctx, &containers, |id, _| vec!["delete", "--force", id])?;
    no_leftovers(ctx)
}

/// One runtime call, with when it started and ended as the harness saw it.
struct Timed {
    started: Instant,
    ended: Instant,
}

/// Calls the runtime for every container at the same time: one thread each, all released
/// together by a barrier once every thread is ready. Fails naming every call that failed.
fn at_once<'a>(
    ctx: &Ctx,
    containers: &'a [(String, String)],
    args: impl Fn(&'a str, &'a str) -> Vec<&'a str> + Sync,
) -> Result<Vec<Timed>> {
    let gate = Barrier::new(containers.len());
    let outputs = std::thread::scope(|s| {
        let threads: Vec<_> = containers
            .iter()
            .map(|(id, dir)| {
                let argv = args(id, dir);
                let gate = &gate;
                s.spawn(move || {
                    gate.wait();
                    let started = Instant::now();
                    let out = ctx.call(&argv);
                    (started, Instant::now(), out)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().map_err(|_| anyhow::anyhow!("a runtime call's thread panicked"))).collect::<Result<Vec<_>>>()
    })?;
    let mut timed = Vec::new();
    let mut failed = Vec::new();
    for (started, ended, out) in outputs {
        match out.and_then(|o| {
            let cmd = o.cmdline.clone();
            o.ok(&cmd)
        }) {
            Ok(_) => timed.push(Timed { started, ended }),
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    check!(failed.is_empty(), "{} of {} calls failed: {}", failed.len(), containers.len(), failed.join("; "));
    Ok(timed)
}

/// The most calls that were running at one moment.
fn peak_overlap(calls: &[Timed]) -> usize {
    // A call counts from its start up to, not including, its end.
    let mut edges: Vec<(Instant, i32)> = calls.iter().flat_map(|c| [(c.started, 1), (c.ended, -1)]).collect();
    edges.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut running = 0i32;
    let mut peak = 0i32;
    for (_, step) in edges {
        running += step;
        peak = peak.max(running);
    }
    usize::try_from(peak).unwrap_or_default()
}

fn run_never_hangs(ctx: &mut Ctx) -> Result<Outcome> {
    let b = ctx.bundle()?;
    let mut b = b;
    spec::args(&mut b.config, &["true"])?;
    b.write()?;
    let dir = b.dir.to_string_lossy().into_owned();
    for round in 0..100 {
        let id = ctx.id();
        let call = Call { timeout: Some(Duration::from_secs(10)), ..Call::default() };
        let out = ctx.call_with(&["run", "--bundle", &dir, &id], call)?;
        check!(!out.timed_out, "round {round}: run hung: {}", out.describe());
        check!(out.success(), "round {round}: run failed: {}", out.describe());
    }
    no_leftovers(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_counts_calls_running_at_one_moment() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let call = |a, b| Timed { started: at(a), ended: at(b) };
        // One after another: never more than one at a time, even when one ends as the next starts.
        assert_eq!(peak_overlap(&[call(0, 10), call(10, 20), call(20, 30)]), 1);
        // Three overlapping around 15 ms, a fourth later.
        assert_eq!(peak_overlap(&[call(0, 20), call(5, 30), call(15, 16), call(40, 50)]), 3);
        assert_eq!(peak_overlap(&[]), 0);
    }
}
