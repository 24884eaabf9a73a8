//! The last steps before the container's program runs, shared by `create` (init) and `exec`:
//! oom_score_adj, personality, scheduler, I/O priority, CPU affinity, rlimits, seccomp, user,
//! capabilities, no_new_privs, umask, cwd, the executor's `prepare` (the lookup of args[0],
//! or loading a module), fds, the LSM labels of the next execve, and the launch.

use std::os::fd::{OwnedFd, RawFd};

use crate::create::channel::ChildError;
use crate::create::stage::Stage;
use crate::executor::{Executor, Handover, Launch, Workload};
use crate::plan::process_extra::ExtraPlan;
use crate::plan::ProcessPlan;
use crate::process::identity;
use crate::process::sched;
use crate::syserror::SysError;

/// The seccomp part: the profile, its program (compiled by the parent, see `seccomp_cache`),
/// and where SCMP_ACT_NOTIFY's fd goes with which state.
pub struct SeccompSetup<'a> {
    pub spec: &'a crate::process::seccomp::Profile,
    pub filter: &'a crate::process::seccomp::Filter,
    pub listener: Option<&'a OwnedFd>,
    pub listener_state: serde_json::Value,
}

/// A workload prepared by its executor, and the fd numbers this process held before it was:
/// copies inherited across clone (the caller's fds, the parent's channel end, the state lock)
/// that an execve would close. See `Handover`.
pub struct Prepared {
    pub launch: Box<dyn Launch>,
    pub inherited: Vec<RawFd>,
}

/// `oomScoreAdj`, written by the child before its credentials change (`become_root`, the
/// joins of exec's rootless route): once it is root of a user namespace and not dumpable, its
/// /proc/self belongs to host root, out of its reach. What it forks inherits the value.
pub fn set_oom_score_adj(p: &ProcessPlan) -> Result<(), ChildError> {
    match p.oom_score_adj {
        Some(adj) => identity::set_oom_score_adj(adj).stage("oomScoreAdj"),
        None => Ok(()),
    }
}

/// Applies the process settings (`set_oom_score_adj` first, by the caller), then lets the
/// executor prepare the workload.
pub fn apply(
    p: &ProcessPlan,
    seccomp: Option<&SeccompSetup>,
    preserve_fds: i32,
    executor: &dyn Executor,
    workload: &Workload,
) -> Result<Prepared, ChildError> {
    apply_scheduling(&p.extra)?;
    identity::set_rlimits(p).stage("rlimits")?;
    let filter = seccomp.map(|s| s.filter);
    if let Some(caps) = &p.caps {
        identity::drop_bounding(caps).stage("capabilities")?;
    }
    // Before the filter: every step here may use a call the profile denies (close_range,
    // openat2, the new mount API, memfd_create). The fds opened from here on are all
    // close-on-exec; the labels only take effect at the next execve, and nothing but
    // startContainer hooks (which runc also runs under them) execs before the workload.
    // HOME from the container's /etc/passwd, read before the filter too.
    let env = identity::env_with_home(workload.env, p.uid, identity::read_passwd);
    let workload = &Workload { env: env.as_deref().unwrap_or(workload.env), ..*workload };
    // The runtime's fds an in-process workload must let go of; an execve does it itself.
    let inherited = if executor.execs(workload) { Vec::new() } else { open_fds(3 + preserve_fds.max(0)).stage("fds")? };
    prepare_fds(preserve_fds).stage("fds")?;
    crate::process::lsm::apply(&p.extra.labels).stage("lsm")?;
    identity::set_umask(p.umask);
    reset_signals();
    if let (Some(s), Some(_)) = (seccomp, &filter) {
        crate::create::dmz::before_seccomp().stage("seccomp")?;
        crate::process::seccomp::expect_filter(s.spec);
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the
    // capabilities go. With it, load it as late as possible.
    if !p.no_new_privileges {
        load_seccomp(seccomp, filter)?;
    }
    identity::give_stdio_to_user(p.uid, p.terminal).stage("user")?;
    let cwd_done = identity::set_cwd_before_user(&p.cwd).stage("cwd")?;
    identity::switch_user(p, setgroups_allowed(), p.caps.is_some()).stage("user")?;
    if let Some(caps) = &p.caps {
        identity::set_capabilities(caps).stage("capabilities")?;
    }
    if p.no_new_privileges {
        identity::set_no_new_privs().stage("noNewPrivileges")?;
    }
    if !cwd_done {
        identity::set_cwd(&p.cwd).stage("cwd")?;
    }
    let launch = executor.prepare(workload)?;
    if p.no_new_privileges {
        load_seccomp(seccomp, filter)?;
    }
    Ok(Prepared { launch, inherited })
}

/// personality, the scheduler and I/O priority, and the final exec CPU affinity: while the
/// process still has every capability (SCHED_FIFO needs CAP_SYS_NICE), after it is in the
/// container's cgroup.
fn apply_scheduling(x: &ExtraPlan) -> Result<(), ChildError> {
    if let Some(persona) = x.personality {
        sched::set_personality(persona).stage("personality")?;
    }
    if let Some(cpus) = &x.affinity.last {
        sched::set_affinity(0, cpus).stage("execCPUAffinity")?;
    }
    if let Some(attr) = &x.scheduler {
        sched::set_scheduler(attr).stage("scheduler")?;
    }
    if let Some(io) = x.io_priority {
        sched::set_io_priority(io).stage("ioPriority")?;
    }
    Ok(())
}

/// The open fds from `first` up.
fn open_fds(first: i32) -> Result<Vec<RawFd>, SysError> {
    let dir = std::fs::read_dir("/proc/self/fd").map_err(|e| SysError::io("list /proc/self/fd", e))?;
    let listed: Vec<RawFd> = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter(|fd| *fd >= first).collect();
    // Without the fd of the listing itself, closed by now.
    // SAFETY: F_GETFD only reads the flags of an fd number, open or not.
    Ok(listed.into_iter().filter(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } >= 0).collect())
}

/// Loads the seccomp filter and, with notify rules, hands the listener its fd.
fn load_seccomp(setup: Option<&SeccompSetup>, filter: Option<&crate::process::seccomp::Filter>) -> Result<(), ChildError> {
    let (Some(filter), Some(setup)) = (filter, setup) else { return Ok(()) };
    let notify = crate::process::seccomp::load(filter).stage("seccomp")?;
    if let (Some(fd), Some(sock)) = (notify, setup.listener) {
        crate::process::seccomp::send_to_listener(sock, &fd, &setup.listener_state).stage("seccomp")?;
    }
    Ok(())
}

fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map(|s| s.trim() != "deny").unwrap_or(true)
}

/// Marks every fd above the preserved ones close-on-exec, and clears that flag on the
/// preserved ones. close_range where the kernel has it (5.11), else one fcntl per open fd.
fn prepare_fds(preserve: i32) -> Result<(), SysError> {
    let first = 3 + preserve.max(0) as u32;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes flags.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if rc < 0 {
        let e = nix::Error::last();
        if !matches!(e, nix::Error::ENOSYS | nix::Error::EINVAL | nix::Error::EPERM) {
            return Err(SysError::new("mark fds close-on-exec", e));
        }
        for fd in open_fds(first as i32)? {
            // SAFETY: F_SETFD on an fd number listed as open; EBADF is harmless.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 && nix::Error::last() != nix::Error::EBADF {
                return Err(SysError::new(format!("mark fd {fd} close-on-exec"), nix::Error::last()));
            }
        }
    }
    for fd in 3..first as i32 {
        // SAFETY: F_SETFD on an fd number the caller asked us to keep; EBADF is harmless.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    Ok(())
}

/// Launches the workload: execve, or a run in this process whose exit code is returned. The
/// signal state was reset in `apply`, before the seccomp filter.
pub fn launch(prepared: Prepared, fds: Vec<OwnedFd>) -> Result<i32, ChildError> {
    prepared.launch.launch(Handover::new(fds, prepared.inherited)).map_err(ChildError::from)
}

/// The signals the runtime ignores (`SigIgn` of /proc/self/status: those ignored by whoever
/// started it, and SIGPIPE, ignored by youki's entry point), read once by the parent before its
/// first clone and inherited by the child with its memory. The runtime never ignores a signal
/// itself, so the child's set is the same; with it `reset_signals` makes one call per ignored
/// signal instead of asking the kernel about all 64.
static IGNORED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Reads the ignored signals (see `IGNORED`); called by `clone_child` before the clone.
pub fn note_ignored_signals() {
    if IGNORED.get().is_some() {
        return;
    }
    let status = libcgroups::read_text("/proc/self/status");
    if let Some(mask) = status.ok().and_then(|text| parse_sig_ign(&text)) {
        let _ = IGNORED.set(mask);
    }
}

/// The `SigIgn:` mask of a /proc/PID/status text (bit N-1 for signal N).
fn parse_sig_ign(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Unblocks every signal and puts ignored ones back to their default, as a fresh program
/// expects. Handlers stay: execve resets them anyway, and an executor that runs the workload
/// here (wasmtime's trap handlers) installed them on purpose.
fn reset_signals() {
    match IGNORED.get() {
        Some(mask) => {
            for sig in (1..=64).filter(|s| mask & (1u64 << (s - 1)) != 0) {
                // SAFETY: restoring the default disposition is always valid.
                unsafe { libc::signal(sig, libc::SIG_DFL) };
            }
        }
        None => reset_each_ignored_signal(),
    }
    let empty = nix::sys::signal::SigSet::empty();
    let _ = nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&empty), None);
}

/// Without the mask: asks the kernel about each signal.
fn reset_each_ignored_signal() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a zeroed sigaction is a valid out-parameter; a null new action only reads.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let read = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
        if read == 0 && old.sa_sigaction == libc::SIG_IGN {
            // SAFETY: restoring the default disposition is always valid.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ignored_mask_is_read_from_status() {
        let status = "Name:\tyouki\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001001\nSigCgt:\t0000000180000000\n";
        assert_eq!(parse_sig_ign(status), Some((1 << (libc::SIGPIPE - 1)) | (1 << (libc::SIGHUP - 1))));
        assert_eq!(parse_sig_ign("Name:\tx\n"), None);
        // This test process ignores SIGPIPE (Rust's start-up does): the parent's note sees it.
        note_ignored_signals();
        let mask = IGNORED.get().copied().expect("read /proc/self/status");
        assert_ne!(mask & (1 << (libc::SIGPIPE - 1)), 0, "{mask:#x}");
    }
}
