//! Runs OCI hooks: the container state as JSON on stdin, the hook's args and env, and its
//! timeout enforced through a pidfd.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;

use crate::create::state::OciState;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {path:?}: start")]
    Spawn {
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{kind} hook {path:?}: timed out after {secs}s")]
    Timeout { kind: &'static str, path: PathBuf, secs: i64 },
    #[error("{kind} hook {path:?}: exited with status {code}{stderr}")]
    Failed { kind: &'static str, path: PathBuf, code: i32, stderr: String },
    #[error("{kind} hook {path:?}: killed by signal {signal}")]
    Signaled { kind: &'static str, path: PathBuf, signal: i32 },
    #[error("{kind} hook {path:?}: wait")]
    Wait {
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// Runs each hook of `list` in order, stopping at the first failure.
pub fn run_all(kind: &'static str, list: &Option<Vec<Hook>>, state: &OciState) -> Result<(), HookError> {
    let Some(list) = list else { return Ok(()) };
    if list.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_vec(state).unwrap_or_default();
    for hook in list {
        run_one(kind, hook, &json)?;
    }
    Ok(())
}

/// Runs every hook of `list`; a failure is only a warning and the rest still run, as the
/// runtime-spec asks for poststart and poststop hooks.
pub fn run_all_warn(kind: &'static str, list: &Option<Vec<Hook>>, state: &OciState) {
    let json = serde_json::to_vec(state).unwrap_or_default();
    for hook in list.iter().flatten() {
        if let Err(e) = run_one(kind, hook, &json) {
            tracing::warn!("{e}");
        }
    }
}

fn run_one(kind: &'static str, hook: &Hook, state: &[u8]) -> Result<(), HookError> {
    let start = crate::telemetry::enabled().then(std::time::SystemTime::now);
    let result = run_one_untraced(kind, hook, state);
    if let Some(start) = start {
        let ns = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        let code = match &result {
            Ok(()) => "0".to_string(),
            Err(HookError::Failed { code, .. }) => code.to_string(),
            Err(_) => "-1".to_string(),
        };
        let attrs = [("hook.path", hook.path().display().to_string()), ("hook.exit_code", code)];
        let error = result.as_ref().err().map(|e| e.to_string());
        crate::telemetry::record_span(&format!("hook {kind}"), ns(start), ns(std::time::SystemTime::now()), &attrs, error);
    }
    result
}

fn run_one_untraced(kind: &'static str, hook: &Hook, state: &[u8]) -> Result<(), HookError> {
    let path = hook.path().clone();
    let mut cmd = Command::new(&path);
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    // Hooks continue the caller's trace.
    if let Some(tp) = crate::telemetry::traceparent() {
        cmd.env("TRACEPARENT", tp);
    }
    cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| HookError::Spawn { kind, path: path.clone(), source })?;
    // The timeout runs from here: the state goes to stdin while we wait, so a hook that never
    // reads it (with a state bigger than the pipe) still ends at its timeout.
    let timeout_ms = hook.timeout().filter(|t| *t > 0).map(|t| t.saturating_mul(1000));
    let stdin = child.stdin.take().map(|s| (s, state));
    let stderr = child.stderr.take();
    let pid = child.id() as libc::pid_t;
    let tail = wait_with_timeout(pid, stdin, stderr, timeout_ms).map_err(|source| HookError::Wait { kind, path: path.clone(), source })?;
    let Some(tail) = tail else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(HookError::Timeout { kind, path, secs: hook.timeout().unwrap_or(0) });
    };
    let status = child.wait().map_err(|e| HookError::Wait { kind, path: path.clone(), source: crate::syserror::errno_of(&e) })?;
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        return Err(HookError::Signaled { kind, path, signal: sig });
    }
    match status.code() {
        Some(0) => Ok(()),
        code => {
            let text = tail.trim();
            let stderr = if text.is_empty() { String::new() } else { format!(": {}", last_line(text)) };
            Err(HookError::Failed { kind, path, code: code.unwrap_or(-1), stderr })
        }
    }
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

/// Waits for `pid` to exit while writing `stdin`'s bytes to it (a hook that does not read
/// them is fine) and draining its stderr. `None` means the timeout passed.
fn wait_with_timeout(
    pid: libc::pid_t,
    stdin: Option<(std::process::ChildStdin, &[u8])>,
    stderr: Option<std::process::ChildStderr>,
    timeout_ms: Option<i64>,
) -> Result<Option<String>, nix::Error> {
    let deadline = timeout_ms.map(|ms| std::time::Instant::now() + std::time::Duration::from_millis(ms as u64));
    // Without pidfd_open (kernels before 5.3, or the container's seccomp profile around the
    // startContainer hooks, which answers ENOSYS for it): the exit is polled every 20 ms.
    let pidfd = crate::create::clone::pidfd_open(pid).ok();
    let mut err_buf = Vec::new();
    let mut stderr = stderr;
    let mut stdin = stdin.filter(|(_, data)| !data.is_empty());
    if let Some((pipe, _)) = &stdin {
        nix::fcntl::fcntl(pipe, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))?;
    }
    loop {
        if let Some((pipe, data)) = stdin.as_mut() {
            match pipe.write(data) {
                Ok(n) if n < data.len() => *data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::Interrupted => {}
                // All written, or the hook closed its stdin (EPIPE): close ours.
                _ => stdin = None,
            }
        }
        let wait_ms = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                left.as_millis().min(i32::MAX as u128) as i32
            }
            None => -1,
        };
        let wait_ms = if pidfd.is_some() { wait_ms } else { (wait_ms as u32).min(20) as i32 };
        let mut fds: Vec<PollFd> = pidfd.iter().map(|p| PollFd::new(p.as_fd(), PollFlags::POLLIN)).collect();
        let err_at = stderr.is_some().then_some(fds.len());
        if let Some(e) = stderr.as_ref() {
            fds.push(PollFd::new(e.as_fd(), PollFlags::POLLIN));
        }
        if let Some((pipe, _)) = stdin.as_ref() {
            fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLOUT));
        }
        let n = match poll(&mut fds, PollTimeout::try_from(wait_ms).unwrap_or(PollTimeout::NONE)) {
            Ok(n) => n,
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e),
        };
        if n == 0 && pidfd.is_some() {
            continue;
        }
        let exited = match pidfd {
            Some(_) => fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)),
            None => has_exited(pid),
        };
        let readable = err_at.and_then(|i| fds.get(i)).and_then(|f| f.revents()).is_some_and(|r| !r.is_empty());
        if readable {
            let mut chunk = [0u8; 4096];
            match stderr.as_mut().map(|e| e.read(&mut chunk)) {
                Some(Ok(0)) | Some(Err(_)) => stderr = None,
                Some(Ok(k)) => {
                    err_buf.extend_from_slice(&chunk[..k]);
                    if err_buf.len() > 8192 {
                        err_buf.drain(..err_buf.len() - 4096);
                    }
                }
                None => {}
            }
        }
        if exited {
            return Ok(Some(String::from_utf8_lossy(&err_buf).into_owned()));
        }
    }
}

/// Whether `pid` (our child) has exited, leaving it to be reaped.
fn has_exited(pid: libc::pid_t) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::Pid(nix::unistd::Pid::from_raw(pid)), flags), Ok(WaitStatus::StillAlive))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: serde_json::Value) -> Hook {
        serde_json::from_value(json).unwrap()
    }

    fn state() -> OciState {
        OciState::for_hooks("c1", "creating", 42, std::path::Path::new("/b"), &Default::default())
    }

    #[test]
    fn hook_reads_state_and_gets_args_and_env() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let h = hook(serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}; echo \"$1 $FOO\" >> {}", out.display(), out.display()), "x", "arg1"],
            "env": ["FOO=bar"]
        }));
        run_all("prestart", &Some(vec![h]), &state()).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains(r#""id":"c1""#), "{text}");
        assert!(text.contains(r#""pid":42"#), "{text}");
        assert!(text.ends_with("arg1 bar\n"), "{text}");
    }

    #[test]
    fn failure_names_hook_and_stderr() {
        let h = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo boom >&2; exit 3"]}));
        let err = run_all("createRuntime", &Some(vec![h]), &state()).unwrap_err();
        assert_eq!(err.to_string(), r#"createRuntime hook "/bin/sh": exited with status 3: boom"#);
    }

    #[test]
    fn timeout_is_enforced() {
        let h = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 20"], "timeout": 1}));
        let t = std::time::Instant::now();
        let err = run_all("poststart", &Some(vec![h]), &state()).unwrap_err();
        assert!(t.elapsed().as_secs() < 5);
        assert_eq!(err.to_string(), r#"poststart hook "/bin/sh": timed out after 1s"#);
    }

    #[test]
    fn timeout_holds_for_a_hook_that_never_reads_a_big_state() {
        let h = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 20"], "timeout": 1}));
        let mut st = state();
        st.annotations.insert("big".into(), "x".repeat(1 << 20));
        let t = std::time::Instant::now();
        let err = run_all("createRuntime", &Some(vec![h]), &st).unwrap_err();
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
        assert!(matches!(err, HookError::Timeout { .. }), "{err}");
        // And a hook that reads it all gets it all.
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let h = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", out.display())], "timeout": 5}));
        run_all("createRuntime", &Some(vec![h]), &st).unwrap();
        assert_eq!(std::fs::read(&out).unwrap().len(), serde_json::to_vec(&st).unwrap().len());
    }

    #[test]
    fn warn_mode_runs_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("ran");
        let bad = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 1"]}));
        let good = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", out.display())]}));
        run_all_warn("poststop", &Some(vec![bad, good]), &state());
        assert!(out.exists());
    }

    #[test]
    fn missing_hook_binary() {
        let h = hook(serde_json::json!({"path": "/nonexistent/hook"}));
        let err = run_all("poststop", &Some(vec![h]), &state()).unwrap_err();
        assert_eq!(err.to_string(), r#"poststop hook "/nonexistent/hook": start"#);
    }
}
