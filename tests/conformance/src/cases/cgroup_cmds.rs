//! The commands that go through the cgroup (runc-pause(8), runc-resume(8), runc-ps(8),
//! runc-update(8), runc-events(8)), checked from the host side in the v1 or v2 files.

use std::fs;
use std::time::Duration;

use super::{devices, Case, Outcome};
use crate::cgroup_files;
use crate::ctx::Ctx;
use crate::host::{self, Layout};
use crate::spec;
use crate::{check, check_eq};
use anyhow::{Context, Result};
use serde_json::{json, Value};

pub fn cases() -> Vec<Case> {
    let m = "cgroup_cmds";
    vec![
        Case::new(m, "pause_and_resume", pause_resume),
        Case::new(m, "ps_json_lists_the_processes", ps_json),
        Case::new(m, "update_memory_and_pids", update),
        Case::new(m, "update_ignores_device_rules", update_devices).runc_systemd_xfail(
            "runc 1.1.5's systemd driver leaves DeviceAllow= out for a device that does not exist \
             (fixed in runc 1.1.7); on update systemd rebuilds its device program without the rule",
        ),
        Case::new(m, "events_stats_snapshot", events_stats),
        Case::new(m, "events_reports_oom", events_oom),
    ]
}

/// A running `sleep 100` container at a known absolute cgroupsPath.
fn running(ctx: &mut Ctx) -> Result<(String, String)> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    let cg = ctx.place_in_cgroup(&mut b, &id)?;
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    Ok((id, cg))
}

/// A file of the container's cgroup: in the v1 hierarchy of `controller`, or the unified one.
fn read(controller: &str, cg: &str, file: &str) -> Result<String> {
    host::read_cgroup_file(host::layout()?, controller, cg, file)
}

fn pause_resume(ctx: &mut Ctx) -> Result<Outcome> {
    let (controller, file, frozen, thawed) = cgroup_files::freezer(host::layout()?);
    let (id, cg) = running(ctx)?;
    ctx.call(&["pause", &id])?.ok("pause")?;
    check_eq!(ctx.state(&id)?["status"].as_str(), Some("paused"), "status after pause");
    check_eq!(read(controller, &cg, file)?, frozen, "{file} after pause");
    let again = ctx.call(&["pause", &id])?;
    check!(!again.success(), "pausing a paused container succeeded");
    ctx.call(&["resume", &id])?.ok("resume")?;
    check_eq!(ctx.state(&id)?["status"].as_str(), Some("running"), "status after resume");
    check_eq!(read(controller, &cg, file)?, thawed, "{file} after resume");
    Ok(Outcome::Pass)
}

fn ps_json(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = running(ctx)?;
    let out = ctx.call(&["ps", "--format", "json", &id])?.ok("ps --format json")?;
    let pids: Vec<u64> =
        serde_json::from_str(out.stdout.trim()).with_context(|| format!("ps output is not a JSON array: {:?}", out.stdout))?;
    let init = ctx.state(&id)?["pid"].as_u64().context("state has no pid")?;
    check!(pids.contains(&init), "ps {pids:?} lacks the init pid {init}");
    Ok(Outcome::Pass)
}

fn update(ctx: &mut Ctx) -> Result<Outcome> {
    let (controller, file) = cgroup_files::memory_limit(host::layout()?);
    let (id, cg) = running(ctx)?;
    ctx.call(&["update", "--memory", "104857600", "--pids-limit", "42", &id])?.ok("update")?;
    check_eq!(read(controller, &cg, file)?, "104857600", "{file} after update");
    check_eq!(read("pids", &cg, "pids.max")?, "42", "pids.max after update");
    Ok(Outcome::Pass)
}

/// runc-update(8) takes no device rules: an "allow everything" rule in --resources changes
/// nothing, neither devices.list on v1 nor what the container may open (v1 and v2).
fn update_devices(ctx: &mut Ctx) -> Result<Outcome> {
    if let Some(skip) = devices::nodev_skip(ctx)? {
        return Ok(skip);
    }
    let layout = host::layout()?;
    let (id, cg) = devices::running_with_rules(ctx)?;
    devices::check_nodes_by_exec(ctx, &id, "before update")?;
    let before = match layout {
        Layout::V1 => Some(read("devices", &cg, "devices.list")?),
        Layout::Unified => None,
    };
    let file = ctx.path("resources.json");
    fs::write(&file, json!({"devices": [{"allow": true, "access": "rwm"}], "pids": {"limit": 77}}).to_string())?;
    let f = file.to_string_lossy().into_owned();
    ctx.call(&["update", "--resources", &f, &id])?.ok("update --resources")?;
    check_eq!(read("pids", &cg, "pids.max")?, "77", "pids.max after update --resources");
    if let Some(before) = before {
        check_eq!(read("devices", &cg, "devices.list")?, before, "devices.list must not change on update");
    }
    devices::check_nodes_by_exec(ctx, &id, "after update")?;
    Ok(Outcome::Pass)
}

fn events_stats(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = running(ctx)?;
    std::thread::sleep(Duration::from_millis(50));
    let out = ctx.call(&["events", "--stats", &id])?.ok("events --stats")?;
    let v: Value = serde_json::from_str(out.stdout.trim()).with_context(|| format!("events output is not JSON: {:?}", out.stdout))?;
    check_eq!(v["type"].as_str(), Some("stats"), "event type");
    check_eq!(v["id"].as_str(), Some(id.as_str()), "event id");
    check!(v["data"]["memory"]["usage"]["usage"].as_u64().is_some_and(|u| u > 0), "no memory usage in {v}");
    check!(v["data"]["pids"]["current"].as_u64().is_some_and(|n| n >= 1), "no pids.current in {v}");
    check!(v["data"]["cpu"]["usage"]["total"].as_u64().is_some(), "no cpu usage in {v}");
    Ok(Outcome::Pass)
}

/// An OOM kill inside the container shows in the `events` stream as {"type":"oom"}.
fn events_oom(ctx: &mut Ctx) -> Result<Outcome> {
    use std::io::BufRead;
    let mut b = ctx.bundle()?;
    let id = ctx.id();
    ctx.place_in_cgroup(&mut b, &id)?;
    spec::set(&mut b.config, "/linux/resources/memory", json!({"limit": 16777216, "swap": 16777216}))?;
    spec::shell(&mut b.config, "sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 100")?;
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    let mut events = ctx
        .rt()
        .command(&ctx.rt().path)
        .args(["events", "--interval", "30s", &id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("start events")?;
    let stdout = events.stdout.take().context("events stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut oom = false;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if v["type"] == "oom" && v["id"] == json!(id) {
                    oom = true;
                    break;
                }
                seen.push(v["type"].as_str().unwrap_or("?").to_string());
            }
            Err(_) => break,
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    check!(oom, "no oom event within 10 s; saw {seen:?}");
    Ok(Outcome::Pass)
}
