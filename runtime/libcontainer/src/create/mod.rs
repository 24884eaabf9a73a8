//! `create`: from a bundle to an init that waits for `start`. This module is the parent side:
//! load and plan, state directory, cgroup, the single clone, the sync with init (see
//! `channel`), runtime hooks, then state "created" and the pid file. The folder holds the
//! steps in between: the state directory (`state`), the clone (`clone`, `userns_clone`,
//! `userns_maps`, `rootless`, `self_join`), the channel and init's stages (`channel`, `init`, `stage`,
//! `timeline`), the pidfd handed out once created (`pidfd_socket`), and the exec trampoline
//! (`dmz`).

pub mod caller;
pub mod channel;
pub mod clone;
pub mod dmz;
pub mod init;
pub mod pidfd_socket;
pub mod rootless;
pub mod self_join;
pub mod stage;
pub mod state;
pub mod timeline;
pub mod userns_clone;
pub mod userns_maps;

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use libcgroups::CgroupManager;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::create::channel::{ChannelError, ToInit, ToParent};
use crate::create::clone::clone_child;
use crate::create::init::InitContext;
use crate::create::state::{ContainerDir, ContainerState, OciState, Status, FORMAT};
use crate::create::timeline::Timeline;
use crate::error::ContainerError;
use crate::executor::{Executor, Workload};
use crate::hooks;
use crate::namespaces::{self, NsKind};
use crate::plan::host::HostFacts;
use crate::plan::{self, Plan};
use crate::process::tty;

pub use crate::process::tty::Console;

pub struct CreateOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub console: Console,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    pub systemd_cgroup: bool,
    /// An unprivileged caller: id maps through the one-id rule or newuidmap, cgroups only
    /// where writable.
    pub rootless: bool,
    /// Runs the container process once it is started (`executor::DefaultExecutor` execs it).
    pub executor: &'a dyn Executor,
    /// `--pidfd-socket`: where a pidfd of init goes once it is ready.
    pub pidfd_socket: Option<&'a Path>,
}

/// A created container, waiting on its exec fifo.
pub struct Created {
    pub pid: Pid,
    pub pidfd: Option<OwnedFd>,
    pub timeline: Timeline,
    pub state: ContainerState,
    /// With `Console::Proxy` and a terminal: where init sends the pty master.
    pub console: Option<OwnedFd>,
}

/// Reads and parses config.json, naming the file and the position of a JSON error.
pub fn load_spec(bundle: &Path) -> Result<(PathBuf, Spec), ContainerError> {
    load_config(bundle).map(|(bundle, spec, _)| (bundle, spec))
}

/// What config.json says that oci-spec 0.8's types drop, read beside the typed spec.
#[derive(Debug, Default)]
pub struct RawExtras {
    /// Each mount's `uidMappings` and `gidMappings` (`idmap::from_config`).
    pub mount_maps: Vec<crate::plan::idmap::MountMappings>,
    /// Seccomp flags oci-spec cannot parse (see `seccomp::RawFlags`).
    pub seccomp_flags: crate::process::seccomp::RawFlags,
}

/// `load_spec`, with what oci-spec drops (`RawExtras`).
pub fn load_config(bundle: &Path) -> Result<(PathBuf, Spec, RawExtras), ContainerError> {
    let bundle = fs::canonicalize(bundle).map_err(|source| ContainerError::Bundle { path: bundle.to_path_buf(), source })?;
    let path = bundle.join("config.json");
    let data = fs::read(&path).map_err(|source| ContainerError::ReadConfig { path: path.clone(), source })?;
    let (spec, extras) = parse_config(&data, &path)?;
    Ok((bundle, spec, extras))
}

/// Parses the bytes of config.json (`path` only names it in errors). Pure: the fuzz target
/// in tests/fuzz drives it, and `plan` after it, with arbitrary input.
pub fn parse_config(data: &[u8], path: &Path) -> Result<(Spec, RawExtras), ContainerError> {
    // Parsed from the bytes (not from a Value) so that errors keep their line and column, and
    // through serde_path_to_error so that they name the field.
    let mut de = serde_json::Deserializer::from_slice(data);
    let typed: Result<Spec, _> = serde_path_to_error::deserialize(&mut de);
    let mut raw: serde_json::Value = serde_json::from_slice(data).map_err(|source| ContainerError::InvalidConfig {
        path: path.to_path_buf(),
        field: String::new(),
        source,
    })?;
    let invalid = |e: serde_path_to_error::Error<serde_json::Error>| ContainerError::InvalidConfig {
        path: path.to_path_buf(),
        field: e.path().to_string(),
        source: e.into_inner(),
    };
    let seccomp_flags = crate::process::seccomp::RawFlags::take(&mut raw);
    let spec = match typed {
        Ok(spec) => spec,
        // Scheduler flags as runtime-spec 1.2 names them, which oci-spec spells otherwise.
        Err(_) if crate::plan::process_extra::respell_sched_flags(raw.get_mut("process")) | seccomp_flags.any() => {
            serde_path_to_error::deserialize(raw.clone()).map_err(invalid)?
        }
        Err(e) => return Err(invalid(e)),
    };
    crate::plan::validate::check_raw(&raw).map_err(ContainerError::Spec)?;
    let mount_maps = crate::plan::idmap::from_config(&raw)
        .map_err(|(dest, e)| ContainerError::Spec(crate::plan::validate::SpecError::MountOption { dest, why: e.into() }))?;
    Ok((spec, RawExtras { mount_maps, seccomp_flags }))
}

/// Plans a parsed config with what oci-spec dropped put back. Pure.
pub fn plan_config(spec: &Spec, extras: &RawExtras, bundle: &Path, host: &HostFacts) -> Result<Plan, ContainerError> {
    let mut plan = plan::plan_with_mount_mappings(spec, &extras.mount_maps, bundle, host).map_err(ContainerError::Spec)?;
    extras.seccomp_flags.restore(plan.seccomp.as_mut());
    Ok(plan)
}

pub fn create(mut o: CreateOptions) -> Result<Created, ContainerError> {
    crate::telemetry::attr("container.id", o.id);
    let (bundle, host, plan) = crate::telemetry::span("load and plan", || -> Result<_, ContainerError> {
        let (bundle, spec, extras) = load_config(o.bundle)?;
        let host = HostFacts::read(&spec)?;
        let plan = plan_config(&spec, &extras, &bundle, &host)?;
        Ok((bundle, host, plan))
    })?;
    crate::telemetry::attr("bundle", bundle.display().to_string());
    if let Some(tp) = plan.annotations.get(crate::telemetry::TRACEPARENT_ANNOTATION) {
        crate::telemetry::adopt_parent(tp);
    }
    crate::telemetry::k8s_attrs(&plan.annotations);
    if !plan.rootfs.is_dir() {
        return Err(ContainerError::NoRootfs(plan.rootfs.clone()));
    }
    let p = &plan.process;
    let workload = Workload { args: &p.args, env: &p.env, cwd: &p.cwd, annotations: &plan.annotations };
    o.executor.can_handle(&workload).map_err(|reason| ContainerError::NoExecutor { program: p.args[0].clone(), reason })?;
    // Compiled here, before anything is made: a profile libseccomp refuses leaves nothing.
    let filter =
        crate::telemetry::span("seccomp", || plan.seccomp.as_ref().map(|s| crate::process::seccomp_cache::compile(o.root, s)).transpose())?;
    let (keep, console) = Console::endpoints(std::mem::replace(&mut o.console, Console::None), plan.process.terminal)?;
    let cgroup = libcgroups::manager(&host.cgroups, plan.cgroups_path.as_deref(), o.id, o.systemd_cgroup)?;
    // A user without a delegated cgroup tree runs without a cgroup, as runc does. With the
    // systemd driver the user's systemd makes the scope and delegates it.
    let cgroup = if o.rootless && !o.systemd_cgroup && !crate::create::rootless::cgroup_writable(&cgroup.state()) {
        tracing::warn!("rootless: no writable cgroup for {:?}; running without one", o.id);
        None
    } else {
        Some(cgroup)
    };
    // From the first thing made on, a caller that dies no longer kills this create half-way;
    // it is checked before the last commit (see `caller`).
    let caller = caller::Caller::hold();
    let dir = ContainerDir::create(o.root, o.id)?;
    crate::failpoint::hit("create:after-state-dir");
    // The first record, before anything else exists: whatever happens from here on, a
    // `delete --force` finds the cgroup (and later the pid) in it.
    let record = first_record(&o, &bundle, &plan, cgroup.as_ref().map(|c| c.state()));
    let mut undo = Undo { dir: Some(dir.path.clone()), cgroup: None, child: None };
    if let Err(e) = dir.save(&record).and_then(|()| state::save_recovery(&dir.path, &record)) {
        drop(dir);
        undo.run();
        return Err(e.into());
    }
    drop(dir); // the lock: held only around reading and writing state
    crate::failpoint::hit("create:after-record");
    let planned = Planned { bundle: &bundle, plan: &plan, seccomp_filter: filter.as_ref(), caller: &caller };
    let mut result = create_in(&o, planned, cgroup, console, record, &mut undo);
    match result.as_mut() {
        Ok(created) => created.console = keep,
        Err(e) => {
            // A `delete --force` meanwhile kills init: say that, not "channel closed".
            if !matches!(e, ContainerError::State(state::StateError::Gone(_))) && !still_ours(&undo) {
                *e = state::StateError::Gone(o.id.to_string()).into();
            }
            undo.run();
        }
    }
    result
}

/// Whether the container's directory still holds this create's record.
fn still_ours(undo: &Undo) -> bool {
    let Some(dir) = &undo.dir else { return true };
    match state::read_record(dir) {
        Ok(state::Record::State(st)) => st.creator_pid == std::process::id() as i32,
        Ok(state::Record::Missing) => true,
        _ => false,
    }
}

/// What `create` decided before the first record: the bundle, the plan and its seccomp
/// program, and who called it.
struct Planned<'a> {
    bundle: &'a Path,
    plan: &'a Plan,
    seccomp_filter: Option<&'a crate::process::seccomp::Filter>,
    caller: &'a caller::Caller,
}

fn create_in(
    o: &CreateOptions,
    planned: Planned,
    cgroup: Option<Box<dyn CgroupManager>>,
    console: Option<OwnedFd>,
    mut st: ContainerState,
    undo: &mut Undo,
) -> Result<Created, ContainerError> {
    let Planned { bundle, plan, seccomp_filter, caller } = planned;
    let dir_path = undo.dir.clone().unwrap_or_default();
    let fifo = dir_path.join(state::FIFO);
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622))
        .map_err(|e| ContainerError::sys(format!("create exec fifo {fifo:?}"), e))?;
    // Init may run as another uid (a user namespace); the umask must not take its write bit.
    nix::sys::stat::fchmodat(nix::fcntl::AT_FDCWD, &fifo, Mode::from_bits_truncate(0o622), nix::sys::stat::FchmodatFlags::FollowSymlink)
        .map_err(|e| ContainerError::sys(format!("chmod exec fifo {fifo:?}"), e))?;
    let state_dir = state::open_dir_path(&dir_path)?;
    let (parent, child_end) = channel::pair()?;
    let views = cgroup.as_ref().map(|c| c.views()).unwrap_or_default();
    undo.cgroup = cgroup;

    let notify_socket = std::env::var_os("NOTIFY_SOCKET").map(PathBuf::from).filter(|p| p.exists());
    let mut extra_env = Vec::new();
    if notify_socket.is_some() {
        extra_env.push(format!("NOTIFY_SOCKET={}", crate::NOTIFY_SOCKET_IN_CONTAINER));
    }
    let mut preserve_fds = o.preserve_fds;
    if let Some(n) = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse::<i32>().ok()).filter(|n| *n > 0) {
        preserve_fds += n;
        extra_env.push(format!("LISTEN_FDS={n}"));
        extra_env.push("LISTEN_PID=1".to_string());
    }
    let seccomp_listener =
        match plan.seccomp.as_ref().filter(|s| crate::process::seccomp::uses_notify(s)).and_then(|s| s.listener_path().clone()) {
            Some(path) => Some(tty::connect(&path).map_err(|source| ContainerError::SeccompListener { path, source })?),
            None => None,
        };
    let pidfd_socket = o.pidfd_socket.map(crate::create::pidfd_socket::connect).transpose()?;
    let in_user_ns = plan.id_maps.is_some() || plan.joins.iter().any(|j| j.kind == NsKind::User);
    // Every namespace joined by path is opened here, before init goes into a joined user
    // namespace where host root's files are out of reach (`userns_clone`).
    let joined_userns = plan.joins.iter().find(|j| j.kind == NsKind::User).map(|j| namespaces::open(j.kind, &j.path)).transpose()?;
    let opened = namespaces::open_all(plan.joins.iter().filter(|j| j.kind != NsKind::User))?;
    let ctx = InitContext {
        id: o.id,
        bundle,
        plan,
        channel: child_end,
        state_dir,
        console,
        seccomp_listener,
        seccomp_filter,
        views,
        notify_socket,
        preserve_fds,
        extra_env,
        new_keyring: !o.no_new_keyring,
        no_pivot: o.no_pivot,
        in_user_ns,
        namespaces: opened,
        executor: o.executor,
    };

    // v1 and hybrid, as root of our user namespace: the child moves itself into its v1
    // hierarchies and is born in the unified one (libcgroups::SelfJoin). Otherwise, on cgroup
    // v2 the directories exist before the child, which is born inside them.
    let in_user_ns = plan.clone_flags.contains(nix::sched::CloneFlags::CLONE_NEWUSER) || plan.id_maps.is_some() || joined_userns.is_some();
    let self_join = match undo.cgroup.as_ref() {
        Some(cg) if self_join::allowed(in_user_ns, nix::unistd::geteuid().is_root(), o.rootless) => cg.prepare_self_join(true)?,
        _ => None,
    };
    let cgroup_dir = match (undo.cgroup.as_ref(), &self_join) {
        (Some(cg), None) => cg.prepare()?,
        _ => None,
    };
    let clone_into = match &self_join {
        Some(j) => j.v2_dir.as_ref().map(|fd| fd.as_fd()),
        None => cgroup_dir.as_ref().map(|fd| fd.as_fd()),
    };
    crate::failpoint::hit("create:before-clone");
    let child = crate::telemetry::span("clone", || -> Result<_, ContainerError> {
        let mut for_child = namespaces::ForChildren::default();
        if let Some(path) = &plan.pid_join {
            for_child.join(NsKind::Pid, path)?;
        }
        if let Some(offsets) = &plan.time_offsets {
            for_child.new_time(&offsets.iter().map(|o| format!("{} {} {}\n", o.clock, o.secs, o.nanos)).collect::<String>())?;
        }
        let parent_end = &parent;
        let run_init = move || {
            parent_end.close_copy_in_child();
            init::run(ctx)
        };
        let cloned = match &joined_userns {
            Some(userns) => crate::create::userns_clone::clone_in(userns.as_fd(), plan.joined_id_maps.as_ref(), plan.clone_flags, run_init)
                .map_err(|e| ContainerError::sys(e.op, e.errno)),
            None => clone_child(plan.clone_flags, clone_into, run_init).map_err(|e| ContainerError::sys("clone the container process", e)),
        };
        for_child.restore()?;
        cloned
    })?;
    let pid = child.pid;
    undo.child = Some(pid);
    crate::failpoint::hit("create:after-clone");
    st.pid = pid.as_raw();
    st.pid_start_time = state::process_start_time(pid.as_raw()).unwrap_or(0);

    crate::telemetry::attr_int("pid", pid.as_raw() as i64);
    if let Some(cg) = undo.cgroup.as_ref() {
        crate::telemetry::attr("cgroup.path", cg.state().path);
        let placed = crate::telemetry::span("cgroup", || -> Result<(), ContainerError> {
            match &self_join {
                // The unified part, when clone3 could not place the child there.
                Some(j) if !child.in_cgroup => j.place_v2(pid.as_raw())?,
                Some(_) => {}
                None if !child.in_cgroup => cg.apply(pid.as_raw())?,
                None => {}
            }
            if let Some(r) = &plan.resources {
                cg.set_resources(r)?;
            }
            Ok(())
        });
        placed?;
    }
    crate::failpoint::hit("create:after-cgroup");
    if plan.intel_rdt {
        crate::plan::intel_rdt::setup(bundle, o.id, pid.as_raw(), &dir_path)?;
    }
    if let Some(maps) = &plan.id_maps {
        crate::create::rootless::write_id_maps(pid, maps, o.rootless)?;
    }
    crate::rootfs::idmap_tree::send_trees(plan, pid, &parent)?;
    if !plan.net_devices.is_empty() {
        let netns = match plan.joins.iter().find(|j| j.kind == NsKind::Net) {
            Some(j) => j.path.clone(),
            None => PathBuf::from(format!("/proc/{pid}/ns/net")),
        };
        crate::telemetry::span("netDevices", || crate::net::net_devices::move_all(&plan.net_devices, &netns))
            .map_err(|e| ContainerError::sys(e.op, e.errno))?;
    }
    let join_cgroup = self_join.map(|j| j.tasks).unwrap_or_default();
    parent.send(&ToInit::Proceed { host_pid: pid.as_raw(), join_cgroup })?;
    crate::failpoint::hit("create:after-proceed");
    // The record with the pid is committed while init sets up its mounts: its fsyncs (on a
    // disk-backed root, most of a commit) overlap the child's work instead of preceding it.
    // Until this commit is durable a dead runtime still takes init with it: init dies with
    // us (parent-death signal, then EOF on the channel once it changes credentials), and the
    // "creating" record already names every cgroup for a later `delete --force`.
    save_ours(o, &st)?;
    crate::failpoint::hit("create:after-pid-record");

    let timeline = loop {
        match parent.recv() {
            Ok(ToParent::MountsReady) => {
                crate::failpoint::hit("create:before-runtime-hooks");
                let hook_state = OciState::for_hooks(o.id, "creating", pid.as_raw(), bundle, &plan.annotations);
                hooks::run_all("prestart", plan.hooks.prestart(), &hook_state)?;
                hooks::run_all("createRuntime", plan.hooks.create_runtime(), &hook_state)?;
                parent.send(&ToInit::HooksDone)?;
            }
            Ok(ToParent::Ready { timeline }) => break timeline,
            Ok(ToParent::Failed(e)) => return Err(ContainerError::Init(e)),
            Ok(ToParent::Forked { .. }) | Err(ChannelError::Closed) => return Err(ContainerError::InitDied(reap(pid))),
            Err(e) => return Err(e.into()),
        }
    };

    crate::failpoint::hit("create:after-ready");
    if let Some(sock) = &pidfd_socket {
        crate::create::pidfd_socket::send(sock, pid, child.pidfd.as_ref().map(|fd| fd.as_fd()), crate::create::pidfd_socket::Kind::Init)?;
    }
    crate::telemetry::record_timeline(&timeline);
    // A caller that died meanwhile (a shim SIGKILLed on a timeout) leaves nobody to start or
    // delete the container, and a restarted containerd does not clean up a task it never
    // saw created: undo it rather than leave an init waiting forever.
    crate::failpoint::hit("create:before-caller-check");
    if caller.gone() {
        return Err(ContainerError::CallerGone(caller.pid().as_raw()));
    }
    st.created = crate::rfc3339::now();
    st.status = Status::Created;
    st.trace_context = crate::telemetry::traceparent();
    save_ours(o, &st)?;
    crate::failpoint::hit("create:after-state-saved");
    if let Some(path) = o.pid_file {
        write_pid_file(path, pid.as_raw())?;
    }
    // The handover: init stops dying with us once it reads this (it dies on EOF before).
    parent.send(&ToInit::Committed).map_err(|e| match e {
        ChannelError::Closed => ContainerError::InitDied(reap(pid)),
        e => e.into(),
    })?;
    crate::failpoint::hit("create:after-commit");
    // Success: nothing to undo.
    undo.cgroup = None;
    undo.child = None;
    undo.dir = None;
    Ok(Created { pid, pidfd: child.pidfd, timeline, state: st, console: None })
}

/// The record written before clone: status "creating", no pid yet, this process as its
/// creator, the cgroup and everything else a later delete needs.
fn first_record(o: &CreateOptions, bundle: &Path, plan: &Plan, cgroup: Option<libcgroups::CgroupState>) -> ContainerState {
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
        cgroup,
        poststart: plan.hooks.poststart().clone(),
        poststop: plan.hooks.poststop().clone(),
        namespaces: created_namespaces(plan),
        joined_namespaces: Some(joined_namespaces(plan)),
        systemd_cgroup: o.systemd_cgroup,
        seccomp: plan.seccomp.clone(),
        personality: plan.process.extra.personality,
        trace_context: crate::telemetry::traceparent(),
        creator_pid: me,
        creator_start_time: state::process_start_time(me).unwrap_or(0),
    }
}

/// Saves `st` under the lock, unless a `delete --force` took the container meanwhile.
fn save_ours(o: &CreateOptions, st: &ContainerState) -> Result<(), ContainerError> {
    let dir = ContainerDir::open(o.root, o.id).map_err(|_| state::StateError::Gone(o.id.to_string()))?;
    Ok(dir.save_if_creator(st, st.creator_pid)?)
}

pub(crate) fn created_namespaces(plan: &Plan) -> Vec<NsKind> {
    [NsKind::User, NsKind::Mount, NsKind::Pid, NsKind::Net, NsKind::Ipc, NsKind::Uts, NsKind::Cgroup, NsKind::Time]
        .into_iter()
        .filter(|k| {
            plan.clone_flags.contains(k.flag())
                || (*k == NsKind::Time && plan.time_offsets.is_some())
                || (*k == NsKind::Cgroup && plan.new_cgroup_ns)
        })
        .collect()
}

/// The namespaces the container joins by path (the pid namespace among them).
pub(crate) fn joined_namespaces(plan: &Plan) -> Vec<NsKind> {
    let pid = plan.pid_join.as_ref().map(|_| NsKind::Pid);
    plan.joins.iter().map(|j| j.kind).chain(pid).collect()
}

/// Writes the pid file atomically, as runc does (no trailing newline).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), ContainerError> {
    let err = |source| ContainerError::PidFile { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("pid")));
    let mut f = File::create(&tmp).map_err(err)?;
    f.write_all(pid.to_string().as_bytes()).map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

/// Waits for a child that closed the channel and describes how it ended.
pub(crate) fn reap(pid: Pid) -> String {
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("wait failed: {e}"),
    }
}

/// What a failed create must take back: the child, the cgroup and the state directory
/// (only while it still holds this create's record).
struct Undo {
    dir: Option<PathBuf>,
    cgroup: Option<Box<dyn CgroupManager>>,
    child: Option<Pid>,
}

impl Undo {
    fn run(&mut self) {
        if let Some(pid) = self.child.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.remove() {
                tracing::warn!("cleanup after failed create: {e}");
            }
        }
        if still_ours(self) {
            if let Some(dir) = self.dir.take() {
                if let Err(e) = crate::plan::intel_rdt::remove_recorded(&dir) {
                    tracing::warn!("cleanup after failed create: {e}");
                }
                if let Err(e) = fs::remove_dir_all(&dir) {
                    tracing::warn!("cleanup after failed create: remove {dir:?}: {e}");
                }
            }
        }
    }
}
