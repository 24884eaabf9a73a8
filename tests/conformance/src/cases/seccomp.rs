//! linux.seccomp: errno and kill actions, errnoRet, argument conditions, and SCMP_ACT_NOTIFY
//! with the fd and the container process state sent to listenerPath (config-linux.md).

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::spec;
use crate::{check, check_eq};
use anyhow::{Context, Result};
use serde_json::{json, Value};

/// Why runc 1.3.6 fails the old-allowlist cases (seen here: "reopen exec fifo: get safe
/// /proc/thread-self/fd handle: ... get root mount id").
const RUNC13_PROCFS: &str =
    "runc 1.3.6 fails under this allowlist: its safe /proc/thread-self checks (\"get root mount id\") need a call the profile denies";

pub fn cases() -> Vec<Case> {
    let m = "seccomp";
    vec![
        Case::new(m, "errno_action", errno_action),
        Case::new(m, "errno_ret", errno_ret),
        Case::new(m, "kill_process", kill_process),
        Case::new(m, "argument_condition", argument_condition),
        Case::new(m, "notify_sends_fd_and_state", notify),
        Case::new(m, "notify_without_no_new_privileges", notify_no_nnp),
        Case::new(m, "notify_listener_answers", |c| notify_answered(c, true)),
        Case::new(m, "notify_listener_answers_without_no_new_privileges", |c| notify_answered(c, false)),
        Case::new(m, "notify_reaches_the_listener_from_exec", notify_from_exec),
        Case::new(m, "notify_wait_killable_recv_flag", notify_wait_killable)
            .runc_xfail("runc 1.1.5 predates SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (runtime-spec 1.2) and refuses the config")
            .runc13_xfail("runc 1.3.6 takes the flag but sends the listener no notify fd"),
        Case::new(m, "docker_2017_allowlist_no_new_privileges", |c| docker_2017(c, true)).runc13_xfail(RUNC13_PROCFS),
        Case::new(m, "docker_2017_allowlist_with_privileges", |c| docker_2017(c, false)).runc13_xfail(RUNC13_PROCFS),
        Case::new(m, "allowlist_kill_process_default", allowlist_kill_default).runc13_xfail(RUNC13_PROCFS),
        Case::new(m, "allowlist_default_errno_ret", allowlist_default_errno).runc13_xfail(RUNC13_PROCFS),
        Case::new(m, "allowlist_minus_any_call_runc_does_not_need", minus_one_syscall).slow().runc13_xfail(RUNC13_PROCFS),
    ]
}

fn filter(default: &str, rules: Value) -> Value {
    json!({"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": rules})
}

/// Runs `script` under `seccomp` and returns (exit code, stdout).
fn run_script(ctx: &mut Ctx, seccomp: Value, script: &str) -> Result<(Option<i32>, String)> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/linux/seccomp", seccomp)?;
    spec::shell(&mut b.config, script)?;
    let (_, out) = ctx.run(&b)?;
    Ok((out.code, out.stdout))
}

fn errno_action(ctx: &mut Ctx) -> Result<Outcome> {
    let rules = json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]);
    let (code, out) =
        run_script(ctx, filter("SCMP_ACT_ALLOW", rules), "mkdir /dev/shm/x 2>&1; echo rc=$?; grep '^Seccomp:' /proc/self/status")?;
    check_eq!(code, Some(0), "exit of the script ({out})");
    check!(out.contains("Operation not permitted") && out.contains("rc=1"), "mkdir was not refused with EPERM: {out:?}");
    check!(out.contains("Seccomp:\t2"), "the process is not in filter mode: {out:?}");
    Ok(Outcome::Pass)
}

fn errno_ret(ctx: &mut Ctx) -> Result<Outcome> {
    let rules = json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]);
    let (_, out) = run_script(ctx, filter("SCMP_ACT_ALLOW", rules), "mkdir /dev/shm/x 2>&1; echo rc=$?")?;
    check!(out.contains("Function not implemented"), "errnoRet 38 (ENOSYS) not returned: {out:?}");
    Ok(Outcome::Pass)
}

fn kill_process(ctx: &mut Ctx) -> Result<Outcome> {
    let rules = json!([{"names": ["sync", "syncfs"], "action": "SCMP_ACT_KILL_PROCESS"}]);
    let (_, out) = run_script(ctx, filter("SCMP_ACT_ALLOW", rules), "( sync ); echo rc=$?")?;
    // The subshell running sync dies of SIGSYS (31): the shell reports 128 + 31.
    check!(out.contains("rc=159"), "sync was not killed by SIGSYS: {out:?}");
    Ok(Outcome::Pass)
}

fn argument_condition(ctx: &mut Ctx) -> Result<Outcome> {
    // umask(0o077) is refused, any other umask is allowed.
    let rules = json!([{"names": ["umask"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 63, "op": "SCMP_CMP_EQ"}]}]);
    let (_, out) = run_script(ctx, filter("SCMP_ACT_ALLOW", rules), "umask 022; umask; umask 077; umask")?;
    let lines: Vec<&str> = out.lines().collect();
    check_eq!(lines.first().copied(), Some("0022"), "umask 022 must pass ({out:?})");
    check!(lines.get(1).is_some_and(|l| *l != "0077"), "umask 077 must be refused by the argument rule: {out:?}");
    Ok(Outcome::Pass)
}

/// A listener that takes the notify fd and the state, then closes the fd, so the notified
/// syscall fails with ENOSYS in the container.
fn notify(ctx: &mut Ctx) -> Result<Outcome> {
    notify_with(ctx, true)
}

/// The same without no_new_privs: the filter is then loaded while the process still has
/// CAP_SYS_ADMIN, before the user switch.
fn notify_no_nnp(ctx: &mut Ctx) -> Result<Outcome> {
    notify_with(ctx, false)
}

fn notify_with(ctx: &mut Ctx, no_new_privileges: bool) -> Result<Outcome> {
    let sock = ctx.path("seccomp.sock");
    let listener = UnixListener::bind(&sock).with_context(|| format!("bind {sock:?}"))?;
    let agent = std::thread::spawn(move || -> Result<(usize, Value)> {
        let (conn, _) = listener.accept()?;
        conn.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut buf = vec![0u8; 65536];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
        let msg = nix::sys::socket::recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), nix::sys::socket::MsgFlags::empty())?;
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(list) = c {
                // SAFETY: the kernel installed these fds for us.
                fds.extend(list.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        let n = msg.bytes;
        let state: Value = serde_json::from_slice(&buf[..n]).context("listener state is not JSON")?;
        Ok((fds.len(), state))
    });
    let mut b = ctx.bundle()?;
    let seccomp = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock, "listenerMetadata": "conformance-meta",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]});
    spec::set(&mut b.config, "/linux/seccomp", seccomp)?;
    spec::set(&mut b.config, "/process/noNewPrivileges", json!(no_new_privileges))?;
    spec::shell(&mut b.config, "mkdir /dev/shm/x 2>&1; echo rc=$?")?;
    let (id, out) = ctx.run(&b)?;
    let (nfds, state) = agent.join().map_err(|_| anyhow::anyhow!("listener thread panicked"))??;
    check_eq!(out.code, Some(0), "exit of the script ({})", out.describe());
    check_eq!(nfds, 1, "fds sent to the listener");
    check_eq!(state["fds"], json!(["seccompFd"]), "state.fds");
    check_eq!(state["metadata"], json!("conformance-meta"), "state.metadata");
    check_eq!(state["state"]["id"], json!(id), "state.state.id");
    check!(state["pid"].as_i64().is_some_and(|p| p > 0), "state.pid missing: {state}");
    check!(out.stdout.contains("rc=1"), "the notified mkdir should fail once the listener closes its fd: {:?}", out.stdout);
    Ok(Outcome::Pass)
}

/// An allowlist in the style of Docker's 2017 default profile: EPERM for everything it does
/// not name, and nothing newer than 2017 (no statx, rseq, clone3, close_range, openat2,
/// faccessat2, execveat, pidfd_*, the new mount API).
fn docker_2017_profile() -> Result<Value> {
    Ok(serde_json::from_str(include_str!("../fixtures/seccomp-docker-2017.json"))?)
}

/// The old allowlist with and without no_new_privs (without it the runtime loads the filter
/// before it switches user and drops capabilities, and runs the startContainer hooks under
/// it): the container runs, calls outside the list fail with EPERM, and `exec` works too.
fn docker_2017(ctx: &mut Ctx, no_new_privileges: bool) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/linux/seccomp", docker_2017_profile()?)?;
    spec::set(&mut b.config, "/process/noNewPrivileges", json!(no_new_privileges))?;
    spec::add_hook(&mut b.config, "startContainer", spec::hook("/bin/true", &["true"], &[], Some(5)))?;
    spec::shell(&mut b.config, "echo started; mount -t tmpfs none /mnt 2>&1; echo mount=$?; grep '^Seccomp:' /proc/self/status; sleep 30")?;
    let id = ctx.id();
    ctx.create(&b, &id, &[])?.ok("create under the 2017 allowlist")?;
    ctx.start(&id)?.ok("start")?;
    let out = ctx.call(&["exec", &id, "sh", "-c", "echo exec-ok; grep '^Seccomp:' /proc/self/status"])?.ok("exec")?;
    check!(out.stdout.contains("exec-ok") && out.stdout.contains("Seccomp:\t2"), "exec output: {:?}", out.stdout);
    ctx.kill(&id, "KILL")?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(10))?;
    ctx.delete(&id)?.ok("delete")?;
    Ok(Outcome::Pass)
}

/// A kill-process default: anything outside the allowlist kills the process, so the runtime
/// must not make such a call after the load.
fn allowlist_kill_default(ctx: &mut Ctx) -> Result<Outcome> {
    let mut profile = docker_2017_profile()?;
    profile["defaultAction"] = json!("SCMP_ACT_KILL_PROCESS");
    for no_new_privileges in [true, false] {
        let mut b = ctx.bundle()?;
        spec::set(&mut b.config, "/linux/seccomp", profile.clone())?;
        spec::set(&mut b.config, "/process/noNewPrivileges", json!(no_new_privileges))?;
        spec::shell(&mut b.config, "echo alive; (mount -t tmpfs none /mnt 2>/dev/null); echo rc=$?")?;
        let (_, out) = ctx.run(&b)?;
        // mount is not listed: the subshell dies of SIGSYS (31), 128 + 31.
        check!(
            out.code == Some(0) && out.stdout.contains("alive") && out.stdout.contains("rc=159"),
            "noNewPrivileges {no_new_privileges}: {} stdout {:?}",
            out.describe(),
            out.stdout
        );
    }
    Ok(Outcome::Pass)
}

/// An errno default with defaultErrnoRet: calls outside the list get that errno (EACCES here).
fn allowlist_default_errno(ctx: &mut Ctx) -> Result<Outcome> {
    let mut profile = docker_2017_profile()?;
    profile["defaultErrnoRet"] = json!(13);
    for no_new_privileges in [true, false] {
        let mut b = ctx.bundle()?;
        spec::set(&mut b.config, "/linux/seccomp", profile.clone())?;
        spec::set(&mut b.config, "/process/noNewPrivileges", json!(no_new_privileges))?;
        spec::shell(&mut b.config, "mount -t tmpfs none /mnt 2>&1; echo rc=$?")?;
        let (_, out) = ctx.run(&b)?;
        check!(
            out.code == Some(0) && out.stdout.contains("Permission denied") && out.stdout.contains("rc=255"),
            "noNewPrivileges {no_new_privileges}: {} stdout {:?}",
            out.describe(),
            out.stdout
        );
    }
    Ok(Outcome::Pass)
}

/// Receives the notify fd on `listener`, then answers every notification with EXDEV until
/// the container's processes are gone. Returns how many it answered.
fn answering_agent(listener: UnixListener) -> Result<usize> {
    let (conn, _) = listener.accept()?;
    answer(conn)
}

fn answer(conn: std::os::unix::net::UnixStream) -> Result<usize> {
    conn.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut buf = vec![0u8; 65536];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = nix::sys::socket::recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), nix::sys::socket::MsgFlags::empty())?;
    let mut notify = None;
    for c in msg.cmsgs()? {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(list) = c {
            // SAFETY: the kernel installed these fds for us.
            notify = list.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }).next();
        }
    }
    let notify = notify.context("no fd came with the listener message")?;
    let mut answered = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&notify), nix::poll::PollFlags::POLLIN)];
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16))?;
        let revents = fds[0].revents().unwrap_or(nix::poll::PollFlags::empty());
        if revents.contains(nix::poll::PollFlags::POLLHUP) {
            break; // no process uses the filter any more
        }
        if !revents.contains(nix::poll::PollFlags::POLLIN) {
            continue;
        }
        // SAFETY: zeroed plain-data structs the kernel fills in or reads.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: the ioctl writes one seccomp_notif into `req`.
        if unsafe { libc::ioctl(notify.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } < 0 {
            continue; // the caller died meanwhile
        }
        // SAFETY: as above.
        let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
        resp.id = req.id;
        resp.error = -libc::EXDEV;
        // SAFETY: the ioctl reads one seccomp_notif_resp.
        if unsafe { libc::ioctl(notify.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) } == 0 {
            answered += 1;
        }
    }
    Ok(answered)
}

/// A listener that keeps the fd and answers: the notified mkdir fails with the listener's
/// errno (EXDEV), with and without no_new_privs, and never with ENOSYS.
fn notify_answered(ctx: &mut Ctx, no_new_privileges: bool) -> Result<Outcome> {
    notify_answered_with(ctx, no_new_privileges, json!([]))
}

/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (config-linux.md, Linux 5.19): taken, and the
/// listener still answers.
fn notify_wait_killable(ctx: &mut Ctx) -> Result<Outcome> {
    notify_answered_with(ctx, true, json!(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]))
}

fn notify_answered_with(ctx: &mut Ctx, no_new_privileges: bool, flags: Value) -> Result<Outcome> {
    let sock = ctx.path("seccomp.sock");
    let listener = UnixListener::bind(&sock).with_context(|| format!("bind {sock:?}"))?;
    let agent = std::thread::spawn(move || answering_agent(listener));
    let mut b = ctx.bundle()?;
    let seccomp = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock, "flags": flags,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]});
    spec::set(&mut b.config, "/linux/seccomp", seccomp)?;
    spec::set(&mut b.config, "/process/noNewPrivileges", json!(no_new_privileges))?;
    spec::shell(&mut b.config, "mkdir /dev/shm/x 2>&1; echo rc=$?")?;
    let (_, out) = ctx.run(&b)?;
    if !out.success() {
        // The listener never gets a connection: stop waiting for one.
        let _ = std::os::unix::net::UnixStream::connect(&sock);
    }
    let answered = agent.join().map_err(|_| anyhow::anyhow!("listener thread panicked"))??;
    check_eq!(out.code, Some(0), "exit of the script ({})", out.describe());
    check!(
        out.stdout.contains("Invalid cross-device link") && out.stdout.contains("rc=1"),
        "the notified mkdir should fail with the listener's EXDEV: {:?}",
        out.stdout
    );
    check!(answered >= 1, "the listener answered no notification");
    Ok(Outcome::Pass)
}

/// `exec` sends its own notify fd to the listener too (runc does): a listener that answers
/// both the container's process and the exec'd one.
fn notify_from_exec(ctx: &mut Ctx) -> Result<Outcome> {
    let sock = ctx.path("seccomp.sock");
    let listener = UnixListener::bind(&sock).with_context(|| format!("bind {sock:?}"))?;
    listener.set_nonblocking(true)?;
    let agent = std::thread::spawn(move || -> Result<usize> {
        let mut answered = 0;
        let mut agents = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while agents.len() < 2 && std::time::Instant::now() < deadline {
            match listener.accept() {
                Ok((conn, _)) => {
                    conn.set_nonblocking(false)?;
                    agents.push(std::thread::spawn(move || answer(conn)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(e.into()),
            }
        }
        for a in agents {
            answered += a.join().map_err(|_| anyhow::anyhow!("agent panicked"))??;
        }
        Ok(answered)
    });
    let mut b = ctx.bundle()?;
    let seccomp = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]});
    spec::set(&mut b.config, "/linux/seccomp", seccomp)?;
    spec::shell(&mut b.config, "sleep 30")?;
    let id = ctx.id();
    ctx.create(&b, &id, &[])?.ok("create")?;
    ctx.start(&id)?.ok("start")?;
    let out = ctx.call(&["exec", &id, "sh", "-c", "mkdir /dev/shm/y 2>&1; echo rc=$?"])?;
    ctx.kill(&id, "KILL")?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(10))?;
    ctx.delete(&id)?;
    let answered = agent.join().map_err(|_| anyhow::anyhow!("listener thread panicked"))??;
    check!(
        out.stdout.contains("Invalid cross-device link") && out.stdout.contains("rc=1"),
        "the exec'd mkdir should fail with the listener's EXDEV: {} {:?}",
        out.describe(),
        out.stdout
    );
    check!(answered >= 1, "the listener answered no notification");
    Ok(Outcome::Pass)
}

/// What runc 1.1.5 and the busybox shell need of the 2017 allowlist to run `sh -c 'echo ok'`
/// (measured on this host: removing any one of these fails runc, with an errno or a
/// kill-process default, with or without noNewPrivileges). `futex` only on a busy host: Go's
/// runtime parks a thread with it when another holds a lock, and at a load of 8 on two cores
/// runc 1.1.5 failed twice in a row without it ("container process is already dead").
const RUNC_NEEDS: &[&str] = &[
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "close",
    "epoll_ctl",
    "execve",
    "exit_group",
    "faccessat",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getpid",
    "getppid",
    "getrandom",
    "getuid",
    "mprotect",
    "newfstatat",
    "openat",
    "prctl",
    "prlimit64",
    "read",
    "readlink",
    "rt_sigaction",
    "rt_sigreturn",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setuid",
    "uname",
    "write",
];

/// The 2017 allowlist with a kill-process default, minus one call at a time: every call
/// runc does without, the runtime does without too (with and without noNewPrivileges). A
/// call the runtime makes after the load that the profile does not list kills the container
/// before it prints.
fn minus_one_syscall(ctx: &mut Ctx) -> Result<Outcome> {
    let mut profile = docker_2017_profile()?;
    profile["defaultAction"] = json!("SCMP_ACT_KILL_PROCESS");
    let names: Vec<String> = serde_json::from_value(profile["syscalls"][0]["names"].clone())?;
    let mut failed = Vec::new();
    for no_new_privileges in [true, false] {
        let mut b = ctx.bundle()?;
        spec::set(&mut b.config, "/process/noNewPrivileges", json!(no_new_privileges))?;
        spec::args(&mut b.config, &["sh", "-c", "echo ok"])?;
        for name in names.iter().filter(|n| !RUNC_NEEDS.contains(&n.as_str())) {
            // Five failures tell the story; a runtime that fails them all would take minutes.
            if failed.len() >= 5 {
                break;
            }
            let mut p = profile.clone();
            p["syscalls"][0]["names"] = json!(names.iter().filter(|n| *n != name).collect::<Vec<_>>());
            spec::set(&mut b.config, "/linux/seccomp", p)?;
            // One retry: Go's runtime (runc's) makes some calls only now and then
            // (preemption signals, yields), so runc fails a run here about once in 500.
            let ran = |ctx: &mut Ctx| -> Result<Option<String>> {
                let (_, out) = ctx.run(&b)?;
                Ok((!(out.success() && out.stdout.trim() == "ok")).then(|| out.describe()))
            };
            if ran(ctx)?.is_some() {
                if let Some(why) = ran(ctx)? {
                    failed.push(format!("without {name} (noNewPrivileges {no_new_privileges}), twice: {why}"));
                }
            }
        }
    }
    check!(failed.is_empty(), "{} runs failed (stopped at 5): {}", failed.len(), failed.join("; "));
    Ok(Outcome::Pass)
}
