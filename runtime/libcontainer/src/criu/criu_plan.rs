//! The pure half of checkpoint and restore: runc's flags, the container's plan and a few facts
//! read from the live container become one typed `CriuPlan`, and that becomes criu's argv.
//! No syscalls here; `checkpoint`, `restore` and `criu` do the effects.

use std::path::{Path, PathBuf};

use libcgroups::CgroupView;

use crate::namespaces::NsKind;
use crate::plan::{MountKind, Plan};

/// `--manage-cgroups-mode`, passed to criu's `--manage-cgroups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CgroupMode {
    #[default]
    Soft,
    Full,
    Strict,
    Ignore,
}

impl CgroupMode {
    fn criu_name(self) -> &'static str {
        match self {
            CgroupMode::Soft => "soft",
            CgroupMode::Full => "full",
            CgroupMode::Strict => "strict",
            CgroupMode::Ignore => "ignore",
        }
    }
}

/// The flags `checkpoint` and `restore` share (runc's names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CriuOptions {
    /// The criu binary (the global `--criu`); "criu" from PATH when empty.
    pub program: PathBuf,
    pub image_path: PathBuf,
    /// Where criu writes its log and work files; the image directory when None.
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub cgroup_mode: CgroupMode,
    /// `--empty-ns`: namespaces criu creates empty (only "network" is possible).
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
    pub lazy_pages: bool,
}

impl CriuOptions {
    pub fn work_dir(&self) -> &Path {
        self.work_path.as_deref().unwrap_or(&self.image_path)
    }

    fn program(&self) -> PathBuf {
        if self.program.as_os_str().is_empty() {
            PathBuf::from("criu")
        } else {
            self.program.clone()
        }
    }
}

/// The flags only `checkpoint` has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpOptions {
    pub criu: CriuOptions,
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub pre_dump: bool,
    pub tcp_skip_in_flight: bool,
    pub link_remap: bool,
    pub page_server: Option<String>,
    pub status_fd: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CriuAction {
    Dump,
    PreDump,
    Restore,
}

impl CriuAction {
    /// criu's subcommand.
    pub fn command(self) -> &'static str {
        match self {
            CriuAction::Dump => "dump",
            CriuAction::PreDump => "pre-dump",
            CriuAction::Restore => "restore",
        }
    }

    /// The log file criu writes in the work directory.
    pub fn log_name(self) -> &'static str {
        match self {
            CriuAction::Dump => "dump.log",
            CriuAction::PreDump => "pre-dump.log",
            CriuAction::Restore => "restore.log",
        }
    }
}

/// A mount whose source lies outside the container: criu records only its key at dump and
/// binds `host` there at restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalMount {
    /// The mount point inside the container, which is also the key in the images.
    pub key: PathBuf,
    pub host: PathBuf,
}

/// A namespace the container joined by path (net or pid): criu leaves it alone at dump and
/// enters the one given at restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalNs {
    pub kind: NsKind,
    pub path: PathBuf,
    /// Inode of the namespace at dump time (`stat` of the path).
    pub inode: u64,
}

impl ExternalNs {
    /// The name the images use for it.
    pub fn key(&self) -> String {
        format!("youki-external-{}", self.kind.proc_name())
    }
}

/// A standard stream (0, 1 or 2) of the container's init that is a pipe or a socket: at
/// restore criu reconnects it to the same fd of the restoring process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InheritedStdio {
    pub fd: i32,
    /// What /proc/PID/fd/N pointed to at dump, e.g. "pipe:[1234]".
    pub target: String,
}

/// What a dump learns from the live container and restore needs again, kept beside the
/// images as `DUMP_FACTS`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DumpFacts {
    /// Masked paths that were files (each an external /dev/null mount).
    pub masked_files: Vec<PathBuf>,
    /// fd 0, 1 and 2 of init as /proc/PID/fd showed them.
    pub stdio: Vec<(i32, String)>,
}

pub const DUMP_FACTS: &str = "youki-checkpoint.json";

/// Everything one criu run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriuPlan {
    pub program: PathBuf,
    pub action: CriuAction,
    pub images: PathBuf,
    pub work: PathBuf,
    /// The container's root as criu sees it: the rootfs at dump, a bind of it at restore.
    pub root: PathBuf,
    /// Dump: the container's init (host pid).
    pub tree: Option<i32>,
    /// Restore: where criu writes the restored init's host pid.
    pub pidfile: Option<PathBuf>,
    pub mounts: Vec<ExternalMount>,
    pub namespaces: Vec<ExternalNs>,
    /// Restore: the fd numbers (in criu) of each external namespace, in `namespaces` order.
    pub namespace_fds: Vec<i32>,
    pub stdio: Vec<InheritedStdio>,
    /// Restore: `--cgroup-root` values, `[controller:]/path`.
    pub cgroup_roots: Vec<String>,
    pub cgroup_mode: CgroupMode,
    pub flags: Vec<&'static str>,
    pub prev_images: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{flag} is not supported by youki (lazy migration and page servers are not implemented)")]
    Unsupported { flag: &'static str },
    #[error("invalid --empty-ns {0:?}: only \"network\" can be created empty")]
    EmptyNs(String),
    #[error("checkpoint of a container that joins an existing {0} namespace is not supported")]
    JoinedNamespace(&'static str),
    #[error("checkpoint of a container with a terminal is not supported")]
    Terminal,
}

/// Refuses what youki does not implement, with the flag's name.
pub fn check_common(o: &CriuOptions) -> Result<(), PlanError> {
    if o.lazy_pages {
        return Err(PlanError::Unsupported { flag: "--lazy-pages" });
    }
    if let Some(ns) = o.empty_ns.iter().find(|n| n.as_str() != "network") {
        return Err(PlanError::EmptyNs(ns.clone()));
    }
    Ok(())
}

fn check_dump(o: &DumpOptions) -> Result<(), PlanError> {
    check_common(&o.criu)?;
    if o.page_server.is_some() {
        return Err(PlanError::Unsupported { flag: "--page-server" });
    }
    if o.status_fd.is_some_and(|fd| fd >= 0) {
        return Err(PlanError::Unsupported { flag: "--status-fd" });
    }
    Ok(())
}

/// The mounts of the container whose source is on the host: bind mounts, the binds of the
/// container's cgroup directories, masked files (/dev/null over them), and in a user
/// namespace the device nodes, which are binds of the host's. `masked_files` are the masked
/// paths that are files in the running container (directories get an internal tmpfs).
pub fn external_mounts(plan: &Plan, views: &[CgroupView], masked_files: &[PathBuf], user_ns: bool) -> Vec<ExternalMount> {
    let mut out = Vec::new();
    for step in &plan.mounts {
        match &step.kind {
            MountKind::Bind => {
                if let Some(src) = &step.source {
                    out.push(ExternalMount { key: step.destination.clone(), host: src.clone() });
                }
            }
            MountKind::Cgroup => {
                for v in views {
                    let key = if v.name.is_empty() { step.destination.clone() } else { step.destination.join(&v.name) };
                    out.push(ExternalMount { key, host: v.host_dir.clone() });
                }
            }
            MountKind::Fs(_) => {}
        }
    }
    for p in masked_files {
        out.push(ExternalMount { key: p.clone(), host: PathBuf::from("/dev/null") });
    }
    if user_ns {
        for d in &plan.devices {
            out.push(ExternalMount { key: d.path.clone(), host: d.path.clone() });
        }
    }
    out
}

/// The joined namespaces criu must treat as external; other joined kinds are refused.
pub fn external_namespace_kinds(plan: &Plan) -> Result<Vec<(NsKind, PathBuf)>, PlanError> {
    let mut out = Vec::new();
    if let Some(p) = &plan.pid_join {
        out.push((NsKind::Pid, p.clone()));
    }
    for j in &plan.joins {
        match j.kind {
            NsKind::Net | NsKind::Pid => out.push((j.kind, j.path.clone())),
            other => return Err(PlanError::JoinedNamespace(other.proc_name())),
        }
    }
    Ok(out)
}

/// The standard streams worth reconnecting at restore: pipes and sockets.
pub fn inherited_stdio(targets: &[(i32, String)]) -> Vec<InheritedStdio> {
    targets
        .iter()
        .filter(|(fd, t)| (0..=2).contains(fd) && (t.starts_with("pipe:[") || t.starts_with("socket:[")))
        .map(|(fd, t)| InheritedStdio { fd: *fd, target: t.clone() })
        .collect()
}

/// What the live container tells the dump plan.
pub struct Live<'a> {
    pub pid: i32,
    pub rootfs: &'a Path,
    pub terminal: bool,
    pub mounts: Vec<ExternalMount>,
    pub namespaces: Vec<ExternalNs>,
}

fn common_flags(o: &CriuOptions) -> Vec<&'static str> {
    let mut f = Vec::new();
    for (on, flag) in [
        (o.tcp_established, "--tcp-established"),
        (o.ext_unix_sk, "--ext-unix-sk"),
        (o.shell_job, "--shell-job"),
        (o.file_locks, "--file-locks"),
        (o.auto_dedup, "--auto-dedup"),
    ] {
        if on {
            f.push(flag);
        }
    }
    if !o.empty_ns.is_empty() {
        f.extend(["--empty-ns", "net"]);
    }
    f
}

/// The plan of `checkpoint`: a dump, or a pre-dump with memory tracking.
pub fn dump_plan(o: &DumpOptions, live: Live) -> Result<CriuPlan, PlanError> {
    check_dump(o)?;
    if live.terminal {
        return Err(PlanError::Terminal);
    }
    let action = if o.pre_dump { CriuAction::PreDump } else { CriuAction::Dump };
    let mut flags = common_flags(&o.criu);
    if o.pre_dump || o.parent_path.is_some() {
        flags.push("--track-mem");
    }
    for (on, flag) in [
        // A pre-dump always leaves the container running.
        (o.leave_running && !o.pre_dump, "--leave-running"),
        (o.tcp_skip_in_flight, "--skip-in-flight"),
        (o.link_remap, "--link-remap"),
    ] {
        if on {
            flags.push(flag);
        }
    }
    Ok(CriuPlan {
        program: o.criu.program(),
        action,
        images: o.criu.image_path.clone(),
        work: o.criu.work_dir().to_path_buf(),
        root: live.rootfs.to_path_buf(),
        tree: Some(live.pid),
        pidfile: None,
        mounts: live.mounts,
        namespaces: live.namespaces,
        namespace_fds: Vec::new(),
        stdio: Vec::new(),
        cgroup_roots: Vec::new(),
        cgroup_mode: o.criu.cgroup_mode,
        flags,
        prev_images: o.parent_path.clone(),
    })
}

/// What restore has prepared before criu runs.
pub struct Prepared {
    pub root: PathBuf,
    pub pidfile: PathBuf,
    pub mounts: Vec<ExternalMount>,
    pub namespaces: Vec<ExternalNs>,
    pub namespace_fds: Vec<i32>,
    pub stdio: Vec<InheritedStdio>,
    pub cgroup_views: Vec<CgroupView>,
    pub cgroup_path: Option<String>,
}

/// The plan of `restore`: always detached (`-d`); youki waits itself when asked to.
pub fn restore_plan(o: &CriuOptions, p: Prepared) -> Result<CriuPlan, PlanError> {
    check_common(o)?;
    let cgroup_roots = match &p.cgroup_path {
        None => Vec::new(),
        Some(path) if p.cgroup_views.len() == 1 && p.cgroup_views[0].name.is_empty() => vec![path.clone()],
        Some(path) => p.cgroup_views.iter().map(|v| format!("{}:{path}", v.name)).collect(),
    };
    Ok(CriuPlan {
        program: o.program(),
        action: CriuAction::Restore,
        images: o.image_path.clone(),
        work: o.work_dir().to_path_buf(),
        root: p.root,
        tree: None,
        pidfile: Some(p.pidfile),
        mounts: p.mounts,
        namespaces: p.namespaces,
        namespace_fds: p.namespace_fds,
        stdio: p.stdio,
        cgroup_roots,
        cgroup_mode: o.cgroup_mode,
        flags: common_flags(o),
        prev_images: None,
    })
}

impl CriuPlan {
    /// criu's arguments, subcommand first.
    pub fn args(&self) -> Vec<String> {
        // --manage-cgroups takes an optional argument in criu's parser: it needs the '='.
        let mut a = vec![self.action.command().to_string(), format!("--manage-cgroups={}", self.cgroup_mode.criu_name())];
        let mut kv = |k: &str, v: String| {
            a.push(k.to_string());
            a.push(v);
        };
        kv("--images-dir", self.images.display().to_string());
        kv("--work-dir", self.work.display().to_string());
        kv("--log-file", self.action.log_name().to_string());
        kv("--root", self.root.display().to_string());
        if let Some(pid) = self.tree {
            kv("--tree", pid.to_string());
        }
        if let Some(p) = &self.pidfile {
            kv("--pidfile", p.display().to_string());
        }
        if let Some(p) = &self.prev_images {
            kv("--prev-images-dir", p.display().to_string());
        }
        let restore = self.action == CriuAction::Restore;
        for m in &self.mounts {
            let key = m.key.display();
            let v = if restore { format!("mnt[{key}]:{}", m.host.display()) } else { format!("mnt[{key}]:{key}") };
            kv("--external", v);
        }
        for (i, ns) in self.namespaces.iter().enumerate() {
            if restore {
                if let Some(fd) = self.namespace_fds.get(i) {
                    kv("--inherit-fd", format!("fd[{fd}]:{}", ns.key()));
                }
            } else {
                kv("--external", format!("{}[{}]:{}", ns.kind.proc_name(), ns.inode, ns.key()));
            }
        }
        for s in &self.stdio {
            kv("--inherit-fd", format!("fd[{}]:{}", s.fd, s.target));
        }
        for r in &self.cgroup_roots {
            kv("--cgroup-root", r.clone());
        }
        a.extend(self.flags.iter().map(|f| f.to_string()));
        if restore {
            a.push("--restore-detached".to_string());
        }
        a.push("-v4".to_string());
        a
    }
}

#[cfg(test)]
#[path = "criu_plan_tests.rs"]
mod tests;
