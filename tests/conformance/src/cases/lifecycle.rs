//! The lifecycle and CLI: create/state/start/kill/delete and their error cases, list,
//! duplicate ids, --pid-file, run --detach, --preserve-fds and --console-socket.

use super::{Case, Outcome};
use crate::console::ConsoleSocket;
use crate::ctx::Ctx;
use crate::runtime::Call;
use crate::{check, check_eq, facts, host, spec};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::fs;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
/// A process that exits 0 on SIGTERM (an init needs a handler to receive it).
const TRAP_TERM: &str = "trap 'exit 0' TERM; while :; do sleep 1; done";

pub fn cases() -> Vec<Case> {
    let m = "lifecycle";
    vec![
        Case::new(m, "create_state_fields", create_state_fields),
        Case::new(m, "kill_KILL", |c| start_kill_delete(c, "KILL")),
        Case::new(m, "kill_SIGKILL", |c| start_kill_delete(c, "SIGKILL")),
        Case::new(m, "kill_9", |c| start_kill_delete(c, "9")),
        Case::new(m, "kill_TERM", |c| start_kill_delete(c, "TERM")),
        Case::new(m, "kill_all", kill_all),
        Case::new(m, "kill_0_probes_without_signalling", kill_zero),
        Case::new(m, "delete_force_running", delete_force_running),
        Case::new(m, "delete_force_unknown_id", delete_force_unknown),
        Case::new(m, "delete_running_fails", delete_running_fails).refusal(),
        Case::new(m, "start_running_fails", start_running_fails).refusal(),
        Case::new(m, "kill_stopped_fails", kill_stopped_fails).refusal(),
        Case::new(m, "state_unknown_id_fails", state_unknown_fails).refusal(),
        Case::new(m, "list_formats", list_formats),
        Case::new(m, "duplicate_id_rejected", duplicate_id).refusal(),
        Case::new(m, "pid_file", pid_file),
        Case::new(m, "run_detach", run_detach),
        Case::new(m, "only_stdio_by_default", only_stdio),
        Case::new(m, "preserve_fds", preserve_fds),
        Case::new(m, "console_socket", console_socket),
    ]
}

/// Creates a container running `script` (busybox sh) with its cgroup under the suite parent.
fn create_shell(ctx: &mut Ctx, script: &str) -> Result<String> {
    let mut b = ctx.bundle()?;
    let id = ctx.id();
    ctx.place_in_cgroup(&mut b, &id)?;
    spec::shell(&mut b.config, script)?;
    ctx.create(&b, &id, &[])?.ok("create")?;
    Ok(id)
}

fn pid_of(state: &Value) -> Result<u32> {
    let pid = state["pid"].as_u64().with_context(|| format!("state has no pid: {state}"))?;
    check!(pid > 0, "state pid is {pid}");
    u32::try_from(pid).context("pid out of range")
}

fn cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline")).map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string()).unwrap_or_default()
}

fn create_state_fields(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let id = ctx.id();
    spec::set(&mut b.config, "/annotations", json!({"org.example.key": "value", "empty": ""}))?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    ctx.create(&b, &id, &[])?.ok("create")?;
    let st = ctx.state(&id)?;
    check!(st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()), "state lacks ociVersion: {st}");
    check_eq!(st["id"].as_str(), Some(id.as_str()), "state id");
    check_eq!(st["status"].as_str(), Some("created"), "state status after create");
    let bundle = b.dir.to_string_lossy().into_owned();
    check_eq!(st["bundle"].as_str(), Some(bundle.as_str()), "state bundle (absolute path)");
    check_eq!(st["annotations"], json!({"org.example.key": "value", "empty": ""}), "state annotations");
    let pid = pid_of(&st)?;
    check!(host::pid_alive(pid), "the created container's pid {pid} is not alive");
    check!(!cmdline(pid).starts_with("sleep"), "create already ran the user program (pid {pid}: {})", cmdline(pid));
    // runc's state output adds these; a drop-in prints them too.
    let rootfs = b.rootfs().to_string_lossy().into_owned();
    check_eq!(st["rootfs"].as_str(), Some(rootfs.as_str()), "state rootfs (runc prints the absolute path)");
    let created = st["created"].as_str().unwrap_or("");
    check!(
        created.len() >= 20 && created.as_bytes()[4] == b'-' && created.as_bytes()[10] == b'T',
        "state created {created:?} is not an RFC 3339 timestamp"
    );
    check!(st["owner"].is_string(), "state owner is not a string: {st}");
    Ok(Outcome::Pass)
}

fn start_kill_delete(ctx: &mut Ctx, signal: &str) -> Result<Outcome> {
    let id = create_shell(ctx, TRAP_TERM)?;
    let created_pid = pid_of(&ctx.state(&id)?)?;
    ctx.start(&id)?.ok("start")?;
    let st = ctx.state(&id)?;
    check_eq!(st["status"].as_str(), Some("running"), "status after start");
    check_eq!(pid_of(&st)?, created_pid, "pid after start");
    ctx.kill(&id, signal)?.ok(&format!("kill {signal}"))?;
    ctx.wait_status(&id, "stopped", WAIT)?;
    ctx.delete(&id)?.ok("delete")?;
    check!(ctx.call(&["state", &id])?.code != Some(0), "state still succeeds after delete");
    check!(!host::pid_alive(created_pid), "pid {created_pid} is alive after delete");
    check!(!ctx.state_dir_exists(&id), "the runtime root still holds {id} after delete");
    Ok(Outcome::Pass)
}

fn kill_all(ctx: &mut Ctx) -> Result<Outcome> {
    let id = create_shell(ctx, "sleep 100 & sleep 100 & wait")?;
    ctx.start(&id)?.ok("start")?;
    let procs = host::hierarchy("pids").or_else(|_| host::hierarchy(""))?.dir(&ctx.cgroup_path_for(&id)).join("cgroup.procs");
    let count = |path: &std::path::Path| fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0);
    let started = std::time::Instant::now();
    while count(&procs) < 3 && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    check!(count(&procs) >= 3, "expected the shell and two sleeps in {}", procs.display());
    ctx.call(&["kill", "--all", &id, "KILL"])?.ok("kill --all")?;
    ctx.wait_status(&id, "stopped", WAIT)?;
    let started = std::time::Instant::now();
    while count(&procs) > 0 && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    check_eq!(count(&procs), 0, "processes left in the container cgroup after kill --all");
    ctx.delete(&id)?.ok("delete")?;
    Ok(Outcome::Pass)
}

/// Signal 0 (kill(2)'s existence check), as runc takes it: success while the container has a
/// process, with no effect on it; an error once it is stopped.
fn kill_zero(ctx: &mut Ctx) -> Result<Outcome> {
    let id = create_shell(ctx, TRAP_TERM)?;
    ctx.kill(&id, "0")?.ok("kill 0 of a created container")?;
    check_eq!(ctx.state(&id)?["status"].as_str(), Some("created"), "status after kill 0 of a created container");
    ctx.start(&id)?.ok("start")?;
    ctx.kill(&id, "0")?.ok("kill 0 of a running container")?;
    ctx.call(&["kill", "--all", &id, "0"])?.ok("kill --all 0 of a running container")?;
    check_eq!(ctx.state(&id)?["status"].as_str(), Some("running"), "status after kill 0");
    ctx.kill(&id, "KILL")?.ok("kill KILL")?;
    ctx.wait_status(&id, "stopped", WAIT)?;
    check!(!ctx.kill(&id, "0")?.success(), "kill 0 of a stopped container succeeded");
    ctx.delete(&id)?.ok("delete")?;
    Ok(Outcome::Pass)
}

fn delete_force_running(ctx: &mut Ctx) -> Result<Outcome> {
    let id = create_shell(ctx, "sleep 100")?;
    ctx.start(&id)?.ok("start")?;
    let pid = pid_of(&ctx.state(&id)?)?;
    ctx.call(&["delete", "--force", &id])?.ok("delete --force")?;
    check!(!host::pid_alive(pid), "pid {pid} survived delete --force");
    check!(ctx.call(&["state", &id])?.code != Some(0), "state still succeeds after delete --force");
    Ok(Outcome::Pass)
}

fn delete_force_unknown(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.id();
    ctx.call(&["delete", "--force", &id])?.ok("delete --force of an id that never existed")?;
    Ok(Outcome::Pass)
}

/// runtime.md: deleting a container that is not stopped MUST error and have no effect.
fn delete_running_fails(ctx: &mut Ctx) -> Result<Outcome> {
    let id = create_shell(ctx, "sleep 100")?;
    ctx.start(&id)?.ok("start")?;
    let pid = pid_of(&ctx.state(&id)?)?;
    let out = ctx.delete(&id)?;
    check!(!out.success(), "delete of a running container succeeded");
    check_eq!(ctx.state(&id)?["status"].as_str(), Some("running"), "status after the refused delete");
    check!(host::pid_alive(pid), "the refused delete killed pid {pid}");
    Ok(Outcome::Pass)
}

/// runtime.md: start of a container that is not `created` MUST error and have no effect.
fn start_running_fails(ctx: &mut Ctx) -> Result<Outcome> {
    let id = create_shell(ctx, "sleep 100")?;
    ctx.start(&id)?.ok("start")?;
    let pid = pid_of(&ctx.state(&id)?)?;
    check!(!ctx.start(&id)?.success(), "a second start succeeded");
    let st = ctx.state(&id)?;
    check_eq!(st["status"].as_str(), Some("running"), "status after the refused start");
    check_eq!(pid_of(&st)?, pid, "pid after the refused start");
    Ok(Outcome::Pass)
}

/// runtime.md: kill of a container that is neither created nor running MUST error.
fn kill_stopped_fails(ctx: &mut Ctx) -> Result<Outcome> {
    let id = create_shell(ctx, "true")?;
    ctx.start(&id)?.ok("start")?;
    ctx.wait_status(&id, "stopped", WAIT)?;
    check!(!ctx.kill(&id, "KILL")?.success(), "kill of a stopped container succeeded");
    check_eq!(ctx.state(&id)?["status"].as_str(), Some("stopped"), "status after the refused kill");
    Ok(Outcome::Pass)
}

fn state_unknown_fails(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.id();
    let out = ctx.call(&["state", &id])?;
    check!(!out.success(), "state of an unknown id succeeded: {}", out.stdout);
    Ok(Outcome::Pass)
}

fn list_formats(ctx: &mut Ctx) -> Result<Outcome> {
    let id = create_shell(ctx, "sleep 100")?;
    let pid = pid_of(&ctx.state(&id)?)?;
    let table = ctx.call(&["list"])?.ok("list")?;
    let row = table.stdout.lines().find(|l| l.split_whitespace().next() == Some(id.as_str()));
    let row = row.with_context(|| format!("list shows no row for {id}: {:?}", table.stdout))?;
    check!(row.split_whitespace().any(|w| w == "created"), "list row lacks the status: {row:?}");
    check!(row.split_whitespace().any(|w| w == pid.to_string()), "list row lacks the pid {pid}: {row:?}");
    let quiet = ctx.call(&["list", "-q"])?.ok("list -q")?;
    check!(quiet.stdout.lines().any(|l| l.trim() == id), "list -q does not print {id}: {:?}", quiet.stdout);
    let json_out = ctx.call(&["list", "--format", "json"])?.ok("list --format json")?;
    let all: Vec<Value> = serde_json::from_str(&json_out.stdout).context("parsing list --format json")?;
    let entry = all.iter().find(|c| c["id"] == id.as_str()).with_context(|| format!("{id} missing from the json list"))?;
    check_eq!(entry["status"].as_str(), Some("created"), "json list status");
    check_eq!(entry["pid"].as_u64(), Some(u64::from(pid)), "json list pid");
    check!(entry["bundle"].is_string(), "json list entry lacks the bundle: {entry}");
    Ok(Outcome::Pass)
}

/// runtime.md: an id that is not unique MUST make create fail, and the first container stays.
fn duplicate_id(ctx: &mut Ctx) -> Result<Outcome> {
    let id = create_shell(ctx, "sleep 100")?;
    let before = ctx.state(&id)?;
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let out = ctx.create(&b, &id, &[])?;
    check!(!out.success(), "a second create with the same id succeeded");
    let after = ctx.state(&id)?;
    for field in ["status", "pid", "bundle", "created"] {
        check_eq!(after[field], before[field], "state {field} of the first container");
    }
    check!(host::pid_alive(pid_of(&after)?), "the first container's process died");
    Ok(Outcome::Pass)
}

fn pid_file(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    let path = ctx.path("container.pid");
    ctx.create(&b, &id, &["--pid-file", &path.to_string_lossy()])?.ok("create --pid-file")?;
    let written = fs::read_to_string(&path).context("reading the pid file")?;
    check_eq!(written.trim().parse::<u32>().ok(), Some(pid_of(&ctx.state(&id)?)?), "pid file content {written:?}");
    Ok(Outcome::Pass)
}

fn run_detach(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    let out = ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    check!(out.elapsed < Duration::from_secs(10), "run --detach took {:?}", out.elapsed);
    let st = ctx.state(&id)?;
    check_eq!(st["status"].as_str(), Some("running"), "status after run --detach");
    check!(host::pid_alive(pid_of(&st)?), "the detached container's process is not alive");
    Ok(Outcome::Pass)
}

/// runtime-linux.md: by default only stdin, stdout and stderr are open in the process.
fn only_stdio(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let f = ctx.checker(&mut b, &[])?;
    let fds: Vec<&String> = f.fds.as_ref().context("the checker could not list its fds")?.keys().collect();
    check_eq!(fds, vec!["0", "1", "2"], "open descriptors of the process");
    Ok(Outcome::Pass)
}

fn preserve_fds(ctx: &mut Ctx) -> Result<Outcome> {
    let path = ctx.path("fd3-file");
    fs::write(&path, "passed as fd 3\n").context("writing the fd 3 file")?;
    let file = fs::File::open(&path).context("opening the fd 3 file")?;
    let mut b = ctx.bundle()?;
    spec::checker_args(&mut b.config, &["--read", "/proc/self/fd/3"])?;
    b.write()?;
    let id = ctx.id();
    let dir = b.dir.to_string_lossy().into_owned();
    let call = Call { fd3: Some(file.into()), ..Call::default() };
    let out = ctx.call_with(&["run", "--bundle", &dir, "--preserve-fds", "1", &id], call)?.ok("run --preserve-fds 1")?;
    let f = facts::parse(&out.stdout)?;
    let fds: Vec<&String> = f.fds.as_ref().context("the checker could not list its fds")?.keys().collect();
    check_eq!(fds, vec!["0", "1", "2", "3"], "open descriptors with --preserve-fds 1");
    check_eq!(f.content("/proc/self/fd/3")?, "passed as fd 3\n", "content read through fd 3");
    Ok(Outcome::Pass)
}

fn console_socket(ctx: &mut Ctx) -> Result<Outcome> {
    let sock = ctx.path("console.sock");
    let console = ConsoleSocket::listen(&sock)?;
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/terminal", json!(true))?;
    spec::checker_args(&mut b.config, &["--stat", "/dev/console"])?;
    let id = ctx.id();
    ctx.create(&b, &id, &["--console-socket", &sock.to_string_lossy()])?.ok("create --console-socket")?;
    let reader = console.drain(WAIT)?;
    ctx.start(&id)?.ok("start")?;
    ctx.wait_status(&id, "stopped", WAIT)?;
    let output = reader.join().map_err(|_| anyhow::anyhow!("the pty reader panicked"))?;
    let f = facts::parse(&String::from_utf8_lossy(&output))?;
    check!(f.tty.stdin && f.tty.stdout && f.tty.stderr, "stdio are not terminals: {:?}", f.tty);
    // config-linux.md: with a terminal, /dev/console is the pty (pts devices have major 136).
    let console_dev = f.stat("/dev/console")?;
    check_eq!(console_dev.kind.as_deref(), Some("char"), "type of /dev/console");
    check_eq!(console_dev.major, Some(136), "major of /dev/console (a pts device)");
    Ok(Outcome::Pass)
}
