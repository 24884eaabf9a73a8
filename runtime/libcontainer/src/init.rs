//! The child side of `create` (comm `youki:init`): every setup stage in order, then the wait
//! on the exec fifo and the execve of the container process. See `channel` for the protocol.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libcgroups::CgroupView;

use crate::channel::{ChildEnd, ChildError, ToInit, ToParent};
use crate::hooks::{self, HookError};
use crate::plan::Plan;
use crate::state::OciState;
use crate::syserror::{Context, SysError};
use crate::timeline::Timeline;
use crate::{dmz, identity, namespaces, rootfs, tty};

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
    pub views: Vec<CgroupView>,
    pub notify_socket: Option<PathBuf>,
    /// fds 3 .. 3+N stay open in the container.
    pub preserve_fds: i32,
    pub extra_env: Vec<String>,
    pub new_keyring: bool,
    pub no_pivot: bool,
    /// In a user namespace (new or joined): devices are bound, not made.
    pub in_user_ns: bool,
}

/// Runs the child and returns its exit code (only on failure; success ends in execve).
pub fn run(ctx: InitContext) -> i32 {
    set_comm("youki:init");
    match stages(&ctx) {
        Ok(never) => match never {},
        Err(Failure::Setup(e)) => {
            let _ = ctx.channel.send(&ToParent::Failed(e));
            1
        }
        Err(Failure::AfterReady(e)) => {
            // The parent is gone by now; stderr is the only place left to say it.
            eprintln!("youki: {e}");
            127
        }
    }
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

trait Stage<T> {
    fn stage(self, name: &str) -> Result<T, ChildError>;
}

impl<T> Stage<T> for Result<T, SysError> {
    fn stage(self, name: &str) -> Result<T, ChildError> {
        self.map_err(|e| ChildError { stage: name.to_string(), op: e.op, errno: Some(e.errno as i32), detail: None })
    }
}

impl<T> Stage<T> for Result<T, HookError> {
    fn stage(self, name: &str) -> Result<T, ChildError> {
        self.map_err(|e| {
            let detail = std::error::Error::source(&e).map(|s| s.to_string());
            ChildError { stage: name.to_string(), op: e.to_string(), errno: None, detail }
        })
    }
}

impl<T> Stage<T> for Result<T, crate::channel::ChannelError> {
    fn stage(self, name: &str) -> Result<T, ChildError> {
        self.map_err(|e| ChildError { stage: name.to_string(), op: e.to_string(), errno: None, detail: None })
    }
}

impl<T> Stage<T> for Result<T, namespaces::NamespaceError> {
    fn stage(self, name: &str) -> Result<T, ChildError> {
        self.map_err(|e| {
            let errno = match &e {
                namespaces::NamespaceError::Open { source, .. } => source.raw_os_error(),
                namespaces::NamespaceError::Join { source, .. } | namespaces::NamespaceError::Unshare { source, .. } => Some(*source as i32),
            };
            ChildError { stage: name.to_string(), op: e.to_string(), errno, detail: None }
        })
    }
}

fn stages(ctx: &InitContext) -> Result<Infallible, Failure> {
    let plan = ctx.plan;
    let mut tl = Timeline::default();

    let host_pid = match ctx.channel.recv().stage("sync")? {
        ToInit::Proceed { host_pid } => host_pid,
        other => return Err(protocol("Proceed", &other).into()),
    };
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
        for j in &plan.joins {
            namespaces::join(j).stage("namespaces")?;
            if j.kind == namespaces::NsKind::User {
                become_root().stage("user namespace")?;
            }
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

    set_comm("youki:mounts");
    tl.stage("mounts", || -> Result<(), ChildError> {
        if !plan.new_mount_ns {
            return Ok(());
        }
        rootfs::prepare(plan).stage("rootfs")?;
        rootfs::mount_all(plan, &ctx.views).stage("mounts")?;
        if rootfs::wants_devices(plan) {
            rootfs::create_devices(plan, ctx.in_user_ns).stage("devices")?;
            rootfs::dev_symlinks(&plan.rootfs).stage("devices")?;
        }
        if let Some(sock) = &ctx.notify_socket {
            rootfs::bind_notify_socket(&plan.rootfs, sock).stage("mounts")?;
        }
        Ok(())
    })?;

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
    tl.stage("hook:createContainer", || hooks::run_all("createContainer", plan.hooks.create_container(), &state("creating")).stage("hooks"))?;

    set_comm("youki:pivot");
    tl.stage("pivot_root", || -> Result<(), ChildError> {
        if !plan.new_mount_ns {
            return Ok(());
        }
        if ctx.no_pivot { rootfs::move_root(&plan.rootfs) } else { rootfs::pivot(&plan.rootfs) }.stage("pivot_root")?;
        rootfs::root_propagation(plan).stage("rootfsPropagation")
    })?;

    set_comm("youki:rootfs");
    tl.stage("finish rootfs", || -> Result<(), ChildError> {
        if let Some(sock) = &ctx.console {
            tty::setup(sock).stage("console")?;
        }
        for (key, value) in &plan.sysctl {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value).ctx(|| format!("write sysctl {key:?} = {value:?} to {path:?}")).stage("sysctl")?;
        }
        if plan.new_mount_ns {
            rootfs::mask_paths(&plan.masked_paths).stage("maskedPaths")?;
            rootfs::readonly_paths(&plan.readonly_paths).stage("readonlyPaths")?;
        }
        if plan.rootfs_readonly && plan.new_mount_ns {
            rootfs::readonly_root().stage("rootfs")?;
        }
        Ok(())
    })?;

    let p = &plan.process;
    set_comm("youki:process");
    let (exe, trampoline) = tl.stage("process", || -> Result<(CString, OwnedFd), ChildError> {
        if let Some(adj) = p.oom_score_adj {
            identity::set_oom_score_adj(adj).stage("oomScoreAdj")?;
        }
        identity::set_rlimits(p).stage("rlimits")?;
        let filter = match &plan.seccomp {
            Some(s) => Some(crate::seccomp::build(s).map_err(|e| child_error("seccomp", &e))?),
            None => None,
        };
        if let Some(caps) = &p.caps {
            identity::drop_bounding(caps).stage("capabilities")?;
        }
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the
        // capabilities go. With it, load it as late as possible.
        if !p.no_new_privileges {
            load_seccomp(ctx, filter.as_ref(), host_pid)?;
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
        prepare_fds(ctx.preserve_fds).stage("fds")?;
        if p.no_new_privileges {
            load_seccomp(ctx, filter.as_ref(), host_pid)?;
        }
        Ok((exe, trampoline))
    })?;

    set_comm("youki:init");
    ctx.channel.send(&ToParent::Ready { timeline: tl }).stage("sync")?;
    let fifo = wait_for_start(&ctx.state_dir).stage("start").map_err(Failure::AfterReady)?;
    hooks::run_all("startContainer", plan.hooks.start_container(), &state("created"))
        .stage("startContainer hooks")
        .map_err(Failure::AfterReady)?;
    // One byte says "started"; the fifo then stays open until execve closes it (CLOEXEC).
    nix::unistd::write(&fifo, b"0").ctx(|| "write the exec fifo").stage("start").map_err(Failure::AfterReady)?;
    exec(&trampoline, &exe, &p.args, p.env.iter().chain(ctx.extra_env.iter())).map_err(Failure::AfterReady)
}

fn child_error(stage: &str, e: &dyn std::error::Error) -> ChildError {
    ChildError { stage: stage.into(), op: e.to_string(), errno: None, detail: e.source().map(|s| s.to_string()) }
}

/// Loads the seccomp filter and, with notify rules, hands the listener its fd.
fn load_seccomp(ctx: &InitContext, filter: Option<&libseccomp::ScmpFilterContext>, host_pid: i32) -> Result<(), ChildError> {
    let (Some(filter), Some(spec)) = (filter, ctx.plan.seccomp.as_ref()) else { return Ok(()) };
    let notify = crate::seccomp::load(filter, ctx.seccomp_listener.is_some()).map_err(|e| child_error("seccomp", &e))?;
    if let (Some(fd), Some(sock)) = (notify, ctx.seccomp_listener.as_ref()) {
        let state = serde_json::json!({
            "ociVersion": crate::state::OCI_VERSION,
            "fds": ["seccompFd"],
            "pid": host_pid,
            "metadata": spec.listener_metadata().clone().unwrap_or_default(),
            "state": OciState::for_hooks(ctx.id, "creating", host_pid, ctx.bundle, &ctx.plan.annotations),
        });
        crate::seccomp::send_to_listener(sock, &fd, &state).stage("seccomp")?;
    }
    Ok(())
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

fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map(|s| s.trim() != "deny").unwrap_or(true)
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

/// Blocks until `youki start` opens the fifo for reading.
fn wait_for_start(state_dir: &OwnedFd) -> Result<OwnedFd, SysError> {
    nix::fcntl::openat(
        state_dir,
        crate::state::FIFO,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| "open the exec fifo")
}

/// Restores default signal handling and replaces this process with the container process,
/// through the trampoline (see `dmz`).
fn exec<'a>(trampoline: &OwnedFd, exe: &CString, args: &[String], env: impl Iterator<Item = &'a String>) -> Result<Infallible, ChildError> {
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

