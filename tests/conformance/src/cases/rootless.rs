//! A container made by an unprivileged user (uid 65534 here, through setpriv): a one-id user
//! namespace mapping that user to root, no network namespace, /sys bound, no cgroup needed.

use std::os::unix::fs::chown;
use std::process::Command;
use std::time::Duration;

use super::{Case, Outcome};
use crate::bundle::make_dir;
use crate::ctx::Ctx;
use crate::spec;
use crate::{check, check_eq};
use anyhow::{Context, Result};
use serde_json::json;

const NOBODY: u32 = 65534;

pub fn cases() -> Vec<Case> {
    vec![Case::new("rootless", "run_as_an_unprivileged_user", run_rootless)]
}

fn run_rootless(ctx: &mut Ctx) -> Result<Outcome> {
    if Command::new("setpriv").arg("--version").output().is_err() {
        return Ok(Outcome::Skip("setpriv (util-linux) is missing".into()));
    }
    let mut b = ctx.bundle()?;
    let c = &mut b.config;
    spec::set(c, "/linux/uidMappings", json!([{"containerID": 0, "hostID": NOBODY, "size": 1}]))?;
    spec::set(c, "/linux/gidMappings", json!([{"containerID": 0, "hostID": NOBODY, "size": 1}]))?;
    spec::remove(c, "/linux/resources");
    spec::remove(c, "/linux/cgroupsPath");
    spec::remove_namespace(c, "network");
    spec::namespace(c, "user", None)?;
    let mounts: Vec<serde_json::Value> = c["mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m["destination"] != "/sys" && m["destination"] != "/sys/fs/cgroup")
        .map(|mut m| {
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| o != "gid=5");
            }
            m
        })
        .collect();
    c["mounts"] = json!(mounts);
    spec::add_mount(c, json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}))?;
    spec::shell(c, "id -u; cat /proc/self/uid_map")?;
    b.write()?;
    let home = ctx.path("rootless-home");
    make_dir(&home)?;
    chown(&home, Some(NOBODY), Some(NOBODY)).context("chown the rootless home")?;
    let state = home.join("state");
    let id = ctx.id();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "env"])
        .arg(format!("XDG_RUNTIME_DIR={}", home.display()))
        .arg(format!("HOME={}", home.display()))
        .arg(&ctx.rt().path)
        .arg("--root")
        .arg(&state)
        .args(&ctx.rt().global_args)
        .args(["run", "--bundle"])
        .arg(&b.dir)
        .arg(&id)
        .current_dir(&home);
    let out = run_with_timeout(cmd, Duration::from_secs(20))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    check!(out.status.success(), "rootless run failed ({:?}): {stderr}", out.status);
    let lines: Vec<&str> = stdout.lines().collect();
    check_eq!(lines.first().copied(), Some("0"), "uid inside the user namespace ({stdout:?})");
    let map: Vec<&str> = lines.get(1).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    check_eq!(map, vec!["0", "65534", "1"], "uid_map of the rootless container");
    let left = std::fs::read_dir(&state).map(|d| d.count()).unwrap_or(0);
    check_eq!(left, 0, "entries left in the rootless state dir");
    Ok(Outcome::Pass)
}

fn run_with_timeout(mut cmd: Command, limit: Duration) -> Result<std::process::Output> {
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().context("start setpriv")?;
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    let start = std::time::Instant::now();
    while !waiter.is_finished() {
        if start.elapsed() > limit {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            anyhow::bail!("rootless run timed out after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    waiter.join().map_err(|_| anyhow::anyhow!("waiter panicked"))?.context("wait for setpriv")
}
