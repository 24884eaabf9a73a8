//! The commands on an existing container: start, kill, delete, state and list.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill as send_signal, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::error::ContainerError;
use crate::host::HostFacts;
use crate::hooks;
use crate::state::{self, ContainerDir, ContainerState, OciState, StateError, Status};

/// Opens the container's exec fifo, which lets its init execve the container process.
pub fn start(root: &Path, id: &str) -> Result<ContainerState, ContainerError> {
    crate::telemetry::attr("container.id", id);
    let dir = ContainerDir::open(root, id)?;
    let mut st = dir.load()?;
    crate::failpoint::hit("start:after-lock");
    crate::telemetry::link_create(st.trace_context.as_deref());
    crate::telemetry::attr_int("pid", st.pid as i64);
    let status = st.live_status(&dir.path);
    if status != Status::Created {
        return Err(ContainerError::BadStatus { op: "start", id: id.to_string(), status });
    }
    crate::telemetry::span("exec of the container process", || release(&dir.fifo(), &st))?;
    crate::failpoint::hit("start:after-release");
    st.status = Status::Running;
    dir.save(&st)?;
    // A failing poststart hook does not stop the container: the spec asks for a warning.
    hooks::run_all_warn("poststart", &st.poststart, &st.to_oci(Status::Running));
    Ok(st)
}

/// Takes init's byte from the exec fifo, then waits for EOF: init holds the fifo open
/// (close-on-exec) through the startContainer hooks until its execve, so when `start`
/// returns the container process runs, and the poststart hooks come after it.
fn release(fifo: &Path, st: &ContainerState) -> Result<(), ContainerError> {
    let fd = nix::fcntl::open(fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| ContainerError::sys(format!("open exec fifo {fifo:?}"), e))?;
    let mut got_byte = false;
    let mut buf = [0u8; 16];
    loop {
        match nix::unistd::read(&fd, &mut buf) {
            Ok(0) if got_byte => return Ok(()),
            Ok(0) => {
                // No writer yet, or init died before writing.
                if state::process_start_time(st.pid) != Some(st.pid_start_time) {
                    return Err(ContainerError::InitGone);
                }
            }
            Ok(_) => {
                if !got_byte {
                    // Init has the fifo open; from now on the container counts as running.
                    std::fs::remove_file(fifo).map_err(|e| {
                        ContainerError::sys(format!("remove exec fifo {fifo:?}"), crate::syserror::errno_of(&e))
                    })?;
                }
                got_byte = true;
                continue;
            }
            Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(ContainerError::sys(format!("read exec fifo {fifo:?}"), e)),
        }
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(ContainerError::sys("wait on exec fifo", e)),
        }
        if !got_byte && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLHUP) && !r.contains(PollFlags::POLLIN)) {
            // A writer came and went without writing: init failed in startContainer.
            if state::process_start_time(st.pid) != Some(st.pid_start_time) {
                return Err(ContainerError::InitGone);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Sends `signal` to the container's init, or with `all` to every process in its cgroup.
pub fn kill(root: &Path, id: &str, signal: Signal, all: bool) -> Result<(), ContainerError> {
    crate::telemetry::attr("container.id", id);
    crate::telemetry::attr("signal", signal.as_str());
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    crate::telemetry::link_create(st.trace_context.as_deref());
    let status = st.live_status(&dir.path);
    if status == Status::Stopped {
        if all {
            // Init is gone, but processes it left (a shared pid namespace) may remain in
            // the cgroup: signal those, as runc does, unless the cgroup is gone too.
            return signal_leftovers(&st, signal);
        }
        return Err(ContainerError::BadStatus { op: "kill", id: id.to_string(), status });
    }
    if all {
        signal_all(&st, signal)
    } else {
        send_signal(Pid::from_raw(st.pid), signal).map_err(|e| ContainerError::sys(format!("send {signal} to pid {}", st.pid), e))?;
        crate::cgroup_ops::thaw_for_sigkill(&st, signal)
    }
}

fn signal_all(st: &ContainerState, signal: Signal) -> Result<(), ContainerError> {
    match &st.cgroup {
        Some(_) => crate::cgroup_ops::signal_frozen(crate::cgroup_ops::manager_of(st)?.as_ref(), Some(st.pid), signal),
        None => match send_signal(Pid::from_raw(st.pid), signal) {
            Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
            Err(e) => Err(ContainerError::sys(format!("send {signal} to pid {}", st.pid), e)),
        },
    }
}

fn signal_leftovers(st: &ContainerState, signal: Signal) -> Result<(), ContainerError> {
    let Some(cg) = &st.cgroup else { return Ok(()) };
    if !cg.dirs.iter().any(|d| d.dir.exists()) {
        return Ok(());
    }
    let mgr = crate::cgroup_ops::manager_of(st)?;
    if mgr.pids()?.is_empty() {
        return Ok(());
    }
    crate::cgroup_ops::signal_frozen(mgr.as_ref(), None, signal)
}

/// Removes a container: its processes (with `force`, or when only created), cgroup and state.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), ContainerError> {
    crate::telemetry::attr("container.id", id);
    let dir = match ContainerDir::open(root, id) {
        Ok(d) => d,
        Err(StateError::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let st = dir.load()?;
    crate::telemetry::link_create(st.trace_context.as_deref());
    let status = st.live_status(&dir.path);
    match status {
        Status::Stopped => {}
        Status::Created => signal_all(&st, Signal::SIGKILL)?,
        Status::Running | Status::Paused | Status::Creating if force => signal_all(&st, Signal::SIGKILL)?,
        _ => return Err(ContainerError::BadStatus { op: "delete", id: id.to_string(), status }),
    }
    crate::failpoint::hit("delete:after-kill");
    if status != Status::Stopped {
        crate::telemetry::span("wait for exit", || wait_gone(&st, Duration::from_secs(10)))?;
    }
    if let Some(cg) = &st.cgroup {
        let host = HostFacts::read()?;
        let mgr = libcgroups::from_state(&host.cgroups, cg)?;
        // Stragglers outside a pid namespace survive init; they go too.
        for p in mgr.pids().unwrap_or_default() {
            let _ = send_signal(Pid::from_raw(p), Signal::SIGKILL);
        }
        mgr.remove()?;
    }
    crate::failpoint::hit("delete:after-cgroup-remove");
    hooks::run_all_warn("poststop", &st.poststop, &st.to_oci(Status::Stopped));
    dir.remove()?;
    Ok(())
}

/// Waits until init has exited, through a pidfd (init is usually not our child).
fn wait_gone(st: &ContainerState, limit: Duration) -> Result<(), ContainerError> {
    let Ok(pidfd) = crate::clone::pidfd_open(st.pid) else {
        return Ok(()); // already gone
    };
    if state::process_start_time(st.pid) != Some(st.pid_start_time) {
        return Ok(());
    }
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ContainerError::sys(format!("wait for pid {} to exit", st.pid), nix::Error::ETIMEDOUT));
        }
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let ms = left.as_millis().min(u16::MAX as u128) as u16;
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) if n > 0 => return Ok(()),
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(ContainerError::sys("wait for init to exit", e)),
        }
    }
}

/// The OCI state of one container.
pub fn state(root: &Path, id: &str) -> Result<OciState, ContainerError> {
    state::check_id(id)?;
    let dir = root.join(id);
    if !dir.join(state::STATE_FILE).exists() {
        return Err(StateError::NotFound(id.to_string()).into());
    }
    let st = state::load(&dir)?;
    Ok(st.to_oci(st.live_status(&dir)))
}

/// The states of every youki container under `root`; foreign entries are skipped with a
/// warning, never an error.
pub fn list(root: &Path) -> Result<Vec<OciState>, ContainerError> {
    let mut out = Vec::new();
    for id in state::list_ids(root)? {
        let dir = root.join(&id);
        match state::load(&dir) {
            Ok(st) => out.push(st.to_oci(st.live_status(&dir))),
            Err(e) => tracing::warn!("skipping {dir:?}: {}", crate::error::chain(&e)),
        }
    }
    Ok(out)
}
