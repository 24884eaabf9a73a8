//! The commands on an existing container: start, kill, delete, state and list here; in the
//! folder, `exec` (with `exec_cgroup`), `run` in the foreground (with `tty_proxy`), the
//! cgroup commands (`cgroup_ops`: pause, resume, ps, update, stats), what `delete` removes
//! (`teardown`) and the signal names `kill` takes (`signal`).

pub mod cgroup_ops;
pub mod exec;
pub mod exec_cgroup;
pub mod exec_process;
pub mod run;
pub mod signal;
pub mod teardown;
pub mod tty_proxy;

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill as send_signal, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::create::state::{self, ContainerDir, ContainerState, OciState, Record, StateError, Status};
use crate::error::ContainerError;
use crate::hooks;

/// Opens the container's exec fifo, which lets its init execve the container process.
/// The state lock is held only to read the state and to save "running": never across the
/// fifo or the poststart hooks, so `kill`, `delete --force` and `state` answer meanwhile.
pub fn start(root: &Path, id: &str) -> Result<ContainerState, ContainerError> {
    crate::telemetry::attr("container.id", id);
    let mut st = ContainerDir::open(root, id)?.load()?;
    crate::failpoint::hit("start:after-lock");
    crate::telemetry::link_create(st.trace_context.as_deref());
    crate::telemetry::attr_int("pid", st.pid as i64);
    let dir_path = root.join(id);
    let status = st.live_status(&dir_path);
    if status != Status::Created {
        return Err(ContainerError::BadStatus { op: "start", id: id.to_string(), status });
    }
    crate::telemetry::span("exec of the container process", || release(id, &dir_path.join(state::FIFO), &st))?;
    crate::failpoint::hit("start:after-release");
    {
        // A delete --force may have removed the container meanwhile: then there is nothing
        // to save, and no poststart hook to run.
        let dir = ContainerDir::open(root, id).map_err(|_| StateError::Gone(id.to_string()))?;
        let cur = dir.load()?;
        if cur.pid != st.pid || cur.pid_start_time != st.pid_start_time {
            return Err(StateError::Gone(id.to_string()).into());
        }
        st = cur;
        st.status = Status::Running;
        dir.save(&st)?;
    }
    crate::failpoint::hit("start:after-save");
    // A failing poststart hook does not stop the container: the spec asks for a warning.
    // The state they get names the owner, read from /etc/passwd: only made for hooks.
    if st.poststart.as_ref().is_some_and(|h| !h.is_empty()) {
        hooks::run_all_warn("poststart", &st.poststart, &st.to_oci(Status::Running));
    }
    Ok(st)
}

/// Takes init's byte from the exec fifo, then waits for EOF: init holds the fifo open
/// (close-on-exec) through the startContainer hooks until its execve, so when `start`
/// returns the container process runs, and the poststart hooks come after it.
/// Two `start`s at once: the first locks the fifo (flock); the other fails, as does one that
/// opened the fifo before the first removed it.
fn release(id: &str, fifo: &Path, st: &ContainerState) -> Result<(), ContainerError> {
    let started = || ContainerError::BadStatus { op: "start", id: id.to_string(), status: Status::Running };
    let fd = match nix::fcntl::open(fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(nix::Error::ENOENT) => return Err(started()),
        Err(e) => return Err(ContainerError::sys(format!("open exec fifo {fifo:?}"), e)),
    };
    let fd = match nix::fcntl::Flock::lock(std::fs::File::from(fd), nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((_, nix::Error::EWOULDBLOCK)) => return Err(started()),
        Err((_, e)) => return Err(ContainerError::sys(format!("lock exec fifo {fifo:?}"), e)),
    };
    let same = |a: &std::fs::Metadata| std::fs::metadata(fifo).is_ok_and(|b| (a.dev(), a.ino()) == (b.dev(), b.ino()));
    if !fd.metadata().is_ok_and(|m| same(&m)) {
        return Err(started());
    }
    let mut got_byte = false;
    let mut buf = [0u8; 16];
    loop {
        match nix::unistd::read(&*fd, &mut buf) {
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
                    std::fs::remove_file(fifo)
                        .map_err(|e| ContainerError::sys(format!("remove exec fifo {fifo:?}"), crate::syserror::errno_of(&e)))?;
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
    let st = ContainerDir::open(root, id)?.load()?;
    crate::telemetry::link_create(st.trace_context.as_deref());
    let status = st.live_status(&root.join(id));
    crate::failpoint::hit("kill:after-load");
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
    } else if st.pid <= 0 {
        // A create still before its clone: no process yet.
        Err(ContainerError::BadStatus { op: "kill", id: id.to_string(), status })
    } else {
        send_signal(Pid::from_raw(st.pid), signal).map_err(|e| ContainerError::sys(format!("send {signal} to pid {}", st.pid), e))?;
        crate::failpoint::hit("kill:after-signal");
        crate::lifecycle::cgroup_ops::thaw_for_sigkill(&st, signal)
    }
}

/// `kill ID 0`: kill(2)'s existence check. Succeeds while the container has a process
/// (created, running or paused) and sends nothing; a stopped container is an error.
pub fn probe(root: &Path, id: &str) -> Result<(), ContainerError> {
    crate::telemetry::attr("container.id", id);
    let st = ContainerDir::open(root, id)?.load()?;
    let status = st.live_status(&root.join(id));
    let stopped = || ContainerError::BadStatus { op: "kill", id: id.to_string(), status: Status::Stopped };
    if status == Status::Stopped {
        return Err(stopped());
    }
    if st.pid <= 0 {
        return Err(ContainerError::BadStatus { op: "kill", id: id.to_string(), status });
    }
    match nix::sys::signal::kill(Pid::from_raw(st.pid), None) {
        Ok(()) => Ok(()),
        Err(nix::Error::ESRCH) => Err(stopped()),
        Err(e) => Err(ContainerError::sys(format!("probe pid {} with signal 0", st.pid), e)),
    }
}

fn signal_all(st: &ContainerState, signal: Signal) -> Result<(), ContainerError> {
    match &st.cgroup {
        Some(_) => {
            crate::lifecycle::cgroup_ops::signal_frozen(crate::lifecycle::cgroup_ops::manager_of(st)?.as_ref(), Some(st.pid), signal)
        }
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
    let mgr = crate::lifecycle::cgroup_ops::manager_of(st)?;
    if mgr.pids()?.is_empty() {
        return Ok(());
    }
    crate::lifecycle::cgroup_ops::signal_frozen(mgr.as_ref(), None, signal)
}

/// Removes a container: its processes (with `force`, or when only created), cgroup, mounts
/// left under its directory, and state, from whatever its directory holds (see `teardown`).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), ContainerError> {
    crate::telemetry::attr("container.id", id);
    let record = match ContainerDir::open(root, id) {
        Ok(dir) => dir.record()?,
        Err(StateError::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let live = match &record {
        Record::State(st) => {
            crate::telemetry::link_create(st.trace_context.as_deref());
            Some(st.live_status(&root.join(id)))
        }
        _ => None,
    };
    let recovery = match &record {
        Record::State(_) => None,
        _ => state::read_recovery(&root.join(id)),
    };
    let plan = teardown::plan(id, &record, live, recovery.as_ref(), force)?;
    teardown::run(root, id, &plan)
}

/// The OCI state of one container.
/// An interrupted create or an unreadable state shows as "stopped" with the
/// `state::RECOVERY_ANNOTATION` (see `state::oci_view`); a too-new or foreign state is an error.
pub fn state(root: &Path, id: &str) -> Result<OciState, ContainerError> {
    state::check_id(id)?;
    let dir = root.join(id);
    let record = state::read_record(&dir)?;
    match state::oci_view(id, &record, &dir) {
        Some(oci) => Ok(oci),
        None => Err(state::load(&dir).err().unwrap_or_else(|| StateError::Foreign { path: dir.clone() }).into()),
    }
}

/// The states of every youki container under `root`, broken ones as `state` shows them;
/// too-new and foreign entries are skipped with a warning, never an error.
pub fn list(root: &Path) -> Result<Vec<OciState>, ContainerError> {
    let ids = state::list_ids(root)?;
    // Each container costs a few small reads (its state, its init's /proc stat, the
    // freezer); with many, the host's cores share them, each a run of ids in order.
    let workers = if ids.len() < LIST_PER_WORKER { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) };
    if workers == 1 {
        return Ok(ids.iter().filter_map(|id| shown(root, id)).collect());
    }
    let runs = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(ids.len().div_ceil(workers))
            .map(|run| s.spawn(move || run.iter().filter_map(|id| shown(root, id)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect::<Vec<_>>()
    });
    Ok(runs.into_iter().flatten().collect())
}

/// Below this many containers `list` reads them on one thread.
const LIST_PER_WORKER: usize = 64;

/// The state `list` shows for `id`, or None (with a warning) for what it skips.
fn shown(root: &Path, id: &str) -> Option<OciState> {
    let dir = root.join(id);
    match state::read_record(&dir).map(|r| state::oci_view(id, &r, &dir)) {
        Ok(Some(oci)) => Some(oci),
        Ok(None) => {
            let why = state::load(&dir).err().map(|e| crate::error_chain::chain(&e)).unwrap_or_default();
            tracing::warn!("skipping {dir:?}: {why}");
            None
        }
        // Removed between the listing and the read: not there any more.
        Err(StateError::NotFound(_)) => None,
        Err(e) => {
            tracing::warn!("skipping {dir:?}: {}", crate::error_chain::chain(&e));
            None
        }
    }
}
