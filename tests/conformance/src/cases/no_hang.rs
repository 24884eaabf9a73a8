//! No command hangs or panics on what the host throws at it: a reader that goes away
//! (`list | head -1`), a container cgroup that is already frozen, and signals to a paused
//! container (runc-kill(8), runc-pause(8)).

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{Case, Outcome};
use crate::cgroup_files;
use crate::ctx::Ctx;
use crate::host;
use crate::spec;
use crate::{check, check_eq};
use anyhow::{Context, Result};

pub fn cases() -> Vec<Case> {
    let m = "no_hang";
    vec![
        Case::new(m, "broken_stdout_pipe_ends_by_sigpipe_quietly", broken_pipe),
        Case::new(m, "frozen_cgroup_refused_at_once", frozen_cgroup).refusal(),
        Case::new(m, "kill_all_keeps_a_paused_container_paused", kill_all_paused).runc_xfail(
            "runc 1.1.5 thaws the cgroup after signalling every process, so a paused container runs \
             again (and its state says running)",
        ),
        Case::new(m, "sigkill_ends_a_paused_container", sigkill_paused),
        Case::new(m, "start_refuses_a_cgroup_frozen_from_outside", start_frozen_from_outside).refusal(),
    ]
}

/// Runs the runtime with stdout on a pipe nobody reads any more; returns (signal, exit
/// code, stderr).
fn with_closed_stdout(ctx: &Ctx, args: &[&str]) -> Result<(Option<i32>, Option<i32>, String)> {
    use std::os::unix::process::ExitStatusExt;
    let (read_end, write_end) = nix::unistd::pipe()?;
    drop(read_end);
    let rt = ctx.rt();
    let mut cmd = rt.command(&rt.path);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::from(write_end)).stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("spawn {args:?}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            anyhow::bail!("{args:?} with a closed stdout did not end within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    Ok((status.signal(), status.code(), err))
}

/// Every command that prints ends as runc does when its reader is gone: killed by SIGPIPE,
/// with nothing on stderr (no panic, no backtrace).
fn broken_pipe(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.place_in_cgroup(&mut b, &id)?;
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    for args in [
        vec!["list"],
        vec!["list", "--format", "json"],
        vec!["state", &id],
        vec!["ps", &id],
        vec!["ps", "--format", "json", &id],
        vec!["events", "--stats", &id],
        vec!["features"],
        vec!["--version"],
    ] {
        let (signal, code, stderr) = with_closed_stdout(ctx, &args)?;
        check!(
            signal == Some(libc::SIGPIPE) && stderr.is_empty(),
            "{args:?} with a closed stdout: signal {signal:?}, exit {code:?}, stderr {stderr:?}"
        );
    }
    Ok(Outcome::Pass)
}

/// A container whose cgroup exists and is frozen would never run: `run --detach` refuses at
/// once and names the freezer, instead of waiting forever.
fn frozen_cgroup(ctx: &mut Ctx) -> Result<Outcome> {
    let layout = host::layout()?;
    let (controller, file, frozen, thawed) = cgroup_files::freezer(layout);
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["true"])?;
    let id = ctx.id();
    let cg = ctx.place_in_cgroup(&mut b, &id)?;
    let dir = host::hierarchy_of(layout, controller)?.dir(&cg);
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {dir:?}"))?;
    std::fs::write(dir.join(file), frozen).with_context(|| format!("freeze {dir:?}"))?;
    let call = crate::runtime::Call { timeout: Some(Duration::from_secs(10)), ..Default::default() };
    let dir_s = b.dir.to_string_lossy().into_owned();
    b.write()?;
    let out = ctx.call_with(&["run", "--detach", "--bundle", &dir_s, &id], call);
    // Thaw and remove what this case made, whatever the runtime did.
    let _ = std::fs::write(dir.join(file), thawed);
    let out = out?;
    let _ = ctx.call(&["delete", "--force", &id]);
    let _ = std::fs::remove_dir(&dir);
    check!(!out.timed_out, "run --detach into a frozen cgroup hung: {}", out.describe());
    check!(!out.success(), "run --detach into a frozen cgroup succeeded");
    check!(out.elapsed < Duration::from_secs(5), "the refusal took {:?}", out.elapsed);
    check!(out.stderr.contains("frozen"), "the error does not say the cgroup is frozen: {:?}", out.stderr);
    Ok(Outcome::Pass)
}

/// A running `sleep` container that is paused.
fn paused(ctx: &mut Ctx, script: &str) -> Result<String> {
    let mut b = ctx.bundle()?;
    spec::shell(&mut b.config, script)?;
    let id = ctx.id();
    ctx.place_in_cgroup(&mut b, &id)?;
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    ctx.call(&["pause", &id])?.ok("pause")?;
    Ok(id)
}

/// `kill --all` leaves the freezer as it found it: the paused container stays paused (the
/// signal waits for `resume`), and `state` says so truthfully.
fn kill_all_paused(ctx: &mut Ctx) -> Result<Outcome> {
    let layout = host::layout()?;
    let (controller, file, frozen, _) = cgroup_files::freezer(layout);
    let id = paused(ctx, "trap 'exit 7' TERM; while true; do sleep 0.1; done")?;
    let cg = ctx.cgroup_path_for(&id);
    ctx.call(&["kill", "--all", &id, "TERM"])?.ok("kill --all TERM")?;
    check_eq!(ctx.state(&id)?["status"].as_str(), Some("paused"), "status after kill --all of a paused container");
    check_eq!(host::read_cgroup_file(layout, controller, &cg, file)?, frozen, "{file} after kill --all");
    ctx.call(&["resume", &id])?.ok("resume")?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(10))?;
    Ok(Outcome::Pass)
}

/// SIGKILL reaches a paused container (a frozen task on cgroup v1 only dies once thawed):
/// `kill` and `kill --all` end it, and `state` says stopped.
fn sigkill_paused(ctx: &mut Ctx) -> Result<Outcome> {
    for all in [false, true] {
        let id = paused(ctx, "sleep 100")?;
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id.as_str(), "KILL"]);
        ctx.call(&args)?.ok(&args.join(" "))?;
        ctx.wait_status(&id, "stopped", Duration::from_secs(5)).with_context(|| format!("after {args:?}"))?;
        ctx.delete(&id)?.ok("delete")?;
    }
    Ok(Outcome::Pass)
}

/// A created container whose cgroup someone else froze: `state` says paused (the freezer is
/// the truth, as runc reads it) and `start` refuses at once instead of waiting for a process
/// that cannot run.
fn start_frozen_from_outside(ctx: &mut Ctx) -> Result<Outcome> {
    let layout = host::layout()?;
    let (controller, file, frozen, thawed) = cgroup_files::freezer(layout);
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["true"])?;
    let id = ctx.id();
    let cg = ctx.place_in_cgroup(&mut b, &id)?;
    ctx.create(&b, &id, &[])?.ok("create")?;
    let freezer = host::hierarchy_of(layout, controller)?.dir(&cg).join(file);
    std::fs::write(&freezer, frozen).with_context(|| format!("freeze {freezer:?}"))?;
    let status = ctx.state(&id).map(|s| s["status"].clone());
    let call = crate::runtime::Call { timeout: Some(Duration::from_secs(10)), ..Default::default() };
    let start = ctx.call_with(&["start", &id], call);
    let _ = std::fs::write(&freezer, thawed);
    let (status, start) = (status?, start?);
    check_eq!(status.as_str(), Some("paused"), "status of a created container frozen from outside");
    check!(!start.timed_out && !start.success(), "start of a frozen container: {}", start.describe());
    check!(start.elapsed < Duration::from_secs(5), "the refusal took {:?}", start.elapsed);
    Ok(Outcome::Pass)
}
