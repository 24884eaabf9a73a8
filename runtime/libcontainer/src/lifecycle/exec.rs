//! `exec`: a new process in a running container. The parent enters the container's pid and
//! time namespaces just for the clone (as `create` does for joins), the child joins the rest
//! through /proc/PID/ns, the parent puts it in the container's cgroup, and the child applies
//! the process settings and the container's seccomp profile, then the executor launches it.
//! An unprivileged caller takes the other `JoinRoute`: a first child joins the user namespace
//! and then all the others, and forks the process (a sibling, `ToParent::Forked`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::create::channel::{self, ChannelError, ChildEnd, ChildError, ToInit, ToParent};
use crate::create::clone::clone_child;
use crate::create::stage::Stage;
use crate::create::state::{ContainerDir, Status};
use crate::create::{write_pid_file, Console};
use crate::error::ContainerError;
use crate::executor::{Executor, Workload};
use crate::lifecycle::{run, tty_proxy};
use crate::namespaces::{self, NsKind};
use crate::plan::{self, ProcessPlan};
use crate::process::process_setup::{self, SeccompSetup};
use crate::process::tty;
use crate::syserror::Context;

pub struct ExecOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    /// Resolved against the container's config.json, read once the state is.
    pub process: crate::lifecycle::exec_process::ExecProcess,
    pub console: Console,
    pub pid_file: Option<&'a Path>,
    pub detach: bool,
    pub preserve_fds: i32,
    /// `--ignore-paused`: exec into a paused container too (the process joins its frozen
    /// cgroup and runs once the container is resumed).
    pub ignore_paused: bool,
    /// Runs the process inside the container.
    pub executor: &'a dyn Executor,
    /// `--cgroup`: the sub-cgroup(s) of the container's cgroup the process joins.
    pub sub_cgroups: &'a [String],
    /// `--pidfd-socket`: where a pidfd of the process goes once it is ready.
    pub pidfd_socket: Option<&'a Path>,
}

/// Runs the process; returns its exit code (0 with `detach`).
pub fn exec(o: ExecOptions) -> Result<i32, ContainerError> {
    crate::telemetry::attr("container.id", o.id);
    let sub_cgroups = crate::lifecycle::exec_cgroup::parse(o.sub_cgroups)?;
    let st = {
        let dir = ContainerDir::open(o.root, o.id)?;
        let st = dir.load()?;
        crate::telemetry::link_create(st.trace_context.as_deref());
        let status = st.live_status(&dir.path);
        let paused_ok = o.ignore_paused && status == Status::Paused;
        if !matches!(status, Status::Created | Status::Running) && !paused_ok {
            return Err(ContainerError::BadStatus { op: "exec into", id: o.id.to_string(), status });
        }
        (st, status)
    };
    let (st, status) = st;
    let container_process = crate::lifecycle::exec_process::container_process(&st.bundle)?;
    let process = crate::lifecycle::exec_process::resolve(o.process, container_process.as_ref(), o.id)?;
    let mut plan = plan::plan_process_of(&process, crate::process::lsm::selinux_enabled()).map_err(ContainerError::ExecProcess)?;
    // The cgroup the process joins: the container's, or the sub-cgroup `--cgroup` names,
    // which must exist already.
    let cgroup = match &st.cgroup {
        Some(cg) if !sub_cgroups.is_empty() => {
            let placed = crate::lifecycle::exec_cgroup::place(cg, &sub_cgroups)?;
            crate::lifecycle::exec_cgroup::check_exists(&placed)?;
            Some(placed)
        }
        None if !sub_cgroups.is_empty() => return Err(ContainerError::NoCgroup(o.id.to_string())),
        other => other.clone(),
    };
    // The container's personality holds for every process in it.
    plan.extra.personality = st.personality;
    let workload = Workload { args: &plan.args, env: &plan.env, cwd: &plan.cwd, annotations: &st.annotations };
    o.executor.can_handle(&workload).map_err(|reason| ContainerError::NoExecutor { program: plan.args[0].clone(), reason })?;
    // The container's profile, compiled (or read from the cache) before the child exists.
    let filter = st.seccomp.as_ref().map(|s| crate::process::seccomp_cache::compile(o.root, s)).transpose()?;
    let init = st.pid;
    let (mut keep, console) = Console::endpoints(o.console, plan.terminal)?;
    let pidfd_socket = o.pidfd_socket.map(crate::create::pidfd_socket::connect).transpose()?;
    let (joins, init_fd) = namespaces_to_join(o.id, &st)?;
    let init_process = init_fd.as_ref().map(|fd| (fd.as_fd(), init));
    let route = join_route(nix::unistd::geteuid().is_root(), &joins);
    // v1 and hybrid, as root without a user namespace to join: the process moves itself into
    // the v1 hierarchies and is born in the unified one (libcgroups::SelfJoin).
    // The manager is built once, for this and for the placement after the clone, where an
    // error in building it is reported.
    let manager = cgroup.as_ref().map(libcgroups::from_state);
    let in_user_ns = joins.iter().any(|(k, _)| *k == NsKind::User);
    let self_join = match &manager {
        Some(Ok(m)) if sub_cgroups.is_empty() && crate::create::self_join::allowed(in_user_ns, nix::unistd::geteuid().is_root(), false) => {
            m.prepare_self_join(false)?
        }
        _ => None,
    };
    let sfd = if o.detach { None } else { Some(run::block_signals()?) };
    // SCMP_ACT_NOTIFY: the exec'd process's notify fd goes to the listener too, as runc does.
    let listener = match st.seccomp.as_ref().filter(|s| crate::process::seccomp::uses_notify(s)).and_then(|s| s.listener_path().clone()) {
        Some(path) => Some(tty::connect(&path).map_err(|source| ContainerError::SeccompListener { path, source })?),
        None => None,
    };
    let listener_state = serde_json::json!({
        "ociVersion": crate::create::state::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": 0,
        "metadata": st.seccomp.as_ref().and_then(|s| s.listener_metadata().clone()).unwrap_or_default(),
        "state": crate::create::state::OciState::for_hooks(o.id, &status.to_string(), init, &st.bundle, &st.annotations),
    });

    let (parent, child_end) = channel::pair()?;
    let ctx = ExecChild {
        plan: &plan,
        channel: child_end,
        joins: &joins,
        init: init_process,
        route,
        console,
        seccomp: st.seccomp.as_ref().zip(filter.as_ref()),
        listener: listener.as_ref(),
        listener_state: &listener_state,
        preserve_fds: o.preserve_fds,
        executor: o.executor,
        workload,
    };
    let mut born_in_v2 = false;
    let pid = match route {
        JoinRoute::Direct => {
            let mut for_child = namespaces::ForChildren::default();
            for (kind, path) in joins.iter().filter(|(k, _)| route.parent_enters(*k)) {
                for_child.join_process(*kind, path, init_process)?;
            }
            let parent_end = &parent;
            let clone_into = self_join.as_ref().and_then(|j| j.v2_dir.as_ref()).map(|fd| fd.as_fd());
            let cloned = clone_child(nix::sched::CloneFlags::empty(), clone_into, move || {
                parent_end.close_copy_in_child();
                ctx.run()
            });
            for_child.restore()?;
            let cloned = cloned.map_err(|e| ContainerError::sys("clone the exec process", e))?;
            born_in_v2 = cloned.in_cgroup;
            cloned.pid
        }
        JoinRoute::ThroughUserNs => {
            let parent_end = &parent;
            let joiner = clone_child(nix::sched::CloneFlags::empty(), None, move || {
                parent_end.close_copy_in_child();
                ctx.join_and_fork()
            })
            .map_err(|e| ContainerError::sys("clone the exec process", e))?
            .pid;
            let forked = parent.recv();
            let _ = waitpid(joiner, None);
            match forked {
                Ok(ToParent::Forked { pid }) => Pid::from_raw(pid),
                Ok(ToParent::Failed(e)) => return Err(ContainerError::Init(e)),
                Ok(_) | Err(ChannelError::Closed) => return Err(ContainerError::InitGone),
                Err(e) => return Err(e.into()),
            }
        }
    };
    crate::failpoint::hit("exec:after-clone");
    // execCPUAffinity.initial: where the child runs before it joins the cgroup.
    let pinned = match &plan.extra.affinity.initial {
        Some(cpus) => crate::process::sched::set_affinity(pid.as_raw(), cpus).map_err(|e| ContainerError::sys(e.op, e.errno)),
        None => Ok(()),
    };
    // runc-exec(8): on cgroup v2, a container's cgroup that holds no processes of its own
    // (controllers enabled for its children) refuses one; without --cgroup the process then
    // joins the cgroup of the container's init.
    let busy_fallback = |cg: &libcgroups::CgroupState, e: libcgroups::CgroupError| -> Result<(), ContainerError> {
        if !sub_cgroups.is_empty() || !crate::lifecycle::exec_cgroup::is_busy(&e) {
            return Err(e.into());
        }
        let text = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap_or_default();
        match crate::lifecycle::exec_cgroup::init_fallback(cg, &text) {
            Some(fallback) => Ok(libcgroups::from_state(&fallback)?.add_task(pid.as_raw())?),
            None => Err(e.into()),
        }
    };
    // The v1 `tasks` files the child writes itself; none when the parent places it after all.
    let mut join_cgroup = self_join.as_ref().map(|j| j.tasks.clone()).unwrap_or_default();
    let added = pinned.and_then(|()| match (&cgroup, &self_join, manager) {
        (Some(cg), Some(j), _) if !born_in_v2 => match j.place_v2(pid.as_raw()) {
            Ok(()) => Ok(()),
            Err(e) => {
                join_cgroup.clear();
                busy_fallback(cg, e)
            }
        },
        (Some(_), Some(_), _) => Ok(()),
        (Some(cg), None, Some(m)) => match m.and_then(|m| m.add_task(pid.as_raw())) {
            Ok(()) => Ok(()),
            Err(e) => busy_fallback(cg, e),
        },
        _ => Ok(()),
    });
    // A user may exec into their own container without a writable cgroup, as they could
    // create it without one: the process then stays in the caller's cgroup.
    let added = match added {
        Err(ContainerError::Cgroup(e)) if !nix::unistd::geteuid().is_root() => {
            tracing::warn!(error = %e, "exec: the container's cgroup is not writable; the process stays in ours");
            Ok(())
        }
        other => other,
    };
    let added = added.and_then(|()| Ok(crate::plan::intel_rdt::join_recorded(&o.root.join(o.id), pid.as_raw())?));
    if let Err(e) = added.and_then(|()| Ok(parent.send(&ToInit::Proceed { host_pid: pid.as_raw(), join_cgroup })?)) {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err(e);
    }
    crate::failpoint::hit("exec:after-proceed");
    match parent.recv() {
        // The handover: the child stops waiting to die with us.
        Ok(ToParent::Ready { .. }) => {
            let _ = parent.send(&ToInit::Committed);
        }
        Ok(ToParent::Failed(e)) => {
            let _ = waitpid(pid, None);
            return Err(ContainerError::Init(e));
        }
        Ok(ToParent::MountsReady | ToParent::Forked { .. }) | Err(ChannelError::Closed) => {
            return Err(ContainerError::InitDied(crate::create::reap(pid)))
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(sock) = &pidfd_socket {
        if let Err(e) = crate::create::pidfd_socket::send(sock, pid, None, crate::create::pidfd_socket::Kind::Exec) {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return Err(e);
        }
    }
    // The child's end is close-on-exec, or closed by the executor's handover: EOF means the
    // program is starting.
    while parent.recv().is_ok() {}
    if let Some(path) = o.pid_file {
        write_pid_file(path, pid.as_raw())?;
    }
    let Some(sfd) = sfd else { return Ok(0) };
    let proxy = match keep.take() {
        Some(sock) => Some(tty_proxy::Proxy::new(tty_proxy::receive_master(&sock).map_err(|e| ContainerError::sys(e.op, e.errno))?)),
        None => None,
    };
    run::wait_for(pid, &sfd, proxy.as_ref())
}

/// The order namespaces are joined in: the user namespace first (it gives the rights to join
/// the others), the mount namespace last (joining it moves our root and cwd).
pub const JOIN_ORDER: [NsKind; 8] =
    [NsKind::User, NsKind::Ipc, NsKind::Uts, NsKind::Net, NsKind::Pid, NsKind::Cgroup, NsKind::Time, NsKind::Mount];

/// How `exec` learns whether to join one of init's namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinCheck {
    /// The container made it: it is no one else's, so it is joined without a look.
    Join,
    /// The container joined it by path, or the record does not say: joined where it differs
    /// from ours (it may be ours, and a user namespace cannot be entered again).
    Compare,
}

/// For each kind, in join order, whether it is joined outright or compared first; a kind the
/// container shares with the runtime (neither made nor joined) is left out, as runc leaves
/// out what config.json does not list. A record without the joined kinds (`None`, from an
/// older youki) compares every kind. Pure.
fn join_checks(created: &[NsKind], joined: Option<&[NsKind]>) -> Vec<(NsKind, JoinCheck)> {
    JOIN_ORDER
        .into_iter()
        .filter_map(|kind| match joined {
            _ if created.contains(&kind) => Some((kind, JoinCheck::Join)),
            Some(joined) if !joined.contains(&kind) => None,
            _ => Some((kind, JoinCheck::Compare)),
        })
        .collect()
}

/// The namespaces the process joins, with their /proc paths, and a pidfd of init.
type Joins = (Vec<(NsKind, PathBuf)>, Option<OwnedFd>);

/// The namespaces of init the process joins, in join order, as `join_checks` decides, and a
/// pidfd of init to join them through (None where pidfd_open fails). Only kinds to compare
/// read links: none for a container that made all its namespaces. Init's start time is
/// checked once the pidfd is open, so the pidfd cannot name a reused pid.
fn namespaces_to_join(id: &str, st: &crate::create::state::ContainerState) -> Result<Joins, ContainerError> {
    let pidfd = crate::create::clone::pidfd_open(st.pid).ok();
    if st.pid_start_time > 0 && crate::create::state::process_start_time(st.pid) != Some(st.pid_start_time) {
        return Err(ContainerError::BadStatus { op: "exec into", id: id.to_string(), status: Status::Stopped });
    }
    let checks = join_checks(&st.namespaces, st.joined_namespaces.as_deref());
    let compare: Vec<NsKind> = checks.iter().filter(|(_, c)| *c == JoinCheck::Compare).map(|(k, _)| *k).collect();
    let differing = if compare.is_empty() { Vec::new() } else { differing_namespaces(id, st.pid, st.pid_start_time, &compare)? };
    let joins = checks
        .into_iter()
        .filter(|(kind, check)| *check == JoinCheck::Join || differing.contains(kind))
        .map(|(kind, _)| (kind, PathBuf::from(format!("/proc/{}/ns/{}", st.pid, kind.proc_name()))))
        .collect();
    Ok((joins, pidfd))
}

/// The namespaces among `kinds` of `pid` that differ from ours. Compared by the links'
/// text (`ipc:[4026531839]`: the kind and the inode on nsfs), which the kernel formats
/// without the nsfs dentry a stat of the link allocates and frees each time; read relative
/// to the two `ns` directories, opened once. A kind this kernel lacks (no link on our side)
/// is skipped; init's links unreadable (it exited meanwhile) is an error, or the process
/// would run in our namespaces instead of the container's. `start` (init's start time) is
/// checked once the directory is open: a reused pid cannot pass off its namespaces as init's.
fn differing_namespaces(id: &str, pid: i32, start: u64, kinds: &[NsKind]) -> Result<Vec<NsKind>, ContainerError> {
    use nix::fcntl::{open, readlinkat, OFlag};
    let dir = |path: &str| {
        open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
            .map_err(|e| ContainerError::sys(format!("open {path}"), e))
    };
    let theirs_dir = format!("/proc/{pid}/ns");
    let (theirs, ours) = (dir(&theirs_dir)?, dir("/proc/self/ns")?);
    if start > 0 && crate::create::state::process_start_time(pid) != Some(start) {
        return Err(ContainerError::BadStatus { op: "exec into", id: id.to_string(), status: Status::Stopped });
    }
    let mut out = Vec::new();
    for &kind in kinds {
        let Ok(b) = readlinkat(&ours, kind.proc_name()) else { continue };
        let a =
            readlinkat(&theirs, kind.proc_name()).map_err(|e| ContainerError::sys(format!("read {theirs_dir}/{}", kind.proc_name()), e))?;
        if a != b {
            out.push(kind);
        }
    }
    Ok(out)
}

/// How `exec` enters the container's namespaces. Pure: chosen from who we are and which
/// namespaces differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRoute {
    /// The runtime may enter every namespace: it enters the pid and time namespaces itself
    /// just around the one clone (they only affect children), and the child joins the rest.
    Direct,
    /// An unprivileged runtime has no rights over the container's namespaces until it is in
    /// the container's user namespace, and a process that joined that one cannot go back: a
    /// first child joins the user namespace, then every other one (mount last), then forks
    /// the process that runs (CLONE_PARENT, so the runtime waits for it) into the pid and
    /// time namespaces, which only affect children.
    ThroughUserNs,
}

impl JoinRoute {
    /// Whether the runtime itself enters `kind` around the clone.
    pub fn parent_enters(self, kind: NsKind) -> bool {
        self == JoinRoute::Direct && matches!(kind, NsKind::Pid | NsKind::Time)
    }

    /// Whether the (first) child joins `kind` with setns.
    pub fn child_joins(self, kind: NsKind) -> bool {
        !self.parent_enters(kind)
    }
}

/// The route for these joins (in `differing_namespaces` order: user first, mount last).
pub fn join_route(euid_is_root: bool, joins: &[(NsKind, PathBuf)]) -> JoinRoute {
    if !euid_is_root && joins.iter().any(|(k, _)| *k == NsKind::User) {
        JoinRoute::ThroughUserNs
    } else {
        JoinRoute::Direct
    }
}

struct ExecChild<'a> {
    plan: &'a ProcessPlan,
    channel: ChildEnd,
    joins: &'a [(NsKind, PathBuf)],
    /// A pidfd of init and its pid, to join its namespaces in one setns where the kernel
    /// takes a pidfd (5.8); None where pidfd_open failed.
    init: Option<(BorrowedFd<'a>, i32)>,
    route: JoinRoute,
    console: Option<OwnedFd>,
    /// linux.seccomp and its program.
    seccomp: Option<(&'a crate::process::seccomp::Profile, &'a crate::process::seccomp::Filter)>,
    /// Connected to linux.seccomp.listenerPath when the profile has notify rules.
    listener: Option<&'a OwnedFd>,
    /// What the listener gets beside the fd; `pid` is filled in once known.
    listener_state: &'a serde_json::Value,
    preserve_fds: i32,
    executor: &'a dyn Executor,
    workload: Workload<'a>,
}

impl ExecChild<'_> {
    fn run(self) -> i32 {
        crate::create::init::set_comm("youki:exec");
        // This process is visible inside the container and its exe is the host's youki
        // binary until execve: keep container processes from opening /proc/PID/exe.
        crate::process::identity::set_dumpable(false);
        let prepared = match self.stages() {
            Ok(prepared) => prepared,
            Err(e) => {
                let _ = self.channel.send(&ToParent::Failed(e));
                return 1;
            }
        };
        let fds = [Some(self.channel.into_fd()), self.console];
        match process_setup::launch(prepared, fds.into_iter().flatten().collect()) {
            Ok(code) => code,
            Err(e) => {
                // The parent only waits for the process now; stderr is where this goes.
                eprintln!("youki: {e}");
                127
            }
        }
    }

    /// `JoinRoute::ThroughUserNs`, the first child: joins every namespace, forks the process
    /// that runs and tells the parent its pid, then exits.
    fn join_and_fork(self) -> i32 {
        crate::create::init::set_comm("youki:exec-join");
        // As for the process it forks: its exe is the host's youki binary.
        crate::process::identity::set_dumpable(false);
        let forked = process_setup::set_oom_score_adj(self.plan).and_then(|()| self.join_all()).and_then(|()| {
            let channel = self.channel.try_clone().ctx(|| "duplicate the exec channel").stage("sync")?;
            let console = self.console.as_ref().map(|c| c.try_clone()).transpose().ctx(|| "duplicate the console socket").stage("sync")?;
            let runner = ExecChild {
                plan: self.plan,
                channel,
                joins: &[],
                init: None,
                route: self.route,
                console,
                seccomp: self.seccomp,
                listener: self.listener,
                listener_state: self.listener_state,
                preserve_fds: self.preserve_fds,
                executor: self.executor,
                workload: self.workload,
            };
            let flags = nix::sched::CloneFlags::CLONE_PARENT;
            clone_child(flags, None, move || runner.run()).ctx(|| "fork into the container's pid namespace").stage("namespaces")
        });
        let msg = match forked {
            Ok(child) => ToParent::Forked { pid: child.pid.as_raw() },
            Err(e) => ToParent::Failed(e),
        };
        match self.channel.send(&msg) {
            Ok(()) if matches!(msg, ToParent::Forked { .. }) => 0,
            _ => 1,
        }
    }

    /// setns into every namespace this child joins: all at once through init's pidfd, or
    /// else opened first and joined in order (user first, so the others are joined with its
    /// rights; mount last).
    fn join_all(&self) -> Result<(), ChildError> {
        let joins: Vec<namespaces::NamespaceJoin> = self
            .joins
            .iter()
            .filter(|(k, _)| self.route.child_joins(*k))
            .map(|(kind, path)| namespaces::NamespaceJoin { kind: *kind, path: path.clone() })
            .collect();
        if let (Some((pidfd, pid)), false) = (self.init, joins.is_empty()) {
            let kinds: Vec<NsKind> = joins.iter().map(|j| j.kind).collect();
            match namespaces::enter_process(pidfd, pid, &kinds) {
                Ok(()) => return Ok(()),
                // A kernel without setns on a pidfd, or a namespace it refuses: kind by
                // kind, which names the one that fails.
                Err(namespaces::NamespaceError::JoinProcess { source: nix::Error::EINVAL, .. }) => {}
                Err(e) => return Err(e).stage("namespaces"),
            }
        }
        for ns in namespaces::open_all(&joins).stage("namespaces")?.in_order() {
            ns.enter().stage("namespaces")?;
        }
        Ok(())
    }

    fn stages(&self) -> Result<process_setup::Prepared, ChildError> {
        let host_pid = match self.channel.recv().stage("sync")? {
            ToInit::Proceed { host_pid, join_cgroup } => {
                // First, while still in the host's user, mount and cgroup namespaces.
                crate::create::self_join::join(&join_cgroup)?;
                host_pid
            }
            other => {
                return Err(ChildError { stage: "sync".into(), op: format!("expected Proceed, got {other:?}"), errno: None, detail: None })
            }
        };
        crate::failpoint::hit("exec-child:after-proceed");
        // On the rootless route the first child wrote it before it joined, for us.
        if self.route == JoinRoute::Direct {
            process_setup::set_oom_score_adj(self.plan)?;
        }
        self.join_all()?;
        nix::unistd::setsid().ctx(|| "setsid").stage("namespaces")?;
        if let Some(sock) = &self.console {
            tty::setup(sock, false, self.plan.console_size).stage("console")?;
        }
        let mut listener_state = self.listener_state.clone();
        listener_state["pid"] = serde_json::json!(host_pid);
        let seccomp = self.seccomp.map(|(spec, filter)| SeccompSetup { spec, filter, listener: self.listener, listener_state });
        // As in init: from here on (user switch, seccomp) a dead runtime shows as EOF.
        crate::create::clone::disarm_parent_death();
        let prepared = process_setup::apply(self.plan, seccomp.as_ref(), self.preserve_fds, self.executor, &self.workload)?;
        self.channel.send(&ToParent::Ready { timeline: Default::default() }).stage("sync")?;
        match self.channel.recv().stage("sync")? {
            ToInit::Committed => Ok(prepared),
            other => Err(ChildError { stage: "sync".into(), op: format!("expected Committed, got {other:?}"), errno: None, detail: None }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unprivileged_caller_joins_through_the_user_namespace() {
        let ns = |kinds: &[NsKind]| -> Vec<(NsKind, PathBuf)> { kinds.iter().map(|k| (*k, PathBuf::from("/proc/1/ns/x"))).collect() };
        let all = ns(&[NsKind::User, NsKind::Ipc, NsKind::Uts, NsKind::Pid, NsKind::Mount]);
        assert_eq!(join_route(true, &all), JoinRoute::Direct);
        assert_eq!(join_route(false, &all), JoinRoute::ThroughUserNs);
        // No user namespace to join: nothing to gain by joining one (and a non-root caller
        // then fails on the first setns, with its errno).
        assert_eq!(join_route(false, &ns(&[NsKind::Pid, NsKind::Mount])), JoinRoute::Direct);
        // Direct: the runtime enters pid and time around the clone, the child the rest.
        assert!(JoinRoute::Direct.parent_enters(NsKind::Pid) && JoinRoute::Direct.parent_enters(NsKind::Time));
        assert!(JoinRoute::Direct.child_joins(NsKind::Mount) && !JoinRoute::Direct.child_joins(NsKind::Pid));
        // Through the user namespace the child joins them all, pid and time for its fork.
        for k in [NsKind::User, NsKind::Pid, NsKind::Time, NsKind::Mount] {
            assert!(JoinRoute::ThroughUserNs.child_joins(k) && !JoinRoute::ThroughUserNs.parent_enters(k));
        }
        // Join order: user first, mount last.
        assert_eq!(JOIN_ORDER.first(), Some(&NsKind::User));
        assert_eq!(JOIN_ORDER.last(), Some(&NsKind::Mount));
    }

    #[test]
    fn namespaces_of_an_init_that_is_gone_or_replaced_are_an_error() {
        // A live process in our namespaces: nothing to join.
        let mut live = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let pid = live.id() as i32;
        let start = crate::create::state::process_start_time(pid).unwrap();
        assert!(differing_namespaces("c1", pid, start, &JOIN_ORDER).unwrap().is_empty());
        // The pid with another start time (a reused pid): not init's namespaces.
        let err = differing_namespaces("c1", pid, start + 1, &JOIN_ORDER).unwrap_err();
        assert_eq!(err.to_string(), r#"cannot exec into container "c1": it is stopped"#);
        live.kill().unwrap();
        live.wait().unwrap();
        // Gone: an error, never an empty list (which would run the process in ours).
        assert!(differing_namespaces("c1", pid, start, &JOIN_ORDER).is_err());
    }

    #[test]
    fn joins_come_with_a_pidfd_of_init_and_never_from_a_reused_pid() {
        let mut live = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let pid = live.id() as i32;
        let start = crate::create::state::process_start_time(pid).unwrap();
        let record = |start: u64, made: &[&str], joined: serde_json::Value| -> crate::create::state::ContainerState {
            serde_json::from_value(serde_json::json!({
                "format": 1, "id": "c1", "pid": pid, "pid_start_time": start, "bundle": "/b", "rootfs": "/b/rootfs",
                "created": "2026-12-07T00:00:00Z", "owner_uid": 0, "status": "running",
                "namespaces": made, "joined_namespaces": joined,
            }))
            .unwrap()
        };
        // A made namespace is joined without a look (the sleeper shares ours: no link read
        // would have found it different); a shared one is left; a joined one is compared.
        let (joins, pidfd) = namespaces_to_join("c1", &record(start, &["net"], serde_json::json!(["ipc"]))).unwrap();
        assert_eq!(joins, [(NsKind::Net, PathBuf::from(format!("/proc/{pid}/ns/net")))]);
        assert!(pidfd.is_some());
        // An older record: every kind compared, and none differs.
        assert!(namespaces_to_join("c1", &record(start, &[], serde_json::Value::Null)).unwrap().0.is_empty());
        // Another start time: a reused pid, whatever the record says.
        let err = namespaces_to_join("c1", &record(start + 1, &["net"], serde_json::json!([]))).unwrap_err();
        assert_eq!(err.to_string(), r#"cannot exec into container "c1": it is stopped"#);
        live.kill().unwrap();
        live.wait().unwrap();
    }

    #[test]
    fn made_namespaces_are_joined_joined_ones_compared_shared_ones_left() {
        use JoinCheck::*;
        // runc's default spec: pid, net, ipc, uts and mount made; the rest shared.
        let made = [NsKind::Pid, NsKind::Net, NsKind::Ipc, NsKind::Uts, NsKind::Mount];
        assert_eq!(
            join_checks(&made, Some(&[])),
            [(NsKind::Ipc, Join), (NsKind::Uts, Join), (NsKind::Net, Join), (NsKind::Pid, Join), (NsKind::Mount, Join)]
        );
        // A pod's container: the sandbox's net, ipc and uts by path, its own pid and mount.
        assert_eq!(
            join_checks(&[NsKind::Pid, NsKind::Mount], Some(&[NsKind::Net, NsKind::Ipc, NsKind::Uts])),
            [(NsKind::Ipc, Compare), (NsKind::Uts, Compare), (NsKind::Net, Compare), (NsKind::Pid, Join), (NsKind::Mount, Join)]
        );
        // An older record: every kind it did not make is compared, as before.
        let old = join_checks(&[NsKind::Mount], None);
        assert_eq!(old.len(), JOIN_ORDER.len());
        assert_eq!(old.last(), Some(&(NsKind::Mount, Join)));
        assert!(old[..old.len() - 1].iter().all(|(_, c)| *c == Compare));
    }
}
