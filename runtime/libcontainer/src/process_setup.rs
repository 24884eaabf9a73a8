//! The last steps before the container's program runs, shared by `create` (init) and `exec`:
//! oom_score_adj, rlimits, seccomp, user, capabilities, no_new_privs, umask, cwd, the lookup
//! of args[0], fds, and the execve through the trampoline.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use crate::channel::ChildError;
use crate::plan::ProcessPlan;
use crate::stage::{child_error, Stage};
use crate::syserror::SysError;
use crate::{dmz, identity};

/// The seccomp part: the profile, and where SCMP_ACT_NOTIFY's fd goes with which state.
pub struct SeccompSetup<'a> {
    pub spec: &'a LinuxSeccomp,
    pub listener: Option<&'a OwnedFd>,
    pub listener_state: serde_json::Value,
}

/// Applies the process settings; returns the program to exec and the trampoline to exec it
/// through.
pub fn apply(p: &ProcessPlan, seccomp: Option<&SeccompSetup>, preserve_fds: i32) -> Result<(CString, OwnedFd), ChildError> {
    if let Some(adj) = p.oom_score_adj {
        identity::set_oom_score_adj(adj).stage("oomScoreAdj")?;
    }
    identity::set_rlimits(p).stage("rlimits")?;
    let filter = match seccomp {
        Some(s) => Some(crate::seccomp::build(s.spec).map_err(|e| child_error("seccomp", &e))?),
        None => None,
    };
    if let Some(caps) = &p.caps {
        identity::drop_bounding(caps).stage("capabilities")?;
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the
    // capabilities go. With it, load it as late as possible.
    if !p.no_new_privileges {
        load_seccomp(seccomp, filter.as_ref())?;
    }
    identity::switch_user(p, setgroups_allowed(), p.caps.is_some()).stage("user")?;
    if let Some(caps) = &p.caps {
        identity::set_capabilities(caps).stage("capabilities")?;
    }
    if p.no_new_privileges {
        identity::set_no_new_privs().stage("noNewPrivileges")?;
    }
    identity::set_umask(p.umask);
    identity::set_cwd(&p.cwd).stage("cwd")?;
    let exe = find_executable(&p.args[0], &env_path(&p.env))?;
    let trampoline = dmz::prepare().stage("exec")?;
    prepare_fds(preserve_fds).stage("fds")?;
    if p.no_new_privileges {
        load_seccomp(seccomp, filter.as_ref())?;
    }
    Ok((exe, trampoline))
}


/// Loads the seccomp filter and, with notify rules, hands the listener its fd.
fn load_seccomp(setup: Option<&SeccompSetup>, filter: Option<&libseccomp::ScmpFilterContext>) -> Result<(), ChildError> {
    let (Some(filter), Some(setup)) = (filter, setup) else { return Ok(()) };
    let notify = crate::seccomp::load(filter, setup.listener.is_some()).map_err(|e| child_error("seccomp", &e))?;
    if let (Some(fd), Some(sock)) = (notify, setup.listener) {
        crate::seccomp::send_to_listener(sock, &fd, &setup.listener_state).stage("seccomp")?;
    }
    Ok(())
}

fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map(|s| s.trim() != "deny").unwrap_or(true)
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn env_path(env: &[String]) -> String {
    env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH).to_string()
}

/// Resolves args[0] the way execvp would, so a missing program fails `create`, not `start`.
fn find_executable(arg0: &str, path: &str) -> Result<CString, ChildError> {
    let fail = |detail: &str, errno: Option<i32>| ChildError {
        stage: "exec".into(),
        op: format!("find executable {arg0:?}"),
        errno,
        detail: Some(detail.to_string()),
    };
    let candidates: Vec<PathBuf> = if arg0.contains('/') {
        vec![PathBuf::from(arg0)]
    } else {
        path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(arg0)).collect()
    };
    let mut last = None;
    for c in &candidates {
        match nix::unistd::access(c, nix::unistd::AccessFlags::X_OK) {
            Ok(()) if !c.is_dir() => {
                return CString::new(c.as_os_str().as_bytes()).map_err(|_| fail("contains a NUL byte", None));
            }
            Ok(()) => last = Some(nix::Error::EACCES),
            Err(e) => last = Some(e),
        }
    }
    if arg0.contains('/') {
        Err(fail("cannot be executed", last.map(|e| e as i32)))
    } else {
        Err(fail("not found in $PATH", None))
    }
}

/// Marks every fd above the preserved ones close-on-exec, and clears that flag on the
/// preserved ones.
fn prepare_fds(preserve: i32) -> Result<(), SysError> {
    let first = 3 + preserve.max(0) as u32;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes flags.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if rc < 0 {
        return Err(SysError::new("mark fds close-on-exec", nix::Error::last()));
    }
    for fd in 3..first as i32 {
        // SAFETY: F_SETFD on an fd number the caller asked us to keep; EBADF is harmless.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    Ok(())
}

/// Restores default signal handling and replaces this process with the container process,
/// through the trampoline (see `dmz`).
pub fn exec<'a>(trampoline: &OwnedFd, exe: &CString, args: &[String], env: impl Iterator<Item = &'a String>) -> Result<Infallible, ChildError> {
    let to_c = |s: &String| CString::new(s.as_bytes()).map_err(|_| ChildError {
        stage: "exec".into(),
        op: format!("argument or env entry {s:?}"),
        errno: None,
        detail: Some("contains a NUL byte".into()),
    });
    let argv = args.iter().map(to_c).collect::<Result<Vec<_>, _>>()?;
    let envp = env.map(to_c).collect::<Result<Vec<_>, _>>()?;
    reset_signals();
    let e = dmz::exec(trampoline, exe, &argv, &envp);
    Err(ChildError { stage: "exec".into(), op: format!("execve {exe:?}"), errno: Some(e as i32), detail: None })
}

fn reset_signals() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: restoring the default disposition is always valid.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let empty = nix::sys::signal::SigSet::empty();
    let _ = nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&empty), None);
}

