//! The rejections of `plan`: every way a config.json can be invalid, with the field named.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("unsupported ociVersion {0:?}: this runtime implements 1.x ({v})", v = crate::create::state::OCI_VERSION)]
    OciVersion(String),
    #[error("invalid ociVersion {0:?}: must be a semantic version such as 1.3.0")]
    BadOciVersion(String),
    #[error("root is required")]
    NoRoot,
    #[error("process is required")]
    NoProcess,
    #[error("process.args must not be empty")]
    NoArgs,
    #[error("invalid process.cwd {0:?}: must be absolute")]
    RelativeCwd(PathBuf),
    #[error("invalid process.env entry {0:?}: must be KEY=VALUE")]
    BadEnv(String),
    #[error("invalid mount destination {0:?}: must be absolute")]
    RelativeDestination(PathBuf),
    // `why` is shown, not chained as a source: the binary prints the chain too.
    #[error("invalid mount {dest:?}: {why}")]
    MountOption { dest: PathBuf, why: crate::plan::mount_options::MountOptionError },
    #[error("invalid mount {0:?}: a bind mount needs a source")]
    BindWithoutSource(PathBuf),
    #[error("invalid linux.namespaces: {0} is listed twice")]
    DuplicateNamespace(&'static str),
    #[error("invalid linux.namespaces: path {path:?} of the {kind} namespace must be absolute")]
    RelativeNamespacePath { kind: &'static str, path: PathBuf },
    #[error("linux.uidMappings and linux.gidMappings need a user namespace")]
    MappingsWithoutUserNs,
    #[error("a new user namespace needs linux.uidMappings and linux.gidMappings")]
    UserNsWithoutMappings,
    #[error("invalid linux.{field}: size must be greater than zero")]
    EmptyMapping { field: &'static str },
    #[error("{field} needs a uts namespace")]
    NeedsUtsNs { field: &'static str },
    #[error("linux.timeOffsets needs a new time namespace")]
    OffsetsWithoutTimeNs,
    #[error("invalid linux.timeOffsets: unknown clock {0:?} (expected monotonic or boottime)")]
    UnknownClock(String),
    #[error("time namespaces are not supported by this kernel")]
    NoTimeNs,
    #[error("invalid linux.sysctl {key:?}: {why}")]
    Sysctl { key: String, why: &'static str },
    #[error("invalid linux.rootfsPropagation {0:?}")]
    RootfsPropagation(String),
    #[error("invalid process.rlimits: {0} is listed twice")]
    DuplicateRlimit(String),
    #[error("invalid process.rlimits {name}: soft limit {soft} is above hard limit {hard}")]
    RlimitOrder { name: String, soft: u64, hard: u64 },
    #[error("invalid linux.devices entry {0:?}: path must be absolute")]
    RelativeDevicePath(PathBuf),
    #[error("invalid linux.devices entry {path:?}: {why}")]
    Device { path: PathBuf, why: &'static str },
    #[error("invalid hooks.{kind} path {path:?}: must be absolute")]
    RelativeHookPath { kind: &'static str, path: PathBuf },
    #[error("invalid linux.seccomp: {0}")]
    Seccomp(String),
    #[error("linux.intelRdt needs resctrl, which is not mounted at /sys/fs/resctrl")]
    NoResctrl,
    #[error(transparent)]
    IntelRdt(#[from] crate::plan::intel_rdt::RdtPlanError),
    #[error(transparent)]
    MemPolicy(#[from] crate::plan::mempolicy::MemPolicyError),
    #[error(transparent)]
    NetDevice(#[from] crate::net::net_devices::NetDeviceError),
    #[error(transparent)]
    Extra(#[from] crate::plan::process_extra::ExtraError),
    #[error("{0} is not supported yet")]
    Unsupported(&'static str),
}

/// Checks of config.json fields that our spec types do not carry, so they would otherwise be
/// dropped without a word: the whole of `linux.intelRdt` with its 1.3 fields (`schemata`,
/// `enableMonitoring`). (Idmapped mounts' `uidMappings` are read by `idmap::from_config`.)
pub fn check_raw(config: &serde_json::Value) -> Result<(), SpecError> {
    if let Some(rdt) = crate::plan::intel_rdt::from_config(config)? {
        // A stand-in id: the container's own is checked when create applies it.
        crate::plan::intel_rdt::plan(&rdt, "container")?;
    }
    Ok(())
}

/// Which namespace a sysctl key belongs to, or why it is refused. Mirrors the kernel's list of
/// namespaced sysctls: ipc (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*), uts, net and
/// user (user.max_*: the limits of the user namespace the writer is in).
pub fn sysctl_namespace(key: &str) -> Result<crate::namespaces::NsKind, &'static str> {
    use crate::namespaces::NsKind;
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if key.contains("..") || key.starts_with('.') || key.ends_with('.') || key.contains('/') {
        return Err("not a sysctl name");
    }
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return Ok(NsKind::Ipc);
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        return Ok(NsKind::Uts);
    }
    if key.starts_with("net.") {
        return Ok(NsKind::Net);
    }
    if key.starts_with("user.") {
        return Ok(NsKind::User);
    }
    Err("not namespaced: it would change the host")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespaces::NsKind;

    #[test]
    fn intel_rdt_1_3_fields_are_checked_up_front() {
        let v = serde_json::json!({"linux": {"intelRdt": {"schemata": ["L3:0=f", "MB"]}}});
        assert_eq!(check_raw(&v).unwrap_err().to_string(), r#"invalid linux.intelRdt.schemata "MB": expected RESOURCE:DOMAIN=VALUE;..."#);
        let v = serde_json::json!({"linux": {"intelRdt": {"enableMonitoring": "yes"}}});
        assert!(check_raw(&v).unwrap_err().to_string().starts_with("invalid linux.intelRdt: invalid type"));
        assert!(check_raw(&serde_json::json!({"linux": {"intelRdt": {"closID": "g", "schemata": ["L3:0=f"], "enableMonitoring": true}}}))
            .is_ok());
    }

    #[test]
    fn sysctl_classes() {
        assert_eq!(sysctl_namespace("net.ipv4.ip_forward"), Ok(NsKind::Net));
        assert_eq!(sysctl_namespace("kernel.shmmax"), Ok(NsKind::Ipc));
        assert_eq!(sysctl_namespace("fs.mqueue.queues_max"), Ok(NsKind::Ipc));
        assert_eq!(sysctl_namespace("kernel.domainname"), Ok(NsKind::Uts));
        assert_eq!(sysctl_namespace("user.max_user_namespaces"), Ok(NsKind::User));
        assert!(sysctl_namespace("vm.swappiness").is_err());
        assert!(sysctl_namespace("net/../../x").is_err());
    }
}
