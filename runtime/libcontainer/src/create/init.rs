//! The child side of `create` (comm `youki:init`): every setup stage in order, then the wait
//! on the exec fifo and the launch of the container process by the executor (an execve by
//! default). See `channel` for the protocol.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcgroups::CgroupView;

use crate::create::channel::{ChildEnd, ChildError, ToInit, ToParent};
use crate::create::stage::Stage;
use crate::create::state::OciState;
use crate::create::timeline::Timeline;
use crate::executor::{Executor, Workload};
use crate::hooks;
use crate::namespaces;
use crate::plan::Plan;
use crate::process::process_setup::{self, Prepared, SeccompSetup};
use crate::process::tty;
use crate::rootfs::{self, dev, in_root, masks, procfs};
use crate::syserror::{Context, SysError};

/// Everything the child needs, prepared by the parent before clone.
pub struct InitContext<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub plan: &'a Plan,
    pub channel: ChildEnd,
    /// The container's state directory, O_PATH: reaches the exec fifo after pivot_root.
    pub state_dir: OwnedFd,
    pub console: Option<OwnedFd>,
    /// Connected to linux.seccomp.listenerPath when the filter has notify rules.
    pub seccomp_listener: Option<OwnedFd>,
    /// linux.seccomp's program, compiled (or read from the cache) by the parent.
    pub seccomp_filter: Option<&'a crate::process::seccomp::Filter>,
    pub views: Vec<CgroupView>,
    pub notify_socket: Option<PathBuf>,
    /// fds 3 .. 3+N stay open in the container.
    pub preserve_fds: i32,
    pub extra_env: Vec<String>,
    pub new_keyring: bool,
    pub no_pivot: bool,
    /// In a user namespace (new or joined): devices are bound, not made.
    pub in_user_ns: bool,
    /// The namespaces init joins by path (all but the user namespace), opened by the parent.
    pub namespaces: namespaces::Opened<'a>,
    /// Runs the container process once it is started.
    pub executor: &'a dyn Executor,
}

/// Runs the child and returns its exit code: on failure, or when the executor ran the
/// workload in this process (an execve never returns).
pub fn run(ctx: InitContext) -> i32 {
    set_comm("youki:init");
    match stages(&ctx) {
        Ok((prepared, fifo)) => {
            // Every fd the runtime holds goes with the handover: an executor that runs the
            // workload in this process must not leave it the state directory or the channel.
            let InitContext { channel, state_dir, console, seccomp_listener, .. } = ctx;
            let fds = [Some(fifo), Some(state_dir), Some(channel.into_fd()), console, seccomp_listener];
            process_setup::launch(prepared, fds.into_iter().flatten().collect()).unwrap_or_else(|e| after_ready(&e))
        }
        Err(Failure::Setup(e)) => {
            let _ = ctx.channel.send(&ToParent::Failed(e));
            1
        }
        Err(Failure::AfterReady(e)) => after_ready(&e),
    }
}

/// A failure once `create` has returned: the parent is gone, stderr is the only place left
/// to say it.
fn after_ready(e: &ChildError) -> i32 {
    eprintln!("youki: {e}");
    127
}

enum Failure {
    Setup(ChildError),
    AfterReady(ChildError),
}

impl From<ChildError> for Failure {
    fn from(e: ChildError) -> Self {
        Failure::Setup(e)
    }
}

/// Every stage up to the start of the workload: returns it prepared, with the exec fifo that
/// stays open until it begins.
fn stages(ctx: &InitContext) -> Result<(Prepared, OwnedFd), Failure> {
    let plan = ctx.plan;
    let mut tl = Timeline::default();

    let idmapped = crate::rootfs::idmap_tree::receive_trees(plan, &ctx.channel).stage("sync")?;
    let host_pid = match ctx.channel.recv().stage("sync")? {
        ToInit::Proceed { host_pid, join_cgroup } => {
            // First, while still in the host's user and cgroup namespaces.
            crate::create::self_join::join(&join_cgroup)?;
            host_pid
        }
        other => return Err(protocol("Proceed", &other).into()),
    };
    // Until execve, /proc/PID/exe of this process is the youki binary on the host; a
    // non-dumpable process keeps other processes in the container from opening it. Not
    // before Proceed: an unprivileged parent writes our id maps, which needs us dumpable.
    crate::failpoint::hit("init:after-proceed");
    process_setup::set_oom_score_adj(&plan.process)?;
    crate::process::identity::set_dumpable(false);
    // Hooks in the container namespaces see the pid as the container sees it (runtime-spec).
    let state = |status: &str| OciState::for_hooks(ctx.id, status, nix::unistd::getpid().as_raw(), ctx.bundle, &plan.annotations);

    set_comm("youki:ns");
    tl.stage("namespaces", || -> Result<(), ChildError> {
        if plan.id_maps.is_some() {
            become_root().stage("user namespace")?;
        }
        // Made here, not by clone: the parent has put us in our cgroup by now, and the new
        // namespace's root is the cgroup we are in.
        if plan.new_cgroup_ns {
            nix::sched::unshare(namespaces::NsKind::Cgroup.flag()).ctx(|| "unshare the cgroup namespace").stage("namespaces")?;
        }
        // A joined user namespace: init was born in it (`userns_clone`), and the parent
        // opened the other namespace files for us before, while host root's files (a CNI
        // netns) were in reach.
        if plan.joins.iter().any(|j| j.kind == namespaces::NsKind::User) {
            become_root().stage("user namespace")?;
        }
        for ns in ctx.namespaces.in_order() {
            ns.enter().stage("namespaces")?;
        }
        nix::unistd::setsid().ctx(|| "setsid").stage("namespaces")?;
        if let Some(h) = &plan.hostname {
            nix::unistd::sethostname(h).ctx(|| format!("set hostname {h:?}")).stage("hostname")?;
        }
        if let Some(d) = &plan.domainname {
            set_domainname(d).stage("hostname")?;
        }
        if ctx.new_keyring {
            join_session_keyring(ctx.id).stage("keyring")?;
        }
        Ok(())
    })?;

    // setresuid in a user namespace may have cleared the death signal: arm it again (the
    // parent is still alive if Proceed came and the channel is open; a race shows as EOF).
    crate::create::clone::arm_parent_death();
    crate::failpoint::hit("init:after-namespaces");
    set_comm("youki:mounts");
    tl.stage("mounts", || -> Result<(), ChildError> {
        if !plan.new_mount_ns {
            return Ok(());
        }
        rootfs::prepare(plan).stage("rootfs")?;
        // Mount targets are /proc/self/fd/N of the host's procfs until pivot_root.
        procfs::ProcRoot::host().map_err(SysError::from).stage("mounts")?;
        let root = in_root::Root::open(&plan.rootfs).map_err(SysError::from).stage("rootfs")?;
        rootfs::mount_all(plan, &root, &ctx.views, idmapped).stage("mounts")?;
        if rootfs::wants_devices(plan) {
            dev::create_devices(plan, &root, ctx.in_user_ns).stage("devices")?;
            dev::dev_symlinks(&root).stage("devices")?;
        }
        if let Some(sock) = &ctx.notify_socket {
            rootfs::bind_notify_socket(&root, sock).stage("mounts")?;
        }
        // As runc: a missing cwd is made (0755, resolved inside the root, after the mounts
        // and before a read-only root), so a workingDir the image lacks still works.
        root.make(&plan.process.cwd, in_root::Leaf::Dir).map_err(SysError::from).stage("cwd")?;
        Ok(())
    })?;

    crate::failpoint::hit("init:after-mounts");
    let runtime_hooks = plan.hooks.prestart().as_ref().is_some_and(|h| !h.is_empty())
        || plan.hooks.create_runtime().as_ref().is_some_and(|h| !h.is_empty());
    if runtime_hooks {
        ctx.channel.send(&ToParent::MountsReady).stage("sync")?;
        match ctx.channel.recv().stage("sync")? {
            ToInit::HooksDone => {}
            other => return Err(protocol("HooksDone", &other).into()),
        }
    }
    set_comm("youki:hooks");
    tl.stage("hook:createContainer", || {
        hooks::run_all("createContainer", plan.hooks.create_container(), &state("creating")).stage("hooks")
    })?;

    set_comm("youki:pivot");
    tl.stage("pivot_root", || -> Result<(), ChildError> {
        if !plan.new_mount_ns {
            return Ok(());
        }
        if ctx.no_pivot { rootfs::move_root(&plan.rootfs) } else { rootfs::pivot(&plan.rootfs) }.stage("pivot_root")?;
        rootfs::root_propagation(plan).stage("rootfsPropagation")
    })?;

    crate::failpoint::hit("init:after-pivot");
    set_comm("youki:rootfs");
    tl.stage("finish rootfs", || -> Result<(), ChildError> {
        if let Some(sock) = &ctx.console {
            tty::setup(sock, true, plan.process.console_size).stage("console")?;
        }
        if !plan.sysctl.is_empty() {
            let proc = procfs::ProcRoot::open().map_err(SysError::from).stage("sysctl")?;
            for (key, value) in &plan.sysctl {
                let path = procfs::sysctl_path(key);
                proc.write(&path, value.as_bytes())
                    .map_err(|e| SysError::new(format!("write sysctl {key:?} = {value:?}: {e}"), e.source))
                    .stage("sysctl")?;
            }
        }
        if plan.new_mount_ns {
            masks::mask_paths(&plan.masked_paths).stage("maskedPaths")?;
            masks::readonly_paths(&plan.readonly_paths).stage("readonlyPaths")?;
        }
        if plan.rootfs_readonly && plan.new_mount_ns {
            rootfs::readonly_root().stage("rootfs")?;
        }
        Ok(())
    })?;

    let p = &plan.process;
    set_comm("youki:process");
    // The user switch below would clear the death signal anyway, and nothing may be called
    // after the seccomp filter: from here on a dead parent shows as EOF on the channel.
    crate::create::clone::disarm_parent_death();
    let listener_state = serde_json::json!({
        "ociVersion": crate::create::state::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": host_pid,
        "metadata": plan.seccomp.as_ref().and_then(|s| s.listener_metadata().clone()).unwrap_or_default(),
        "state": OciState::for_hooks(ctx.id, "creating", host_pid, ctx.bundle, &plan.annotations),
    });
    let seccomp = plan.seccomp.as_ref().zip(ctx.seccomp_filter).map(|(spec, filter)| SeccompSetup {
        spec,
        filter,
        listener: ctx.seccomp_listener.as_ref(),
        listener_state,
    });
    let env: Vec<String> = p.env.iter().chain(&ctx.extra_env).cloned().collect();
    let workload = Workload { args: &p.args, env: &env, cwd: &p.cwd, annotations: &plan.annotations };
    if let Some(policy) = &plan.memory_policy {
        crate::plan::mempolicy::apply(policy).stage("memoryPolicy")?;
    }
    let prepared = tl.stage("process", || process_setup::apply(p, seccomp.as_ref(), ctx.preserve_fds, ctx.executor, &workload))?;

    crate::failpoint::hit("init:before-ready");
    set_comm("youki:init");
    ctx.channel.send(&ToParent::Ready { timeline: tl }).stage("sync")?;
    crate::failpoint::hit("init:after-ready");
    match ctx.channel.recv().stage("sync").map_err(Failure::AfterReady)? {
        ToInit::Committed => {}
        other => return Err(Failure::AfterReady(protocol("Committed", &other))),
    }
    crate::failpoint::hit("init:after-commit");
    let fifo = wait_for_start(&ctx.state_dir).stage("start").map_err(Failure::AfterReady)?;
    hooks::run_all("startContainer", plan.hooks.start_container(), &state("created"))
        .stage("startContainer hooks")
        .map_err(Failure::AfterReady)?;
    crate::failpoint::hit("init:after-start-hooks");
    // One byte says "started"; the fifo then stays open until the workload begins (execve
    // closes it, CLOEXEC, or the executor ends the handover).
    nix::unistd::write(&fifo, b"0").ctx(|| "write the exec fifo").stage("start").map_err(Failure::AfterReady)?;
    Ok((prepared, fifo))
}

fn protocol<T: std::fmt::Debug>(want: &str, got: &T) -> ChildError {
    ChildError { stage: "sync".into(), op: format!("expected {want} from the parent, got {got:?}"), errno: None, detail: None }
}

/// Sets the comm name, so `ps` and tracers (task_rename) can tell the stages apart: init is
/// `youki:init` while it waits, and `youki:ns`, `youki:mounts`, `youki:hooks`, `youki:pivot`,
/// `youki:rootfs` and `youki:process` during setup.
pub fn set_comm(name: &str) {
    if let Ok(c) = CString::new(name) {
        // SAFETY: PR_SET_NAME reads at most 16 bytes of a valid C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr() as libc::c_ulong, 0, 0, 0) };
    }
}

fn become_root() -> Result<(), SysError> {
    let root_g = nix::unistd::Gid::from_raw(0);
    let root_u = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_g, root_g, root_g).ctx(|| "setgid 0 in the user namespace")?;
    nix::unistd::setresuid(root_u, root_u, root_u).ctx(|| "setuid 0 in the user namespace")
}

fn set_domainname(name: &str) -> Result<(), SysError> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    let rc = unsafe { libc::setdomainname(name.as_ptr() as *const libc::c_char, name.len()) };
    if rc != 0 {
        return Err(SysError::new(format!("set domainname {name:?}"), nix::Error::last()));
    }
    Ok(())
}

fn join_session_keyring(id: &str) -> Result<(), SysError> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    let name = CString::new(format!("_ses.{id}")).map_err(|_| SysError::new("keyring name", nix::Error::EINVAL))?;
    // SAFETY: keyctl with a valid C string.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if rc < 0 {
        let e = nix::Error::last();
        // Kernels without keyrings, or a seccomp filter around us, are not our problem.
        if e == nix::Error::ENOSYS {
            return Ok(());
        }
        return Err(SysError::new("join a new session keyring", e));
    }
    Ok(())
}

/// Blocks until `youki start` opens the fifo for reading.
fn wait_for_start(state_dir: &OwnedFd) -> Result<OwnedFd, SysError> {
    nix::fcntl::openat(
        state_dir,
        crate::create::state::FIFO,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| "open the exec fifo")
}
