//! Faults: what a runtime must survive on a node. A corrupt or missing state file must not
//! pin a container (`delete --force` removes it, with its process and cgroup), one command's
//! slow hook must not hold up `state`, `kill` and `delete --force` of the same container, and
//! the state a runtime keeps is private (root 0700, state files 0600).

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::runtime::{Call, Output};
use crate::{check, check_eq, spec};
use anyhow::{Context, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    let m = "faults";
    vec![
        Case::new(m, "corrupt_state_then_delete_force", corrupt_state)
            .runc_xfail("runc 1.1.5 cannot load a corrupt state.json: delete --force fails and the process and cgroup stay")
            .runc13_xfail("runc 1.3.6 cannot load a corrupt state.json either (\"unexpected EOF\"): the process and cgroup stay"),
        Case::new(m, "missing_state_then_delete_force", missing_state)
            .runc_xfail("runc 1.1.5 removes a state dir without state.json but leaves the container's process and cgroup")
            .runc13_xfail("runc 1.3.6 removes a state dir without state.json but leaves the container's process and cgroup"),
        Case::new(m, "slow_poststart_holds_up_nobody", slow_poststart),
        Case::new(m, "state_is_private", state_is_private),
    ]
}

/// A created container running `sleep 100` in its own cgroup.
fn created(ctx: &mut Ctx, place: bool) -> Result<String> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    if place {
        ctx.place_in_cgroup(&mut b, &id)?;
    }
    ctx.create(&b, &id, &[])?.ok("create")?;
    Ok(id)
}

fn no_leftovers(ctx: &Ctx) -> Result<Outcome> {
    let left = ctx.leftovers();
    check!(left.is_empty(), "left behind: {}", left.join("; "));
    Ok(Outcome::Pass)
}

fn corrupt_state(ctx: &mut Ctx) -> Result<Outcome> {
    let healthy = created(ctx, true)?;
    let id = created(ctx, true)?;
    let file = ctx.rt().root.join(&id).join("state.json");
    fs::write(&file, b"{\"truncated\": ").with_context(|| format!("corrupting {}", file.display()))?;
    // `list` still answers, with the healthy container in it.
    let out = ctx.call(&["list", "-q"])?.ok("list with a corrupt state file")?;
    check!(out.stdout.lines().any(|l| l == healthy), "list lost {healthy}: {:?}", out.stdout);
    ctx.call(&["delete", "--force", &id])?.ok("delete --force of a container with a corrupt state.json")?;
    check!(!ctx.state_dir_exists(&id), "the state dir of {id} is still there");
    ctx.call(&["delete", "--force", &healthy])?.ok("delete --force")?;
    no_leftovers(ctx)
}

fn missing_state(ctx: &mut Ctx) -> Result<Outcome> {
    // Without a cgroupsPath: with no state file, the runtime can only find the cgroup by the
    // default rule (the id below its own cgroup).
    let id = created(ctx, false)?;
    let file = ctx.rt().root.join(&id).join("state.json");
    fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
    ctx.call(&["delete", "--force", &id])?.ok("delete --force of a container without state.json")?;
    check!(!ctx.state_dir_exists(&id), "the state dir of {id} is still there");
    no_leftovers(ctx)
}

/// Runs `f` and fails unless it succeeds within a second.
fn quick(what: &str, f: impl FnOnce() -> Result<Output>) -> Result<Output> {
    let t = Instant::now();
    let out = f()?.ok(what)?;
    check!(t.elapsed() < Duration::from_secs(1), "{what} took {:?} while a poststart hook ran", t.elapsed());
    Ok(out)
}

fn slow_poststart(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.place_in_cgroup(&mut b, &id)?;
    // The hook says it began (its pid), then sleeps 20 s, a process the case ends itself.
    let began = ctx.path("hook-began");
    let script = format!("echo $$ > {}; exec sleep 20", began.display());
    spec::add_hook(&mut b.config, "poststart", spec::hook("/bin/sh", &["sh", "-c", &script], &[], None))?;
    b.write()?;
    let bundle = b.dir.to_string_lossy().into_owned();
    let rt = ctx.rt();
    let dir = ctx.path("");
    // runc 1.1.5 runs poststart hooks in `create`, youki in `start`: run both in the
    // background, and act once the hook has begun wherever it runs.
    let result = std::thread::scope(|s| -> Result<Outcome> {
        let bg = s.spawn(|| -> Result<()> {
            let long = || Call { timeout: Some(Duration::from_secs(40)), ..Default::default() };
            rt.call(&dir, &["create", "--bundle", &bundle, &id], long())?;
            rt.call(&dir, &["start", &id], long())?;
            Ok(())
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        let hook_pid = loop {
            if let Some(pid) = fs::read_to_string(&began).ok().and_then(|t| t.trim().parse::<i32>().ok()) {
                break pid;
            }
            check!(Instant::now() < deadline, "the poststart hook never began");
            std::thread::sleep(Duration::from_millis(20));
        };
        let checks = (|| -> Result<()> {
            let out = quick("state", || ctx.call(&["state", &id]))?;
            let st: serde_json::Value = serde_json::from_str(&out.stdout).context("parsing state")?;
            check!(st["status"] == "running" || st["status"] == "created", "status {} while the hook runs", st["status"]);
            quick("list", || ctx.call(&["list", "-q"]))?;
            quick("kill KILL", || ctx.call(&["kill", &id, "KILL"]))?;
            quick("delete --force", || ctx.call(&["delete", "--force", &id]))?;
            check!(!ctx.state_dir_exists(&id), "the state dir of {id} is still there");
            Ok(())
        })();
        // SAFETY: kill(2) of the hook's sleep, a process this case made through the runtime.
        unsafe { libc::kill(hook_pid, libc::SIGKILL) };
        let _ = bg.join();
        checks?;
        Ok(Outcome::Pass)
    })?;
    check_eq!(ctx.state_dir_exists(&id), false, "state dir after the background commands ended");
    no_leftovers(ctx)?;
    Ok(result)
}

fn state_is_private(ctx: &mut Ctx) -> Result<Outcome> {
    let id = created(ctx, true)?;
    let mode = |p: &std::path::Path| -> Result<u32> {
        Ok(fs::metadata(p).with_context(|| format!("stat {}", p.display()))?.permissions().mode() & 0o7777)
    };
    let root = ctx.rt().root.clone();
    check_eq!(format!("{:o}", mode(&root)?), "700", "mode of the state root {}", root.display());
    let file = root.join(&id).join("state.json");
    check_eq!(format!("{:o}", mode(&file)?), "600", "mode of {}", file.display());
    ctx.call(&["delete", "--force", &id])?.ok("delete --force")?;
    no_leftovers(ctx)
}
