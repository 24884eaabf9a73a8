//! runc's behaviour that users of a drop-in runtime run into: a non-root process owns its
//! terminal and stdio pipes, reaches a cwd only root can search, a process.json may leave
//! out `user`, HOME comes from the container's /etc/passwd, a failed `exec` exits 255 (runc-exec(8) "EXIT STATUS"), and `exec --cgroup`
//! joins a sub-cgroup (runc-exec(8)). Each expectation was observed on runc 1.1.5, except
//! `--pidfd-socket` (runc 1.2): a pidfd of init (payload "standard") or of the exec'd
//! process ("setns") sent over the socket with SCM_RIGHTS.

use super::{Case, Outcome};
use crate::console::{ConsoleSocket, FdSocket};
use crate::ctx::Ctx;
use crate::host::{self, Layout};
use crate::spec;
use crate::{check, check_eq};
use anyhow::{Context, Result};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const NO_PIDFD_SOCKET: &str = "runc 1.1.5 predates --pidfd-socket (runc 1.2) and refuses the flag";

pub fn cases() -> Vec<Case> {
    let m = "compat";
    vec![
        Case::new(m, "terminal_belongs_to_the_process_user", terminal_owner),
        Case::new(m, "terminal_takes_console_size", console_size),
        Case::new(m, "stdio_pipes_belong_to_the_process_user", stdio_pipes),
        Case::new(m, "exec_process_file_without_user_runs_as_root", process_file_without_user),
        Case::new(m, "exec_process_file_without_capabilities_keeps_the_containers", process_file_without_caps),
        Case::new(m, "exec_cwd_only_root_can_search", exec_cwd_only_root),
        Case::new(m, "create_cwd_only_root_can_search", create_cwd_only_root),
        Case::new(m, "create_makes_a_missing_cwd", create_makes_cwd),
        Case::new(m, "failed_exec_exits_255", failed_exec_exits_255).refusal(),
        Case::new(m, "home_from_passwd_when_env_has_none", home_from_passwd),
        Case::new(m, "exec_cgroup_joins_a_sub_cgroup", exec_cgroup),
        Case::new(m, "exec_cgroup_missing_or_escaping_refused", exec_cgroup_refused).refusal(),
        Case::new(m, "exec_joins_init_cgroup_when_the_container_cgroup_is_busy", exec_cgroup_v2_fallback),
        Case::new(m, "pidfd_socket_create", pidfd_create).runc_xfail(NO_PIDFD_SOCKET),
        Case::new(m, "pidfd_socket_nobody_listening_refused", pidfd_nobody_listening)
            .refusal()
            .runc_xfail(NO_PIDFD_SOCKET)
            .runc13_xfail("runc 1.3.6 refuses the socket but leaves the container's state dir behind"),
        Case::new(m, "pidfd_socket_run_detached", pidfd_run).runc_xfail(NO_PIDFD_SOCKET),
        Case::new(m, "pidfd_socket_exec", pidfd_exec).runc_xfail(NO_PIDFD_SOCKET),
    ]
}

/// A running `sleep 100` container whose rootfs has /secret (0700, root's); returns its id.
fn running(ctx: &mut Ctx) -> Result<String> {
    let mut b = ctx.bundle()?;
    secret_dir(&b.rootfs())?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    Ok(id)
}

fn secret_dir(rootfs: &std::path::Path) -> Result<()> {
    let dir = rootfs.join("secret");
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Runs `script` on a terminal (through a console socket) with `field` of `/process` set to
/// `value`, and returns what the container wrote to its pty.
fn on_terminal(ctx: &mut Ctx, field: &str, value: serde_json::Value, script: &str) -> Result<String> {
    let sock = ctx.path("console.sock");
    let console = ConsoleSocket::listen(&sock)?;
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/process/terminal", json!(true))?;
    spec::set(&mut b.config, &format!("/process/{field}"), value)?;
    spec::shell(&mut b.config, script)?;
    let id = ctx.id();
    ctx.create(&b, &id, &["--console-socket", &sock.to_string_lossy()])?.ok("create --console-socket")?;
    let reader = console.drain(WAIT)?;
    ctx.start(&id)?.ok("start")?;
    ctx.wait_status(&id, "stopped", WAIT)?;
    let output = reader.join().map_err(|_| anyhow::anyhow!("the pty reader panicked"))?;
    Ok(String::from_utf8_lossy(&output).into_owned())
}

/// With `terminal` and a non-root user, the pty slave is the process's (uid), its group stays
/// the devpts `gid=` of the mount (5 in runc's spec), as runc leaves it.
fn terminal_owner(ctx: &mut Ctx) -> Result<Outcome> {
    let text = on_terminal(ctx, "user", json!({"uid": 1000, "gid": 1001}), "echo owner=$(stat -c %u:%g $(tty))")?;
    check!(text.contains("owner=1000:5"), "the pty of a uid 1000 process is not owned by 1000:5 (devpts gid): {text:?}");
    Ok(Outcome::Pass)
}

/// config.md `process.consoleSize`: the pty starts with that many rows and columns.
fn console_size(ctx: &mut Ctx) -> Result<Outcome> {
    let text = on_terminal(ctx, "consoleSize", json!({"height": 33, "width": 111}), "echo size=$(stty size)")?;
    check!(text.contains("size=33 111"), "the pty does not have consoleSize's 33 rows and 111 columns: {text:?}");
    Ok(Outcome::Pass)
}

/// A shim hands the runtime pipes; a non-root process must be able to reopen them through
/// /dev/stdout (runc gives stdio pipes to the process's uid).
fn stdio_pipes(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let rt = ctx.rt();
    let out = rt
        .command(&rt.path)
        .args(["exec", "--user", "1000:1001", &id, "sh", "-c", "echo via-dev-stdout > /dev/stdout"])
        .stdin(Stdio::null())
        .output()
        .context("running exec with piped stdio")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    check!(
        out.status.success() && stdout.contains("via-dev-stdout"),
        "a uid 1000 process could not write to its stdout pipe through /dev/stdout ({}): stdout {stdout:?}, stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Outcome::Pass)
}

/// runc takes uid 0 and gid 0 when a process.json has no `user`.
fn process_file_without_user(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let path = ctx.path("process.json");
    let process = json!({"cwd": "/", "args": ["sh", "-c", "echo $(id -u):$(id -g)"], "env": ["PATH=/bin"]});
    std::fs::write(&path, process.to_string())?;
    let out = ctx.call(&["exec", "--process", &path.to_string_lossy(), &id])?.ok("exec --process without user")?;
    check_eq!(out.stdout.trim(), "0:0", "ids of a process from a file without user");
    Ok(Outcome::Pass)
}

/// A process.json without `capabilities` gets the container's, as runc gives it, and never
/// the runtime's full set.
fn process_file_without_caps(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let pid = ctx.state(&id)?["pid"].as_i64().context("no pid in state")?;
    let caps_of = |status: &str| -> Vec<String> {
        status.lines().filter(|l| l.starts_with("Cap") && !l.starts_with("CapAmb")).map(str::to_string).collect()
    };
    let init = caps_of(&std::fs::read_to_string(format!("/proc/{pid}/status"))?);
    let path = ctx.path("process.json");
    let process = json!({"cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["cat", "/proc/self/status"], "env": ["PATH=/bin"]});
    std::fs::write(&path, process.to_string())?;
    let out = ctx.call(&["exec", "--process", &path.to_string_lossy(), &id])?.ok("exec --process without capabilities")?;
    check_eq!(
        caps_of(&out.stdout),
        init,
        "capability sets of a process from a file without capabilities (left) and of the container's init"
    );
    Ok(Outcome::Pass)
}

/// runc changes to the cwd before it drops root's rights, so a user who may not search a
/// directory still starts in it.
fn exec_cwd_only_root(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let out =
        ctx.call(&["exec", "--user", "1000:1001", "--cwd", "/secret", &id, "sh", "-c", "pwd"])?.ok("exec --user 1000 --cwd /secret")?;
    check_eq!(out.stdout.trim(), "/secret", "cwd of the exec'd process");
    Ok(Outcome::Pass)
}

/// The same for the container's own process.
fn create_cwd_only_root(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    secret_dir(&b.rootfs())?;
    spec::set(&mut b.config, "/process/user", json!({"uid": 1000, "gid": 1001}))?;
    spec::set(&mut b.config, "/process/cwd", json!("/secret"))?;
    spec::shell(&mut b.config, "pwd")?;
    let (_, out) = ctx.run(&b)?;
    let out = out.ok("run with user 1000 and cwd /secret")?;
    check_eq!(out.stdout.trim(), "/secret", "cwd of the container's process");
    Ok(Outcome::Pass)
}

/// runc makes a missing process.cwd (0755) when it creates the container, so a workingDir
/// the image lacks works; `exec` does not (see `failed_exec_exits_255`).
fn create_makes_cwd(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/root/readonly", json!(true))?;
    spec::set(&mut b.config, "/process/cwd", json!("/made/by/runtime"))?;
    spec::shell(&mut b.config, "echo $(pwd) $(stat -c %a:%u:%F /made/by/runtime)")?;
    let (_, out) = ctx.run(&b)?;
    let out = out.ok("run with a cwd missing from a read-only rootfs")?;
    check_eq!(out.stdout.trim(), "/made/by/runtime 755:0:directory", "cwd, and the mode, owner and type of the directory made for it");
    Ok(Outcome::Pass)
}

/// runc exits 255 when `exec` itself fails, whatever the reason, so a caller can tell it from
/// the process's own exit status.
fn failed_exec_exits_255(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["true"])?;
    let stopped = ctx.id();
    ctx.run_as(&b, &stopped, &["--keep"])?.ok("run --keep")?;
    let tries: [(&str, Vec<&str>); 5] = [
        ("a missing binary", vec!["exec", &id, "/no/such/binary"]),
        ("a missing cwd", vec!["exec", "--cwd", "/no/such/dir", &id, "true"]),
        ("a user that is not a number", vec!["exec", "--user", "nobody-here", &id, "true"]),
        ("a stopped container", vec!["exec", &stopped, "true"]),
        ("a container that does not exist", vec!["exec", "no-such-container-here", "true"]),
    ];
    for (what, args) in tries {
        let out = ctx.call(&args)?;
        check_eq!(out.code, Some(255), "exit status of exec with {what} ({})", out.describe());
    }
    Ok(Outcome::Pass)
}

/// A running container in its own cgroup, with a sub-cgroup `sub` made in each of its
/// hierarchies (cpuset's given its parent's cpus and mems); returns its id and the cgroup
/// paths of its init, keyed by hierarchy.
fn running_with_sub_cgroup(ctx: &mut Ctx) -> Result<(String, std::collections::BTreeMap<String, String>)> {
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.place_in_cgroup(&mut b, &id)?;
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    let pid = ctx.state(&id)?["pid"].as_i64().context("no pid in state")?;
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let paths = host::cgroup_paths(&text);
    for h in host::hierarchies()? {
        let Some(path) = paths.get(&h.key()) else { continue };
        let dir = h.dir(path);
        if !dir.is_dir() || dir == h.mount_point {
            continue;
        }
        let sub = dir.join("sub");
        std::fs::create_dir_all(&sub).with_context(|| format!("making {}", sub.display()))?;
        if h.controllers.iter().any(|c| c == "cpuset") {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                std::fs::write(sub.join(f), std::fs::read_to_string(dir.join(f))?.trim())?;
            }
        }
    }
    Ok((id, paths))
}

/// The lines of /proc/self/cgroup an exec'd process printed, keyed by hierarchy.
fn exec_cgroups(ctx: &Ctx, flags: &[&str], id: &str) -> Result<std::collections::BTreeMap<String, String>> {
    let mut args = vec!["exec"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[id, "cat", "/proc/self/cgroup"]);
    let out = ctx.call(&args)?.ok(&format!("exec {}", flags.join(" ")))?;
    Ok(host::cgroup_paths(&out.stdout))
}

/// `exec --cgroup sub` puts the process in the container's sub-cgroup in every hierarchy;
/// on cgroup v1, `--cgroup memory:sub` in the memory hierarchy only.
fn exec_cgroup(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, init) = running_with_sub_cgroup(ctx)?;
    let all = exec_cgroups(ctx, &["--cgroup", "sub"], &id)?;
    for (key, path) in &init {
        let want = format!("{}/sub", path.trim_end_matches('/'));
        check_eq!(all.get(key).cloned().unwrap_or_default(), want, "cgroup {key:?} of a process exec'd with --cgroup sub");
    }
    if host::layout()? == Layout::V1 {
        let memory = exec_cgroups(ctx, &["--cgroup", "memory:sub"], &id)?;
        for (key, path) in &init {
            let want = if key == "memory" { format!("{}/sub", path.trim_end_matches('/')) } else { path.clone() };
            check_eq!(memory.get(key).cloned().unwrap_or_default(), want, "cgroup {key:?} of a process exec'd with --cgroup memory:sub");
        }
    }
    Ok(Outcome::Pass)
}

/// A sub-cgroup that does not exist, or a path out of the container's cgroup, is refused
/// before the process starts, with an error that says so.
fn exec_cgroup_refused(ctx: &mut Ctx) -> Result<Outcome> {
    let (id, _) = running_with_sub_cgroup(ctx)?;
    let marker = ctx.path("ran");
    let touch = format!("touch /proc/1/root{}", marker.display());
    for (flag, says) in [("no-such-sub", "no-such-sub"), ("../..", "..")] {
        let out = ctx.call(&["exec", "--cgroup", flag, &id, "sh", "-c", &touch])?;
        check_eq!(out.code, Some(255), "exit status of exec --cgroup {flag} ({})", out.describe());
        check!(out.messages().contains(says), "the error for --cgroup {flag} does not name it: {:?}", out.messages());
    }
    check!(!marker.exists(), "the process ran although --cgroup was refused");
    Ok(Outcome::Pass)
}

/// The pid a pidfd refers to, from the `Pid:` line of its fdinfo.
fn pidfd_pid(fd: &std::os::fd::OwnedFd) -> Result<i64> {
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("the fd sent is not a pidfd: {info:?}"))
}

/// Whether a pidfd becomes readable (its process exited) within `limit`.
fn pidfd_exits_within(fd: &std::os::fd::OwnedFd, limit: Duration) -> Result<bool> {
    use std::os::fd::AsFd;
    let mut fds = [nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN)];
    let ms = u16::try_from(limit.as_millis()).unwrap_or(u16::MAX);
    Ok(nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms))? > 0)
}

/// The pidfd sent names `pid`, with `payload`, and turns readable only once `stop` ended it.
fn check_pidfd(fd: &std::os::fd::OwnedFd, payload: &[u8], want_payload: &str, pid: i64, stop: impl FnOnce() -> Result<()>) -> Result<()> {
    check_eq!(String::from_utf8_lossy(payload).as_ref(), want_payload, "payload sent with the pidfd");
    check_eq!(pidfd_pid(fd)?, pid, "the process the pidfd refers to");
    check!(!pidfd_exits_within(fd, Duration::ZERO)?, "the pidfd is readable while its process runs");
    stop()?;
    check!(pidfd_exits_within(fd, WAIT)?, "the pidfd did not become readable when its process exited");
    Ok(())
}

fn pidfd_create(ctx: &mut Ctx) -> Result<Outcome> {
    let sock = ctx.path("pidfd.sock");
    let listener = FdSocket::listen(&sock)?;
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.create(&b, &id, &["--pidfd-socket", &sock.to_string_lossy()])?.ok("create --pidfd-socket")?;
    let (fd, payload) = listener.recv(WAIT)?;
    let pid = ctx.state(&id)?["pid"].as_i64().context("no pid in state")?;
    check_pidfd(&fd, &payload, "standard", pid, || ctx.kill(&id, "KILL")?.ok("kill").map(|_| ()))?;
    Ok(Outcome::Pass)
}

/// Nobody listening on the socket: create fails naming it, before anything is made.
fn pidfd_nobody_listening(ctx: &mut Ctx) -> Result<Outcome> {
    let sock = ctx.path("nobody.sock");
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    let out = ctx.create(&b, &id, &["--pidfd-socket", &sock.to_string_lossy()])?;
    check!(!out.success(), "create with a pidfd socket nobody listens on succeeded");
    check!(out.messages().contains(&*sock.to_string_lossy()), "the error does not name the pidfd socket: {:?}", out.messages());
    check!(!ctx.state_dir_exists(&id), "a refused create left its state dir");
    Ok(Outcome::Pass)
}

fn pidfd_run(ctx: &mut Ctx) -> Result<Outcome> {
    let sock = ctx.path("pidfd.sock");
    let listener = FdSocket::listen(&sock)?;
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.run_as(&b, &id, &["--detach", "--pidfd-socket", &sock.to_string_lossy()])?.ok("run --detach --pidfd-socket")?;
    let (fd, payload) = listener.recv(WAIT)?;
    let pid = ctx.state(&id)?["pid"].as_i64().context("no pid in state")?;
    check_pidfd(&fd, &payload, "standard", pid, || ctx.kill(&id, "KILL")?.ok("kill").map(|_| ()))?;
    Ok(Outcome::Pass)
}

fn pidfd_exec(ctx: &mut Ctx) -> Result<Outcome> {
    let id = running(ctx)?;
    let sock = ctx.path("pidfd.sock");
    let listener = FdSocket::listen(&sock)?;
    let pid_file = ctx.path("exec.pid");
    let (s, pf) = (sock.to_string_lossy().into_owned(), pid_file.to_string_lossy().into_owned());
    ctx.call(&["exec", "--detach", "--pid-file", &pf, "--pidfd-socket", &s, &id, "sleep", "100"])?.ok("exec --pidfd-socket")?;
    let (fd, payload) = listener.recv(WAIT)?;
    let pid: i64 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    let kill = || -> Result<()> { Ok(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL)?) };
    check_pidfd(&fd, &payload, "setns", pid, kill)?;
    Ok(Outcome::Pass)
}

/// runc sets HOME, when the process's env has none, to the uid's home in the container's
/// /etc/passwd, or "/" for a uid without an entry: for init and for exec alike.
fn home_from_passwd(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let etc = b.rootfs().join("etc");
    std::fs::create_dir_all(&etc)?;
    std::fs::write(etc.join("passwd"), "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000:bob:/home/bob:/bin/sh\n")?;
    spec::set(&mut b.config, "/process/user", json!({"uid": 1000, "gid": 1000}))?;
    spec::shell(&mut b.config, "echo home=$HOME")?;
    let (_, out) = ctx.run(&b)?;
    check_eq!(out.ok("run as uid 1000 without HOME")?.stdout.trim(), "home=/home/bob", "HOME of the container's process");
    spec::set(&mut b.config, "/process/user", json!({"uid": 0, "gid": 0}))?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    for (user, want) in [("0", "home=/root"), ("1000", "home=/home/bob"), ("2000", "home=/")] {
        let out = ctx.call(&["exec", "--user", user, &id, "sh", "-c", "echo home=$HOME"])?.ok("exec")?;
        check_eq!(out.stdout.trim(), want, "HOME of a process exec'd as uid {user}");
    }
    Ok(Outcome::Pass)
}

/// runc-exec(8): on cgroup v2, when the container's cgroup may not hold processes (its init
/// moved to a child and enabled a controller for its children, as systemd in a container
/// does), exec joins the cgroup of the container's init; `--cgroup /` turns that off.
fn exec_cgroup_v2_fallback(ctx: &mut Ctx) -> Result<Outcome> {
    // youki falls back on the cgroup2 hierarchy of a hybrid host too; runc (1.1.5, 1.3.6)
    // only on a pure cgroup v2 host, and fails with EBUSY here.
    if ctx.rt().peer.is_some() && host::layout()? != Layout::Unified {
        return Ok(Outcome::Skip(
            "runc falls back to init's cgroup only on a pure cgroup v2 host (1.1.5 and 1.3.6 fail with EBUSY here)".into(),
        ));
    }
    let mut b = ctx.bundle()?;
    spec::args(&mut b.config, &["sleep", "100"])?;
    let id = ctx.id();
    ctx.place_in_cgroup(&mut b, &id)?;
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    let pid = ctx.state(&id)?["pid"].as_i64().context("no pid in state")?;
    let v2 = host::hierarchy("")?;
    let own = host::cgroup_paths(&std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?)
        .get("")
        .cloned()
        .context("init has no cgroup v2 line")?;
    let dir = v2.dir(&own);
    let scope = dir.join("init.scope");
    std::fs::create_dir_all(&scope)?;
    std::fs::write(scope.join("cgroup.procs"), pid.to_string()).context("moving init to init.scope")?;
    // A controller the host enables at the root, enabled down to the container's children.
    let at_root = std::fs::read_to_string(v2.mount_point.join("cgroup.subtree_control")).unwrap_or_default();
    let Some(controller) = at_root.split_whitespace().next() else {
        return Ok(Outcome::Skip(format!("no controller is enabled at the root of {}", v2.mount_point.display())));
    };
    let mut chain: Vec<&std::path::Path> = dir.ancestors().take_while(|a| a.starts_with(&v2.mount_point) && *a != v2.mount_point).collect();
    chain.reverse();
    for a in chain {
        if let Err(e) = std::fs::write(a.join("cgroup.subtree_control"), format!("+{controller}")) {
            return Ok(Outcome::Skip(format!("cannot enable {controller} for the children of {}: {e}", a.display())));
        }
    }
    let joined = exec_cgroups(ctx, &[], &id)?;
    check_eq!(
        joined.get("").cloned().unwrap_or_default(),
        format!("{}/init.scope", own.trim_end_matches('/')),
        "cgroup v2 of a process exec'd into a busy container cgroup"
    );
    let out = ctx.call(&["exec", "--cgroup", "/", &id, "true"])?;
    check_eq!(out.code, Some(255), "exit status of exec --cgroup / into the busy container cgroup ({})", out.describe());
    Ok(Outcome::Pass)
}
