//! `exec`: a new process in a running container. The parent enters the container's pid and
//! time namespaces just for the clone (as `create` does for joins), the child joins the rest
//! through /proc/PID/ns, the parent puts it in the container's cgroup, and the child applies
//! the process settings and the container's seccomp profile, then the executor launches it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use oci_spec::runtime::Process;

use crate::channel::{self, ChannelError, ChildError, ChildEnd, ToInit, ToParent};
use crate::clone::clone_child;
use crate::create::{write_pid_file, Console};
use crate::error::ContainerError;
use crate::executor::{Executor, Workload};
use crate::host::HostFacts;
use crate::namespaces::{self, NsKind};
use crate::plan::{self, ProcessPlan};
use crate::process_setup::{self, SeccompSetup};
use crate::stage::Stage;
use crate::state::{ContainerDir, Status};
use crate::syserror::Context;
use crate::{run, tty, tty_proxy};

pub struct ExecOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub process: Process,
    pub console: Console,
    pub pid_file: Option<&'a Path>,
    pub detach: bool,
    pub preserve_fds: i32,
    /// Runs the process inside the container.
    pub executor: &'a dyn Executor,
}

/// Flag overrides for `exec` without `--process`, applied to the container's own process.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// `UID[:GID]`
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub tty: bool,
    /// `--apparmor`: replaces process.apparmorProfile.
    pub apparmor: Option<String>,
    /// `--process-label`: replaces process.selinuxLabel.
    pub process_label: Option<String>,
}

/// Builds the exec'd process from the container's and the flags, as runc does: new args,
/// extra env appended, cwd, user and groups replaced, capabilities added. Pure.
pub fn process_from_flags(base: &Process, o: &Overrides) -> Result<Process, ContainerError> {
    let mut p = base.clone();
    p.set_args(Some(o.args.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(o.env.iter().cloned());
    p.set_env(Some(env));
    p.set_terminal(Some(o.tty));
    if let Some(cwd) = &o.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut user = p.user().clone();
    if let Some(spec) = &o.user {
        let (uid, gid) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec.as_str(), None),
        };
        let bad = || ContainerError::BadUser(spec.clone());
        user.set_uid(uid.parse().map_err(|_| bad())?);
        if let Some(g) = gid {
            user.set_gid(g.parse().map_err(|_| bad())?);
        }
    }
    if !o.additional_gids.is_empty() {
        user.set_additional_gids(Some(o.additional_gids.clone()));
    }
    p.set_user(user);
    if !o.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &o.caps {
            let short = name.strip_prefix("CAP_").unwrap_or(name);
            let cap: oci_spec::runtime::Capability = short.parse().map_err(|_| ContainerError::BadCapability(name.clone()))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, pm) = (add(caps.bounding()), add(caps.effective()), add(caps.permitted()));
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
        }
        p.set_capabilities(Some(caps));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if o.apparmor.is_some() {
        p.set_apparmor_profile(o.apparmor.clone());
    }
    if o.process_label.is_some() {
        p.set_selinux_label(o.process_label.clone());
    }
    Ok(p)
}

/// Runs the process; returns its exit code (0 with `detach`).
pub fn exec(o: ExecOptions) -> Result<i32, ContainerError> {
    crate::telemetry::attr("container.id", o.id);
    let mut plan = plan::plan_process_of(&o.process, crate::lsm::selinux_enabled()).map_err(ContainerError::Spec)?;
    let st = {
        let dir = ContainerDir::open(o.root, o.id)?;
        let st = dir.load()?;
        crate::telemetry::link_create(st.trace_context.as_deref());
        let status = st.live_status(&dir.path);
        if !matches!(status, Status::Created | Status::Running) {
            return Err(ContainerError::BadStatus { op: "exec into", id: o.id.to_string(), status });
        }
        st
    };
    // The container's personality holds for every process in it.
    plan.extra.personality = st.personality;
    let workload = Workload { args: &plan.args, env: &plan.env, cwd: &plan.cwd, annotations: &st.annotations };
    o.executor.can_handle(&workload).map_err(|reason| ContainerError::NoExecutor { program: plan.args[0].clone(), reason })?;
    let init = st.pid;
    let (mut keep, console) = Console::endpoints(o.console, plan.terminal)?;
    let joins = differing_namespaces(init)?;
    if !nix::unistd::geteuid().is_root() && joins.iter().any(|(k, _)| *k == NsKind::User) {
        // Joining the pid namespace would need the container's user namespace first, and
        // then a second fork; not done yet.
        return Err(ContainerError::Unsupported("exec into a rootless container"));
    }
    let sfd = if o.detach { None } else { Some(run::block_signals()?) };

    let (parent, child_end) = channel::pair()?;
    let ctx = ExecChild {
        plan: &plan,
        channel: child_end,
        joins: &joins,
        console,
        seccomp: st.seccomp.as_ref(),
        preserve_fds: o.preserve_fds,
        executor: o.executor,
        workload,
    };
    let mut for_child = namespaces::ForChildren::default();
    for (kind, path) in joins.iter().filter(|(k, _)| matches!(k, NsKind::Pid | NsKind::Time)) {
        for_child.join(*kind, path)?;
    }
    let cloned = clone_child(nix::sched::CloneFlags::empty(), None, move || ctx.run());
    for_child.restore()?;
    let child = cloned.map_err(|e| ContainerError::sys("clone the exec process", e))?;
    let pid = child.pid;
    // execCPUAffinity.initial: where the child runs before it joins the cgroup.
    let pinned = match &plan.extra.affinity.initial {
        Some(cpus) => crate::sched::set_affinity(pid.as_raw(), cpus).map_err(|e| ContainerError::sys(e.op, e.errno)),
        None => Ok(()),
    };
    let added = pinned.and_then(|()| match &st.cgroup {
        Some(cg) => HostFacts::read().map_err(ContainerError::from).and_then(|h| Ok(libcgroups::from_state(&h.cgroups, cg)?)).and_then(|m| Ok(m.add_task(pid.as_raw())?)),
        None => Ok(()),
    });
    if let Err(e) = added.and_then(|()| Ok(parent.send(&ToInit::Proceed { host_pid: pid.as_raw() })?)) {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err(e);
    }
    match parent.recv() {
        Ok(ToParent::Ready { .. }) => {}
        Ok(ToParent::Failed(e)) => {
            let _ = waitpid(pid, None);
            return Err(ContainerError::Init(e));
        }
        Ok(ToParent::MountsReady) | Err(ChannelError::Closed) => return Err(ContainerError::InitDied(crate::create::reap(pid))),
        Err(e) => return Err(e.into()),
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

/// The namespaces of `pid` that differ from ours, in join order.
fn differing_namespaces(pid: i32) -> Result<Vec<(NsKind, PathBuf)>, ContainerError> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for kind in [NsKind::User, NsKind::Ipc, NsKind::Uts, NsKind::Net, NsKind::Pid, NsKind::Cgroup, NsKind::Time, NsKind::Mount] {
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{}", kind.proc_name()));
        let ours = PathBuf::from(format!("/proc/self/ns/{}", kind.proc_name()));
        let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else { continue };
        if a.ino() != b.ino() || a.dev() != b.dev() {
            out.push((kind, theirs));
        }
    }
    Ok(out)
}

struct ExecChild<'a> {
    plan: &'a ProcessPlan,
    channel: ChildEnd,
    joins: &'a [(NsKind, PathBuf)],
    console: Option<OwnedFd>,
    seccomp: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    preserve_fds: i32,
    executor: &'a dyn Executor,
    workload: Workload<'a>,
}

impl ExecChild<'_> {
    fn run(self) -> i32 {
        crate::init::set_comm("youki:exec");
        // This process is visible inside the container and its exe is the host's youki
        // binary until execve: keep container processes from opening /proc/PID/exe.
        crate::identity::set_dumpable(false);
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

    fn stages(&self) -> Result<process_setup::Prepared, ChildError> {
        match self.channel.recv().stage("sync")? {
            ToInit::Proceed { .. } => {}
            other => {
                return Err(ChildError { stage: "sync".into(), op: format!("expected Proceed, got {other:?}"), errno: None, detail: None })
            }
        }
        for (kind, path) in self.joins.iter().filter(|(k, _)| !matches!(k, NsKind::Pid | NsKind::Time)) {
            namespaces::join(&namespaces::NamespaceJoin { kind: *kind, path: path.clone() }).stage("namespaces")?;
        }
        nix::unistd::setsid().ctx(|| "setsid").stage("namespaces")?;
        if let Some(sock) = &self.console {
            tty::setup(sock, false).stage("console")?;
        }
        let seccomp = self.seccomp.map(|spec| SeccompSetup { spec, listener: None, listener_state: serde_json::Value::Null });
        let prepared = process_setup::apply(self.plan, seccomp.as_ref(), self.preserve_fds, self.executor, &self.workload)?;
        self.channel.send(&ToParent::Ready { timeline: Default::default() }).stage("sync")?;
        Ok(prepared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Process {
        serde_json::from_value(serde_json::json!({
            "args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
        }))
        .unwrap()
    }

    #[test]
    fn flags_override_the_container_process() {
        let o = Overrides {
            args: vec!["ls".into(), "-l".into()],
            env: vec!["A=1".into()],
            cwd: Some("/tmp".into()),
            user: Some("1000:1001".into()),
            additional_gids: vec![5],
            caps: vec!["CAP_NET_ADMIN".into()],
            no_new_privs: true,
            tty: true,
            apparmor: Some("youki-test".into()),
            process_label: Some("u:r:t:s0".into()),
        };
        let p = process_from_flags(&base(), &o).unwrap();
        assert_eq!(p.apparmor_profile().as_deref(), Some("youki-test"));
        assert_eq!(p.selinux_label().as_deref(), Some("u:r:t:s0"));
        assert_eq!(p.args().as_deref().unwrap(), ["ls", "-l"]);
        assert_eq!(p.env().as_deref().unwrap(), ["PATH=/bin", "A=1"]);
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1001));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[5u32][..]));
        assert!(p.capabilities().as_ref().unwrap().bounding().as_ref().unwrap().contains(&oci_spec::runtime::Capability::NetAdmin));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(p.terminal(), Some(true));
    }

    #[test]
    fn bad_user_and_cap_are_named() {
        let o = Overrides { args: vec!["ls".into()], user: Some("bob".into()), ..Default::default() };
        assert_eq!(process_from_flags(&base(), &o).unwrap_err().to_string(), r#"invalid --user "bob": expected UID[:GID]"#);
        let o = Overrides { args: vec!["ls".into()], caps: vec!["CAP_NOPE".into()], ..Default::default() };
        assert_eq!(process_from_flags(&base(), &o).unwrap_err().to_string(), r#"invalid --cap "CAP_NOPE""#);
    }
}
