//! `restore`: checks the images, makes the state directory and the cgroup, binds the rootfs
//! where criu wants a mount point, runs `criu restore -d` inside the container's cgroup, and
//! saves the state as running with the restored pid. Any failure takes all of it back.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use libcgroups::CgroupManager;
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::create::state::{self, ContainerDir, ContainerState, Status, FORMAT};
use crate::criu::criu_plan::{self, CriuOptions, CriuPlan, ExternalNs, Prepared};
use crate::criu::{self, CriuError};
use crate::error::ContainerError;
use crate::plan::host::HostFacts;
use crate::plan::{MountKind, Plan};

pub struct RestoreOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub criu: CriuOptions,
    pub pid_file: Option<&'a Path>,
    pub systemd_cgroup: bool,
    /// Become a subreaper so that the restored init becomes our child once criu exits.
    pub subreaper: bool,
}

/// The directory in the state dir where the rootfs is bound for criu's `--root`.
const CRIU_ROOT: &str = "criu-root";

/// Restores `id` and returns the restored init's host pid.
pub fn restore(o: &RestoreOptions) -> Result<i32, ContainerError> {
    crate::telemetry::attr("container.id", o.id);
    criu_plan::check_common(&o.criu).map_err(CriuError::from)?;
    state::check_id(o.id)?;
    criu::check_images(&o.criu.image_path)?;
    let facts = crate::criu::checkpoint::read_facts(&o.criu.image_path)?;
    let (bundle, spec) = crate::create::load_spec(o.bundle)?;
    let host = HostFacts::read(&spec)?;
    let plan = crate::plan::plan(&spec, &bundle, &host).map_err(ContainerError::Spec)?;
    if !plan.rootfs.is_dir() {
        return Err(ContainerError::NoRootfs(plan.rootfs.clone()));
    }
    let ns_kinds = criu_plan::external_namespace_kinds(&plan).map_err(CriuError::from)?;
    let cgroup = libcgroups::manager(&host.cgroups, plan.cgroups_path.as_deref(), o.id, o.systemd_cgroup)?;
    let dir = ContainerDir::create(o.root, o.id)?;
    // As create: a first record, so that a restore killed at any point leaves something
    // `delete --force` can remove (cgroup, the rootfs bind under the directory, processes).
    let record = first_record(o, &bundle, &plan, cgroup.state());
    let mut undo = Undo { dir: Some(dir.path.clone()), cgroup: Some(cgroup), criu_root: None };
    if let Err(e) = dir.save(&record).and_then(|()| state::save_recovery(&dir.path, &record)) {
        drop(dir);
        undo.run();
        return Err(e.into());
    }
    drop(dir); // the lock: not held across criu
    crate::failpoint::hit("restore:after-record");
    let result = restore_in(o, &plan, &facts, ns_kinds, record, &mut undo);
    if result.is_err() {
        undo.run();
    }
    result
}

fn restore_in(
    o: &RestoreOptions,
    plan: &Plan,
    facts: &criu_plan::DumpFacts,
    ns_kinds: Vec<(crate::namespaces::NsKind, PathBuf)>,
    mut st: ContainerState,
    undo: &mut Undo,
) -> Result<i32, ContainerError> {
    let dir_path = undo.dir.clone().unwrap_or_default();
    let Some(cg) = undo.cgroup.as_ref() else { return Err(ContainerError::NoCgroup(o.id.to_string())) };
    let cgroup_fd = cg.prepare()?;
    let criu_root = dir_path.join(CRIU_ROOT);
    fs::create_dir(&criu_root).map_err(|e| ContainerError::sys(format!("create {criu_root:?}"), crate::syserror::errno_of(&e)))?;
    undo.criu_root = Some(criu_root.clone());
    bind_rootfs(&plan.rootfs, &criu_root)?;
    make_bind_targets(plan)?;
    let mut ns_fds = Vec::new();
    let mut namespaces = Vec::new();
    for (kind, path) in ns_kinds {
        let fd = nix::fcntl::open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| ContainerError::sys(format!("open namespace {path:?}"), e))?;
        namespaces.push(ExternalNs { kind, path, inode: 0 });
        ns_fds.push(fd);
    }
    let user_ns = plan.clone_flags.contains(nix::sched::CloneFlags::CLONE_NEWUSER);
    let views = cg.views();
    let pidfile = dir_path.join("criu-restore.pid");
    let prepared = Prepared {
        root: criu_root.clone(),
        pidfile: pidfile.clone(),
        mounts: criu_plan::external_mounts(plan, &views, &facts.masked_files, user_ns),
        namespaces,
        namespace_fds: ns_fds.iter().map(|f| f.as_raw_fd()).collect(),
        stdio: criu_plan::inherited_stdio(&facts.stdio),
        cgroup_path: Some(cg.state().path),
        cgroup_views: views,
    };
    let criu_plan = criu_plan::restore_plan(&o.criu, prepared).map_err(CriuError::from)?;
    fs::create_dir_all(&criu_plan.work).map_err(criu::io("create directory", &criu_plan.work))?;
    if o.subreaper {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(ContainerError::sys("become a subreaper", nix::Error::last()));
        }
    }
    crate::failpoint::hit("restore:before-criu");
    crate::telemetry::span("criu restore", || {
        run_restore(&criu_plan, o.id, cg.as_ref(), cgroup_fd.as_ref(), &ns_fds, plan.resources.as_ref())
    })?;
    crate::failpoint::hit("restore:after-criu");
    let pid = read_pid(&pidfile)?;
    let _ = fs::remove_file(&pidfile);
    release_criu_root(&mut undo.criu_root)?;
    st.pid = pid;
    st.pid_start_time = state::process_start_time(pid).unwrap_or(0);
    st.created = crate::rfc3339::now();
    st.status = Status::Running;
    st.trace_context = crate::telemetry::traceparent();
    ContainerDir::open(o.root, o.id).map_err(|_| state::StateError::Gone(o.id.to_string()))?.save_if_creator(&st, st.creator_pid)?;
    crate::failpoint::hit("restore:after-state-saved");
    if let Some(path) = o.pid_file {
        crate::create::write_pid_file(path, pid)?;
    }
    undo.cgroup = None;
    undo.dir = None;
    Ok(pid)
}

/// The record written before criu runs: "creating", no pid, this process as its creator.
fn first_record(o: &RestoreOptions, bundle: &Path, plan: &Plan, cgroup: libcgroups::CgroupState) -> ContainerState {
    let me = std::process::id() as i32;
    ContainerState {
        format: FORMAT,
        id: o.id.to_string(),
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.to_path_buf(),
        rootfs: plan.rootfs.clone(),
        created: crate::rfc3339::now(),
        owner_uid: nix::unistd::geteuid().as_raw(),
        status: Status::Creating,
        annotations: plan.annotations.clone(),
        cgroup: Some(cgroup),
        poststart: plan.hooks.poststart().clone(),
        poststop: plan.hooks.poststop().clone(),
        namespaces: crate::create::created_namespaces(plan),
        joined_namespaces: Some(crate::create::joined_namespaces(plan)),
        systemd_cgroup: o.systemd_cgroup,
        seccomp: plan.seccomp.clone(),
        trace_context: crate::telemetry::traceparent(),
        personality: plan.process.extra.personality,
        creator_pid: me,
        creator_start_time: state::process_start_time(me).unwrap_or(0),
    }
}

/// Binds the rootfs (recursively) on `target`, which criu wants as a mount point. The bind
/// keeps the rootfs' propagation: criu copies the sharing of the restored root from it
/// (a private bind fails under a shared `/`, as systemd mounts it). Unmounting it later
/// does not reach the container, whose root is not mounted at this mount point.
fn bind_rootfs(rootfs: &Path, target: &Path) -> Result<(), ContainerError> {
    mount(Some(rootfs), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map(drop)
        .map_err(|e| ContainerError::sys(format!("bind rootfs {rootfs:?} on {target:?}"), e))
}

/// Creates the mount points of bind mounts that a fresh rootfs may lack (criu only mounts),
/// inside the rootfs and fd-relative (`in_root`), as create does.
fn make_bind_targets(plan: &Plan) -> Result<(), ContainerError> {
    let root = crate::rootfs::in_root::Root::open(&plan.rootfs).map_err(|e| ContainerError::sys(e.to_string(), e.source))?;
    for step in plan.mounts.iter().filter(|m| m.kind == MountKind::Bind) {
        let Some(src) = &step.source else { continue };
        let leaf = if src.is_dir() { crate::rootfs::in_root::Leaf::Dir } else { crate::rootfs::in_root::Leaf::File };
        root.make(&step.destination, leaf)
            .map_err(|e| ContainerError::sys(format!("create mount point {:?}: {} {:?}", step.destination, e.op, e.path), e.source))?;
    }
    Ok(())
}

/// Forks criu, puts it into the container's cgroup (with the spec's limits) before it runs (so everything it
/// restores is born there), lets it exec, and waits for it.
fn run_restore(
    plan: &CriuPlan,
    id: &str,
    cg: &dyn CgroupManager,
    cgroup_fd: Option<&OwnedFd>,
    ns_fds: &[OwnedFd],
    resources: Option<&oci_spec::runtime::LinuxResources>,
) -> Result<(), ContainerError> {
    let program = plan.program.clone();
    let cstr =
        |s: &str| CString::new(s).map_err(|_| ContainerError::sys(format!("criu argument {s:?} holds a NUL byte"), nix::Error::EINVAL));
    let prog = cstr(&program.to_string_lossy())?;
    let mut argv = vec![prog.clone()];
    for a in plan.args() {
        argv.push(cstr(&a)?);
    }
    tracing::debug!(args = ?plan.args(), "running criu");
    let (gate_r, gate_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ContainerError::sys("create a pipe", e))?;
    let keep: Vec<i32> = ns_fds.iter().map(|f| f.as_raw_fd()).collect();
    let child = crate::create::clone::clone_child(nix::sched::CloneFlags::empty(), cgroup_fd.map(|f| f.as_fd()), || {
        let mut b = [0u8; 1];
        // Wait until the parent has placed us in the cgroup (a byte), or gave up (EOF).
        if !matches!(nix::unistd::read(&gate_r, &mut b), Ok(1)) {
            return 1;
        }
        for fd in &keep {
            // SAFETY: clears close-on-exec of an fd this process owns; no memory involved.
            unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) };
        }
        let _ = nix::unistd::execvp(&prog, &argv);
        127
    })
    .map_err(|e| ContainerError::sys("fork for criu restore", e))?;
    drop(gate_r);
    // The cgroup and its limits are in place before criu restores anything into it (with
    // the systemd driver the scope only exists once criu's pid is in it).
    let placed = if child.in_cgroup { Ok(()) } else { cg.apply(child.pid.as_raw()) };
    let placed = placed.and_then(|()| resources.map(|r| cg.set_resources(r)).unwrap_or(Ok(())));
    if let Err(e) = placed {
        drop(gate_w);
        let _ = kill(child.pid, Signal::SIGKILL);
        let _ = waitpid(child.pid, None);
        return Err(e.into());
    }
    nix::unistd::write(&gate_w, b"g").map_err(|e| ContainerError::sys("release criu", e))?;
    drop(gate_w);
    let status = match waitpid(child.pid, None) {
        Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
        Ok(WaitStatus::Exited(_, 127)) => {
            return Err(CriuError::Spawn { action: "restore", program, source: std::io::Error::from_raw_os_error(libc::ENOENT) }.into())
        }
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => return Err(ContainerError::sys("wait for criu restore", e)),
    };
    Err(criu::failed(plan, id, status).into())
}

fn read_pid(path: &Path) -> Result<i32, CriuError> {
    let text = fs::read_to_string(path).map_err(criu::io("read criu pid file", path))?;
    text.trim().parse().map_err(|_| CriuError::NoPid { path: path.to_path_buf() })
}

/// Waits for the restored init, which is our child when we were its subreaper, and returns
/// its exit code (128+N for a signal). Without the subreaper the status is unknown: 0.
pub fn wait_exit(pid: i32, subreaper: bool) -> Result<i32, ContainerError> {
    if subreaper {
        return match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => Ok(128 + sig as i32),
            Ok(_) => Ok(0),
            Err(e) => Err(ContainerError::sys(format!("wait for restored pid {pid}"), e)),
        };
    }
    let Ok(pidfd) = crate::create::clone::pidfd_open(pid) else { return Ok(0) };
    let mut fds = [nix::poll::PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN)];
    loop {
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Ok(_) => return Ok(0),
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(ContainerError::sys(format!("wait for restored pid {pid}"), e)),
        }
    }
}

/// Unmounts the rootfs bind and removes its (then empty) directory.
fn release_criu_root(slot: &mut Option<PathBuf>) -> Result<(), ContainerError> {
    let Some(target) = slot.take() else { return Ok(()) };
    match umount2(&target, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (the bind never happened).
        Ok(()) | Err(nix::Error::EINVAL) => {}
        Err(e) => {
            *slot = Some(target.clone());
            return Err(ContainerError::sys(format!("unmount {target:?}"), e));
        }
    }
    // rmdir, not remove_dir_all: if anything were still mounted there it must fail.
    fs::remove_dir(&target).map_err(|e| ContainerError::sys(format!("remove {target:?}"), crate::syserror::errno_of(&e)))
}

/// What a failed restore takes back: restored processes, the cgroup, the rootfs bind and
/// the state directory.
struct Undo {
    dir: Option<PathBuf>,
    cgroup: Option<Box<dyn CgroupManager>>,
    criu_root: Option<PathBuf>,
}

impl Undo {
    fn run(&mut self) {
        let unmounted = match release_criu_root(&mut self.criu_root) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("cleanup after failed restore: {}", crate::error_chain::chain(&e));
                false
            }
        };
        if let Some(cg) = self.cgroup.take() {
            for p in cg.pids().unwrap_or_default() {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            // The killed processes leave the cgroup asynchronously.
            for _ in 0..100 {
                if cg.pids().map(|p| p.is_empty()).unwrap_or(true) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if let Err(e) = cg.remove() {
                tracing::warn!("cleanup after failed restore: {e}");
            }
        }
        // Never remove the state directory while the rootfs may still be bound inside it.
        // Nor one that a delete --force (or a new container) took over meanwhile.
        let ours = |dir: &PathBuf| match state::read_record(dir) {
            Ok(state::Record::State(st)) => st.creator_pid == std::process::id() as i32,
            Ok(state::Record::Missing) => true,
            _ => false,
        };
        if let Some(dir) = self.dir.take().filter(|d| unmounted && ours(d)) {
            if let Err(e) = fs::remove_dir_all(&dir) {
                tracing::warn!("cleanup after failed restore: remove {dir:?}: {e}");
            }
        }
    }
}
