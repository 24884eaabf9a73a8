//! `exec` (runc-exec(8)): a new process joins the running container's namespaces and cgroup,
//! takes the flags' user, env and cwd, and passes its exit status back.

use super::{Case, Outcome};
use crate::console::ConsoleSocket;
use crate::ctx::Ctx;
use crate::runtime::Output;
use crate::spec;
use crate::{check, check_eq};
use anyhow::Result;

pub fn cases() -> Vec<Case> {
    let m = "exec";
    vec![
        Case::new(m, "joins_namespaces_and_cgroup", joins),
        Case::new(m, "exit_status_passes_back", exit_status),
        Case::new(m, "user_env_cwd_flags", flags),
        Case::new(m, "process_file", process_file),
        Case::new(m, "detach_writes_pid_file", detach),
        Case::new(m, "stopped_container_refused", stopped).refusal(),
        Case::new(m, "paused_refused_unless_ignore_paused", paused),
        Case::new(m, "tty_through_console_socket", tty),
    ]
}

/// A running `sleep 100` container; returns its id.
fn running(ctx: &mut Ctx) -> Result<String> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    Ok(id)
}

fn joins(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let script = "for n in pid net ipc uts mnt; do a=$(readlink /proc/self/ns/$n); b=$(readlink /proc/1/ns/$n); [ \"$a\" = \"$b\" ] && echo same-$n; done; cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup";
    let out = ctx.call(&["exec", &id, "sh", "-c", script])?.ok("exec")?;
    for n in ["pid", "net", "ipc", "uts", "mnt"] {
        check!(out.stdout.contains(&format!("same-{n}")), "exec'd process is not in the container's {n} namespace: {:?}", out.stdout);
    }
    // Every hierarchy, v1 or v2, whatever the driver: the same cgroups as the container's init.
    let cgroups =
        |text: &str| -> Vec<String> { text.lines().filter(|l| l.contains(':') && !l.starts_with("same-")).map(str::to_string).collect() };
    let (own, init) = out.stdout.split_once("---").unwrap_or((&out.stdout, ""));
    check!(!cgroups(own).is_empty(), "no cgroup lines from the exec'd process: {:?}", out.stdout);
    check_eq!(cgroups(own), cgroups(init), "cgroups of the exec'd process (left) and of the container's init");
    Ok(Outcome::Pass)
}

fn exit_status(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let out = ctx.call(&["exec", &id, "sh", "-c", "exit 42"])?;
    check_eq!(out.code, Some(42), "exit status of exec ({})", out.describe());
    Ok(Outcome::Pass)
}

fn flags(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let out = ctx
        .call(&["exec", "--user", "1000:1001", "--env", "FOO=bar", "--cwd", "/bin", &id, "sh", "-c", "id -u; id -g; echo $FOO; pwd"])?
        .ok("exec with flags")?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    check_eq!(lines, vec!["1000", "1001", "bar", "/bin"], "uid, gid, env and cwd of the exec'd process");
    Ok(Outcome::Pass)
}

fn process_file(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let path = ctx.path("process.json");
    let process = serde_json::json!({
        "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
        "args": ["sh", "-c", "echo from-file-$X"], "env": ["PATH=/bin", "X=1"]
    });
    std::fs::write(&path, process.to_string())?;
    let p = path.to_string_lossy().into_owned();
    let out = ctx.call(&["exec", "--process", &p, &id])?.ok("exec --process")?;
    check_eq!(out.stdout.trim(), "from-file-1", "output of the process from the file");
    Ok(Outcome::Pass)
}

fn detach(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let pid_file = ctx.path("exec.pid");
    let pf = pid_file.to_string_lossy().into_owned();
    ctx.call(&["exec", "--detach", "--pid-file", &pf, &id, "sleep", "50"])?.ok("exec --detach")?;
    let pid: i32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    // The runtime may return just before the process's own execve (runc does): give it a
    // moment to become `sleep`.
    let mut comm = String::new();
    for _ in 0..100 {
        comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string();
        if comm == "sleep" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    check_eq!(comm.as_str(), "sleep", "the pid file names the exec'd process");
    Ok(Outcome::Pass)
}

fn stopped(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["true"])?;
    let id = ctx.id();
    ctx.run_as(&b, &id, &["--keep"])?.ok("run --keep")?;
    let out = ctx.call(&["exec", &id, "true"])?;
    check!(!out.success(), "exec into a stopped container succeeded");
    check!(
        out.messages().to_lowercase().contains("stopped") || out.messages().contains("not running"),
        "the error does not say the container is stopped: {:?}",
        out.messages()
    );
    Ok(Outcome::Pass)
}

/// runc's rule: exec into a paused container is refused with a message that says so, and
/// `--ignore-paused` lets it in; its process joins the frozen cgroup and runs once the
/// container is resumed, and its exit code comes back as usual.
fn paused(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    ctx.call(&["pause", &id])?.ok("pause")?;
    let out = ctx.call(&["exec", &id, "true"])?;
    check!(!out.success(), "exec into a paused container succeeded");
    check!(out.messages().to_lowercase().contains("paused"), "the error does not say the container is paused: {:?}", out.messages());
    let ctx_ref: &Ctx = ctx;
    let (early, exec) = std::thread::scope(|s| -> Result<(bool, Output)> {
        let t = s.spawn(|| ctx_ref.call(&["exec", "--ignore-paused", &id, "sh", "-c", "exit 5"]));
        std::thread::sleep(std::time::Duration::from_millis(800));
        let early = t.is_finished();
        let resumed = ctx_ref.call(&["resume", &id]).and_then(|o| o.ok("resume"));
        let exec = t.join().map_err(|_| anyhow::anyhow!("the exec thread panicked"))??;
        resumed?;
        Ok((early, exec))
    })?;
    check!(!early, "exec --ignore-paused ended while the container was still paused ({})", exec.describe());
    check_eq!(exec.code, Some(5), "exit status of exec --ignore-paused after resume ({})", exec.describe());
    Ok(Outcome::Pass)
}

/// `exec --detach --tty --console-socket`, as containerd's shim calls it (runc refuses a
/// console socket without --detach): the pty master reaches the socket, the process's stdio
/// is that pty's slave (a /dev/pts device), and what it writes arrives on the master.
fn tty(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let sock = ctx.path("exec-console.sock");
    let console = ConsoleSocket::listen(&sock)?;
    let script = "t=$(tty); case $t in /dev/pts/*) echo on-a-pty;; *) echo not-a-pty:$t;; esac";
    ctx.call(&["exec", "--detach", "--tty", "--console-socket", &sock.to_string_lossy(), &id, "sh", "-c", script])?
        .ok("exec --detach --tty --console-socket")?;
    let reader = console.drain(std::time::Duration::from_secs(10))?;
    let output = reader.join().map_err(|_| anyhow::anyhow!("the pty reader panicked"))?;
    let text = String::from_utf8_lossy(&output);
    check!(text.contains("on-a-pty"), "the exec'd process did not run on the pty sent to the console socket: {text:?}");
    Ok(Outcome::Pass)
}
