//! `plan`: the one pure step from a parsed config.json to everything `create` will do.
//! No syscalls here; `HostFacts` carries what little of the host the decisions need.
//! The folder holds the parts of that step: the rejections (`validate`), mount options,
//! process extras (LSM labels, scheduler, I/O priority, CPU affinity), idmapped mounts,
//! the memory policy and intelRdt (each with the few syscalls that apply it), the accepted
//! `ociVersion`, and the default config.json of `youki spec`.

pub mod cpu_list;
pub mod host;
pub mod idmap;
pub mod intel_rdt;
pub mod mempolicy;
pub mod mount_options;
pub mod oci_version;
pub mod process_extra;
pub mod spec_default;
pub mod validate;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::{Hooks, LinuxDeviceType, LinuxResources, Spec};

use crate::namespaces::{NamespaceJoin, NsKind};
use crate::plan::host::HostFacts;
use crate::plan::idmap::{ContainerUserns, MountMappings};
use crate::plan::mount_options::MountOptions;
use crate::plan::process_extra::ExtraPlan;
use crate::plan::validate::{sysctl_namespace, SpecError};

/// Everything `create` will do, decided before the first syscall.
#[derive(Debug, Clone)]
pub struct Plan {
    pub rootfs: PathBuf,
    pub rootfs_readonly: bool,
    /// Namespaces created by the single clone.
    pub clone_flags: CloneFlags,
    /// Namespaces the child enters by path, in the order the kernel needs.
    pub joins: Vec<NamespaceJoin>,
    /// A pid namespace joined by path: the parent enters it before clone so the child is born
    /// inside, which saves the second fork that a setns in the child would force.
    pub pid_join: Option<PathBuf>,
    /// Offsets of a new time namespace: the parent unshares it and writes them before clone,
    /// for the same reason.
    pub time_offsets: Option<Vec<TimeOffset>>,
    pub id_maps: Option<IdMaps>,
    /// `linux.uidMappings`/`gidMappings` given with a joined user namespace: not written, but
    /// checked by init against the maps of the namespace it joined.
    pub joined_id_maps: Option<IdMaps>,
    pub new_mount_ns: bool,
    pub new_cgroup_ns: bool,
    pub mounts: Vec<MountStep>,
    /// `linux.rootfsPropagation`; None means the default, rslave.
    pub rootfs_propagation: Option<MsFlags>,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub devices: Vec<DeviceNode>,
    pub sysctl: Vec<(String, String)>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub process: ProcessPlan,
    pub hooks: Hooks,
    pub seccomp: Option<crate::process::seccomp::Profile>,
    pub cgroups_path: Option<PathBuf>,
    pub resources: Option<LinuxResources>,
    pub annotations: HashMap<String, String>,
    /// `linux.netDevices`, moved by the parent into the container's network namespace.
    pub net_devices: Vec<crate::net::net_devices::NetDevice>,
    /// `linux.memoryPolicy`: set by init before the process setup, inherited by the workload.
    pub memory_policy: Option<crate::plan::mempolicy::MemPolicy>,
    /// `linux.intelRdt` is set (and resctrl mounted): create runs `intel_rdt::setup`.
    pub intel_rdt: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdMap {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMaps {
    pub uid: Vec<IdMap>,
    pub gid: Vec<IdMap>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOffset {
    /// "monotonic" or "boottime".
    pub clock: &'static str,
    pub secs: i64,
    pub nanos: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    /// `cgroup`: the container's own cgroup directories, bound under a tmpfs.
    Cgroup,
    /// Any filesystem mounted by type: proc, sysfs, tmpfs, devpts, mqueue, ...
    Fs(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountStep {
    pub kind: MountKind,
    pub source: Option<PathBuf>,
    /// Absolute, cleaned, inside the container.
    pub destination: PathBuf,
    pub options: MountOptions,
    /// `idmap`/`ridmap`: the id mapping the (bind) mount gets.
    pub idmap: Option<crate::plan::idmap::Idmap>,
    /// A bind whose source the parent opens as a detached tree (`idmap_tree`) for init to
    /// attach: every idmapped bind, and with real root every bind of a container in a user
    /// namespace, whose init could not reach a source under a directory closed to it.
    pub from_parent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
    Fifo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: DeviceKind,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

/// Capability sets as bit masks (bit N = capability number N).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPlan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub terminal: bool,
    /// `consoleSize` as (rows, columns), for the pty made with `terminal`.
    pub console_size: Option<(u16, u16)>,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub caps: Option<CapSets>,
    pub no_new_privileges: bool,
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adj: Option<i32>,
    /// LSM labels, scheduler, I/O priority, personality, exec CPU affinity.
    pub extra: ExtraPlan,
}

/// The devices every container gets, as the runtime-spec requires.
pub const DEFAULT_DEVICES: &[(&str, u64, u64)] =
    &[("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)];

/// Converts a parsed spec into a plan, or says exactly what is wrong with it.
pub fn plan(spec: &Spec, bundle: &Path, host: &HostFacts) -> Result<Plan, SpecError> {
    plan_with_mount_mappings(spec, &[], bundle, host)
}

/// `plan`, given the mounts' `uidMappings` and `gidMappings`, which oci-spec's types drop
/// (`idmap::from_config` reads them from config.json, one entry per mount).
pub fn plan_with_mount_mappings(spec: &Spec, mount_maps: &[MountMappings], bundle: &Path, host: &HostFacts) -> Result<Plan, SpecError> {
    let version = spec.version();
    crate::plan::oci_version::check(version).map_err(|e| match e {
        crate::plan::oci_version::VersionError::Syntax => SpecError::BadOciVersion(version.clone()),
        crate::plan::oci_version::VersionError::Major => SpecError::OciVersion(version.clone()),
    })?;
    let root = spec.root().as_ref().ok_or(SpecError::NoRoot)?;
    let rootfs = if root.path().is_absolute() { clean(root.path()) } else { clean(&bundle.join(root.path())) };
    let mut process = plan_process(spec, host.selinux)?;
    let linux = spec.linux().clone().unwrap_or_default();

    // Namespaces: decide create versus join for each, once.
    let mut clone_flags = CloneFlags::empty();
    let mut joins = Vec::new();
    let mut pid_join = None;
    let mut seen: Vec<NsKind> = Vec::new();
    for ns in linux.namespaces().as_deref().unwrap_or(&[]) {
        let kind = NsKind::from_spec(ns.typ());
        if seen.contains(&kind) {
            return Err(SpecError::DuplicateNamespace(kind.spec_name()));
        }
        seen.push(kind);
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                if !p.is_absolute() {
                    return Err(SpecError::RelativeNamespacePath { kind: kind.spec_name(), path: p.clone() });
                }
                if kind == NsKind::Pid {
                    pid_join = Some(p.clone());
                } else {
                    joins.push(NamespaceJoin { kind, path: p.clone() });
                }
            }
            _ => clone_flags |= kind.flag(),
        }
    }
    joins.sort_by_key(|j| j.kind.join_rank());
    // The cgroup namespace is unshared by init once it sits in its cgroup, not by clone.
    let new_cgroup_ns = clone_flags.contains(NsKind::Cgroup.flag());
    clone_flags.remove(NsKind::Cgroup.flag());
    let created = clone_flags;
    let creates = |k: NsKind| created.contains(k.flag());
    let has = |k: NsKind| seen.contains(&k);

    // User namespace and id mappings.
    let uid_maps = maps(linux.uid_mappings(), "uidMappings")?;
    let gid_maps = maps(linux.gid_mappings(), "gidMappings")?;
    let id_maps = if creates(NsKind::User) {
        if uid_maps.is_empty() || gid_maps.is_empty() {
            return Err(SpecError::UserNsWithoutMappings);
        }
        Some(IdMaps { uid: uid_maps.clone(), gid: gid_maps.clone() })
    } else {
        if (!uid_maps.is_empty() || !gid_maps.is_empty()) && !has(NsKind::User) {
            return Err(SpecError::MappingsWithoutUserNs);
        }
        None
    };
    // Mappings with a joined user namespace (config-linux.md allows them) describe that
    // namespace: init checks them against its maps once inside (`userns_check`).
    let joined_id_maps = if has(NsKind::User) && !creates(NsKind::User) && (!uid_maps.is_empty() || !gid_maps.is_empty()) {
        Some(IdMaps { uid: uid_maps, gid: gid_maps })
    } else {
        None
    };

    // Time namespace: offsets force the parent-side unshare.
    let mut time_offsets = None;
    if has(NsKind::Time) && !host.time_ns {
        return Err(SpecError::NoTimeNs);
    }
    if let Some(offsets) = linux.time_offsets() {
        if !offsets.is_empty() {
            if !creates(NsKind::Time) {
                return Err(SpecError::OffsetsWithoutTimeNs);
            }
            let mut list = Vec::new();
            let mut keys: Vec<&String> = offsets.keys().collect();
            keys.sort();
            for k in keys {
                let clock = match k.as_str() {
                    "monotonic" => "monotonic",
                    "boottime" => "boottime",
                    other => return Err(SpecError::UnknownClock(other.to_string())),
                };
                let o = &offsets[k];
                list.push(TimeOffset { clock, secs: o.secs().unwrap_or(0), nanos: o.nanosecs().unwrap_or(0) });
            }
            clone_flags.remove(NsKind::Time.flag());
            time_offsets = Some(list);
        }
    }

    // Hostname and domainname need a uts namespace of the container's (new or joined).
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(NsKind::Uts) {
        return Err(SpecError::NeedsUtsNs { field: "hostname" });
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(NsKind::Uts) {
        return Err(SpecError::NeedsUtsNs { field: "domainname" });
    }

    // Sysctl: only namespaced keys, and only when that namespace is the container's own.
    let mut sysctl: Vec<(String, String)> = linux.sysctl().clone().unwrap_or_default().into_iter().collect();
    sysctl.sort();
    for (key, _) in &sysctl {
        let kind = sysctl_namespace(key).map_err(|why| SpecError::Sysctl { key: key.clone(), why })?;
        // user.* limits the user namespace the writer is in: only a new one is the container's
        // alone (a joined one is shared, and without one it is the host's).
        let own = if kind == NsKind::User { creates(kind) } else { has(kind) };
        if !own {
            let why = match kind {
                NsKind::Net => "needs a network namespace",
                NsKind::Ipc => "needs an ipc namespace",
                NsKind::User => "needs a new user namespace",
                _ => "needs a uts namespace",
            };
            return Err(SpecError::Sysctl { key: key.clone(), why });
        }
    }

    let userns = crate::plan::idmap::container_userns(id_maps.as_ref(), joined_id_maps.as_ref(), &joins);
    let mut mounts = plan_mounts(spec, bundle, mount_maps, userns, host.real_root)?;
    if let Some(label) = linux.mount_label().as_deref().filter(|l| !l.is_empty()) {
        label_mounts(&mut mounts, label)?;
    }
    let rootfs_propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") => None,
        Some(p) => Some(mount_options::rootfs_propagation(p).ok_or_else(|| SpecError::RootfsPropagation(p.to_string()))?),
    };
    let devices = plan_devices(&linux)?;

    if let Some(s) = linux.seccomp() {
        crate::process::seccomp::validate(s)?;
    }
    if let Some(rdt) = linux.intel_rdt() {
        // The fields oci-spec carries are checked here (a stand-in id: the container's own is
        // checked with the rest of the object by `intel_rdt::setup`, in create).
        crate::plan::intel_rdt::plan(&crate::plan::intel_rdt::from_spec(rdt), "container")?;
        if !host.resctrl {
            return Err(SpecError::NoResctrl);
        }
    }
    if let Some(p) = linux.personality() {
        process.extra.personality = Some(process_extra::personality(p)?);
    }
    // execCPUAffinity is for processes that `exec` adds, not for the container's init.
    process.extra.affinity = Default::default();

    let net_devices = crate::net::net_devices::plan(&linux.net_devices().clone().unwrap_or_default(), &host.net_devices, has(NsKind::Net))?;

    let memory_policy = linux.memory_policy().as_ref().map(crate::plan::mempolicy::plan).transpose()?;

    let hooks = spec.hooks().clone().unwrap_or_default();
    check_hooks(&hooks)?;

    // The device cgroup must let the container use the devices it is given. What is appended
    // after the spec's rules only allows, so a rule already appended (the default nodes are
    // also in the default rules) is left out: one devices.allow write less for each on v1.
    let mut resources = linux.resources().clone();
    if let Some(r) = resources.as_mut() {
        let mut rules = r.devices().clone().unwrap_or_default();
        let from = rules.len();
        for rule in libcgroups::default_device_rules().into_iter().chain(devices.iter().filter_map(device_rule)) {
            if !rules[from..].contains(&rule) {
                rules.push(rule);
            }
        }
        r.set_devices(Some(rules));
    }

    Ok(Plan {
        rootfs,
        rootfs_readonly: root.readonly().unwrap_or(false),
        clone_flags,
        joins,
        pid_join,
        time_offsets,
        id_maps,
        joined_id_maps,
        new_mount_ns: creates(NsKind::Mount),
        new_cgroup_ns,
        mounts,
        rootfs_propagation,
        masked_paths: linux.masked_paths().clone().unwrap_or_default().into_iter().map(PathBuf::from).collect(),
        readonly_paths: linux.readonly_paths().clone().unwrap_or_default().into_iter().map(PathBuf::from).collect(),
        devices,
        sysctl,
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        process,
        hooks,
        seccomp: linux.seccomp().clone().map(crate::process::seccomp::Profile::from),
        cgroups_path: linux.cgroups_path().clone(),
        resources,
        annotations: spec.annotations().clone().unwrap_or_default(),
        net_devices,
        memory_policy,
        intel_rdt: linux.intel_rdt().is_some(),
    })
}

fn maps(list: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>, field: &'static str) -> Result<Vec<IdMap>, SpecError> {
    let mut out = Vec::new();
    for m in list.as_deref().unwrap_or(&[]) {
        if m.size() == 0 {
            return Err(SpecError::EmptyMapping { field });
        }
        out.push(IdMap { container: m.container_id(), host: m.host_id(), size: m.size() });
    }
    Ok(out)
}

fn plan_process(spec: &Spec, selinux_on: bool) -> Result<ProcessPlan, SpecError> {
    plan_process_of(spec.process().as_ref().ok_or(SpecError::NoProcess)?, selinux_on)
}

/// Plans one process: the container's own, or one that `exec` adds. `selinux_on` says
/// whether the host has SELinux (a label without it is refused).
pub fn plan_process_of(p: &oci_spec::runtime::Process, selinux_on: bool) -> Result<ProcessPlan, SpecError> {
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(SpecError::NoArgs);
    }
    if !p.cwd().is_absolute() {
        return Err(SpecError::RelativeCwd(p.cwd().clone()));
    }
    let env = p.env().clone().unwrap_or_default();
    if let Some(bad) = env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
        return Err(SpecError::BadEnv(bad.clone()));
    }
    let mut rlimits: Vec<Rlimit> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for r in p.rlimits().as_deref().unwrap_or(&[]) {
        let (name, resource) = rlimit_resource(r.typ());
        if names.iter().any(|n| n == name) {
            return Err(SpecError::DuplicateRlimit(name.to_string()));
        }
        if r.soft() > r.hard() {
            return Err(SpecError::RlimitOrder { name: name.to_string(), soft: r.soft(), hard: r.hard() });
        }
        names.push(name.to_string());
        rlimits.push(Rlimit { resource, soft: r.soft(), hard: r.hard() });
    }
    let caps = p.capabilities().as_ref().map(|c| CapSets {
        bounding: cap_mask(c.bounding()),
        effective: cap_mask(c.effective()),
        inheritable: cap_mask(c.inheritable()),
        permitted: cap_mask(c.permitted()),
        ambient: cap_mask(c.ambient()),
    });
    let user = p.user();
    let extra = process_extra::plan(p, selinux_on)?;
    Ok(ProcessPlan {
        args,
        env,
        cwd: clean(p.cwd()),
        terminal: p.terminal().unwrap_or(false),
        console_size: p.console_size().map(|b| (clamp_u16(b.height()), clamp_u16(b.width()))),
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        caps,
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        rlimits,
        oom_score_adj: p.oom_score_adj(),
        extra,
    })
}

fn clamp_u16(v: u64) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn cap_mask(set: &Option<oci_spec::runtime::Capabilities>) -> u64 {
    let mut mask = 0u64;
    for c in set.iter().flatten() {
        if let Ok(cap) = format!("CAP_{c}").parse::<caps::Capability>() {
            mask |= 1u64 << cap.index();
        }
    }
    mask
}

fn rlimit_resource(t: oci_spec::runtime::PosixRlimitType) -> (&'static str, i32) {
    use oci_spec::runtime::PosixRlimitType as T;
    let (name, res) = match t {
        T::RlimitCpu => ("RLIMIT_CPU", libc::RLIMIT_CPU),
        T::RlimitFsize => ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        T::RlimitData => ("RLIMIT_DATA", libc::RLIMIT_DATA),
        T::RlimitStack => ("RLIMIT_STACK", libc::RLIMIT_STACK),
        T::RlimitCore => ("RLIMIT_CORE", libc::RLIMIT_CORE),
        T::RlimitRss => ("RLIMIT_RSS", libc::RLIMIT_RSS),
        T::RlimitNproc => ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        T::RlimitNofile => ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        T::RlimitMemlock => ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        T::RlimitAs => ("RLIMIT_AS", libc::RLIMIT_AS),
        T::RlimitLocks => ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        T::RlimitSigpending => ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        T::RlimitMsgqueue => ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        T::RlimitNice => ("RLIMIT_NICE", libc::RLIMIT_NICE),
        T::RlimitRtprio => ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        T::RlimitRttime => ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    };
    (name, res as i32)
}

fn plan_mounts(
    spec: &Spec,
    bundle: &Path,
    mount_maps: &[MountMappings],
    userns: ContainerUserns,
    real_root: bool,
) -> Result<Vec<MountStep>, SpecError> {
    let in_userns = !matches!(userns, ContainerUserns::None);
    let mut out = Vec::new();
    for (i, m) in spec.mounts().as_deref().unwrap_or(&[]).iter().enumerate() {
        let dest = m.destination();
        if !dest.is_absolute() {
            return Err(SpecError::RelativeDestination(dest.clone()));
        }
        let options = mount_options::parse(m.options().as_deref().unwrap_or(&[]))
            .map_err(|why| SpecError::MountOption { dest: dest.clone(), why })?;
        let typ = m.typ().as_deref().unwrap_or("");
        let kind = if typ == "bind" || options.bind {
            MountKind::Bind
        } else if typ == "cgroup" || typ == "cgroup2" {
            MountKind::Cgroup
        } else if typ.is_empty() {
            return Err(SpecError::MountOption {
                dest: dest.clone(),
                why: mount_options::MountOptionError::Unsupported("(no type and no bind)".into()),
            });
        } else {
            MountKind::Fs(typ.to_string())
        };
        if kind == MountKind::Bind && m.source().as_ref().is_none_or(|s| s.as_os_str().is_empty()) {
            return Err(SpecError::BindWithoutSource(dest.clone()));
        }
        // Bind sources may be relative to the bundle; other sources are filesystem names.
        let source = match (&kind, m.source()) {
            (MountKind::Bind, Some(s)) if s.is_relative() => Some(bundle.join(s)),
            (_, s) => s.clone(),
        };
        let idmap = crate::plan::idmap::plan_mount(
            kind == MountKind::Bind,
            &options,
            mount_maps.get(i).unwrap_or(&MountMappings::default()),
            userns,
        )
        .map_err(|e| SpecError::MountOption { dest: dest.clone(), why: e.into() })?;
        let from_parent = kind == MountKind::Bind && (idmap.is_some() || (in_userns && real_root));
        out.push(MountStep { kind, source, destination: clean(dest), options, idmap, from_parent });
    }
    Ok(out)
}

/// Adds `linux.mountLabel` as `context=` to the mounts that take it (see `lsm`). Without
/// SELinux this still goes to the kernel, which refuses it: runc 1.1.5 does the same.
fn label_mounts(mounts: &mut [MountStep], label: &str) -> Result<(), SpecError> {
    crate::process::lsm::check_selinux_label("linux.mountLabel", label).map_err(process_extra::ExtraError::from)?;
    for m in mounts.iter_mut() {
        if let MountKind::Fs(fstype) = &m.kind {
            if crate::process::lsm::takes_mount_label(fstype) {
                m.options.data = crate::process::lsm::with_mount_label(&m.options.data, label);
            }
        }
    }
    Ok(())
}

fn plan_devices(linux: &oci_spec::runtime::Linux) -> Result<Vec<DeviceNode>, SpecError> {
    let mut out: Vec<DeviceNode> = DEFAULT_DEVICES
        .iter()
        .map(|(p, major, minor)| DeviceNode {
            path: PathBuf::from(p),
            kind: DeviceKind::Char,
            major: *major,
            minor: *minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for d in linux.devices().as_deref().unwrap_or(&[]) {
        let path = d.path();
        if !path.is_absolute() {
            return Err(SpecError::RelativeDevicePath(path.clone()));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => DeviceKind::Fifo,
            LinuxDeviceType::A => return Err(SpecError::Device { path: path.clone(), why: "type a is only for cgroup rules" }),
        };
        if d.major() < 0 || d.minor() < 0 {
            return Err(SpecError::Device { path: path.clone(), why: "major and minor must not be negative" });
        }
        let node = DeviceNode {
            path: clean(path),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        // A spec entry replaces a default device of the same path.
        out.retain(|existing| existing.path != node.path);
        out.push(node);
    }
    Ok(out)
}

/// The cgroup rule allowing one of the container's device nodes.
fn device_rule(d: &DeviceNode) -> Option<oci_spec::runtime::LinuxDeviceCgroup> {
    let typ = match d.kind {
        DeviceKind::Char => LinuxDeviceType::C,
        DeviceKind::Block => LinuxDeviceType::B,
        DeviceKind::Fifo => return None,
    };
    oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .major(d.major as i64)
        .minor(d.minor as i64)
        .access("rwm")
        .build()
        .ok()
}

fn check_hooks(hooks: &Hooks) -> Result<(), SpecError> {
    let lists: [(&'static str, &Option<Vec<oci_spec::runtime::Hook>>); 6] = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    for (kind, list) in lists {
        for h in list.iter().flatten() {
            if !h.path().is_absolute() {
                return Err(SpecError::RelativeHookPath { kind, path: h.path().clone() });
            }
        }
    }
    Ok(())
}

/// Lexically cleans an absolute path: drops `.`, resolves `..` without going above `/`.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
