//! A container made by an unprivileged user (uid 65534 here, through setpriv): a one-id user
//! namespace mapping that user to root, no network namespace, /sys bound, no cgroup needed;
//! and `exec` by that user into their running container.

use std::os::unix::fs::chown;
use std::path::PathBuf;
use std::process::{Command, Stdio};
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
    vec![
        Case::new("rootless", "run_as_an_unprivileged_user", run_rootless),
        Case::new("rootless", "exec_as_the_unprivileged_user", exec_rootless),
    ]
}

/// The state of a rootless case: the bundle, and the home and state dir of the user.
struct Rootless {
    bundle: crate::bundle::Bundle,
    home: PathBuf,
    state: PathBuf,
}

/// A bundle for the unprivileged user running `script`, and their home. None when setpriv
/// is missing.
fn setup(ctx: &mut Ctx, script: &str) -> Result<Option<Rootless>> {
    if Command::new("setpriv").arg("--version").output().is_err() {
        return Ok(None);
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
    spec::add_mount(
        c,
        json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}),
    )?;
    spec::shell(c, script)?;
    b.write()?;
    let home = ctx.path("rootless-home");
    make_dir(&home)?;
    chown(&home, Some(NOBODY), Some(NOBODY)).context("chown the rootless home")?;
    let state = home.join("state");
    Ok(Some(Rootless { bundle: b, home, state }))
}

impl Rootless {
    /// The runtime run as the unprivileged user with `args`, its state under their home.
    fn command(&self, ctx: &Ctx, args: &[&str]) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "env"])
            .arg(format!("XDG_RUNTIME_DIR={}", self.home.display()))
            .arg(format!("HOME={}", self.home.display()))
            .arg(&ctx.rt().path)
            .arg("--root")
            .arg(&self.state)
            .args(&ctx.rt().global_args)
            .args(args)
            .current_dir(&self.home);
        cmd
    }
}

fn run_rootless(ctx: &mut Ctx) -> Result<Outcome> {
    let Some(r) = setup(ctx, "id -u; cat /proc/self/uid_map")? else {
        return Ok(Outcome::Skip("setpriv (util-linux) is missing".into()));
    };
    let id = ctx.id();
    let bundle = r.bundle.dir.to_string_lossy().into_owned();
    let out = run_with_timeout(r.command(ctx, &["run", "--bundle", &bundle, &id]), Duration::from_secs(20))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    check!(out.status.success(), "rootless run failed ({:?}): {stderr}", out.status);
    let lines: Vec<&str> = stdout.lines().collect();
    check_eq!(lines.first().copied(), Some("0"), "uid inside the user namespace ({stdout:?})");
    let map: Vec<&str> = lines.get(1).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    check_eq!(map, vec!["0", "65534", "1"], "uid_map of the rootless container");
    let left = std::fs::read_dir(&r.state).map(|d| d.count()).unwrap_or(0);
    check_eq!(left, 0, "entries left in the rootless state dir");
    Ok(Outcome::Pass)
}

/// The user execs into their own running container: the process is in the container's user
/// and pid namespaces, root there, and its exit code comes back.
fn exec_rootless(ctx: &mut Ctx) -> Result<Outcome> {
    let Some(r) = setup(ctx, "sleep 100")? else {
        return Ok(Outcome::Skip("setpriv (util-linux) is missing".into()));
    };
    let id = ctx.id();
    let bundle = r.bundle.dir.to_string_lossy().into_owned();
    // The detached container keeps the stdio it is given: files, so nothing waits for EOF.
    let err_path = ctx.path("detach.stderr");
    let mut detach = r.command(ctx, &["run", "--detach", "--bundle", &bundle, &id]);
    detach.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(&err_path)?);
    let out = run_with_timeout_io(detach, Duration::from_secs(20), false)?;
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    check!(out.status.success(), "rootless run --detach failed ({:?}): {err}", out.status);
    let script =
        "id -u; cat /proc/self/uid_map; [ \"$(readlink /proc/self/ns/pid)\" = \"$(readlink /proc/1/ns/pid)\" ] && echo same-pid-ns; exit 7";
    let exec = r.command(ctx, &["exec", &id, "sh", "-c", script]);
    let out = run_with_timeout(exec, Duration::from_secs(20));
    // Whatever happened, the container goes.
    let mut kill = r.command(ctx, &["delete", "--force", &id]);
    kill.stdin(Stdio::null());
    let deleted = run_with_timeout(kill, Duration::from_secs(20));
    let out = out?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    check_eq!(out.status.code(), Some(7), "exit code of the rootless exec (stdout {stdout:?}, stderr {stderr:?})");
    let lines: Vec<&str> = stdout.lines().collect();
    check_eq!(lines.first().copied(), Some("0"), "uid of the exec'd process in the user namespace ({stdout:?})");
    let map: Vec<&str> = lines.get(1).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    check_eq!(map, vec!["0", "65534", "1"], "uid_map of the exec'd process");
    check_eq!(lines.get(2).copied(), Some("same-pid-ns"), "pid namespace of the exec'd process ({stdout:?})");
    let deleted = deleted?;
    check!(deleted.status.success(), "delete --force as the user failed: {}", String::from_utf8_lossy(&deleted.stderr));
    Ok(Outcome::Pass)
}

/// Runs `cmd` (its output captured unless `piped` is false: then its stdio stays as the
/// caller set it), killing it after `limit`.
fn run_with_timeout_io(mut cmd: Command, limit: Duration, piped: bool) -> Result<std::process::Output> {
    if piped {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let child = cmd.spawn().context("start setpriv")?;
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

fn run_with_timeout(cmd: Command, limit: Duration) -> Result<std::process::Output> {
    run_with_timeout_io(cmd, limit, true)
}
