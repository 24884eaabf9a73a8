//! The CRI requests the kubelet would send for our test pods, built by pure functions:
//! the sandbox, the workload container (resources, env, mounts, a restricted security
//! context) and the broken containers of the failure cases.

use std::collections::HashMap;
use std::path::Path;

use k8s_cri::v1 as cri;

/// What makes one test pod unique on the node.
#[derive(Debug, Clone)]
pub struct Pod {
    pub name: String,
    pub uid: String,
    pub namespace: String,
    /// The pod-level cgroup, created by the kubelet (here: the test) before the sandbox.
    pub cgroup_parent: String,
    pub log_dir: String,
    pub annotations: HashMap<String, String>,
}

/// The kubelet's defaults for a pod that is not privileged.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
pub const READONLY_PATHS: &[&str] = &["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The environment variable the workload reports back.
pub const GREETING: (&str, &str) = ("E2E_GREETING", "hello-from-cri");
pub const RUN_AS: i64 = 1000;
pub const SUPPLEMENTAL_GROUP: i64 = 2000;

/// The workload's main process: writes a proof of its env and user to the rw volume, logs
/// "started", and exits 0 on SIGTERM, so a clean StopContainer shows as exit code 0.
pub const WORKLOAD_SCRIPT: &str =
    "echo \"$E2E_GREETING $(id -u):$(id -g)\" > /data/started; echo started; trap 'echo stopping; exit 0' TERM; sleep 3600 & wait";

/// The namespaces the kubelet asks for: the pod's network and IPC, a pid namespace of the
/// container's own unless the pod shares one (`shareProcessNamespace`). It puts the same
/// options on the sandbox and on every container.
pub fn namespaces(pid: cri::NamespaceMode) -> cri::NamespaceOption {
    cri::NamespaceOption {
        network: cri::NamespaceMode::Pod as i32,
        pid: pid as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

pub fn sandbox(p: &Pod) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata { name: p.name.clone(), uid: p.uid.clone(), namespace: p.namespace.clone(), attempt: 0 }),
        hostname: p.name.clone(),
        log_directory: p.log_dir.clone(),
        labels: HashMap::from([("app".to_string(), "youki-e2e".to_string())]),
        annotations: p.annotations.clone(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: p.cgroup_parent.clone(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces(cri::NamespaceMode::Container)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Memory limit, CFS quota (per 100 ms period) and shares.
pub fn limits(memory: i64, quota: i64, shares: i64) -> cri::LinuxContainerResources {
    cri::LinuxContainerResources {
        memory_limit_in_bytes: memory,
        cpu_period: 100_000,
        cpu_quota: quota,
        cpu_shares: shares,
        oom_score_adj: 500,
        ..Default::default()
    }
}

fn bind(container_path: &str, host: &Path, readonly: bool) -> cri::Mount {
    cri::Mount { container_path: container_path.into(), host_path: host.display().to_string(), readonly, ..Default::default() }
}

fn container(name: &str, image: &str, command: &[&str]) -> cri::ContainerConfig {
    let security_context =
        cri::LinuxContainerSecurityContext { namespace_options: Some(namespaces(cri::NamespaceMode::Container)), ..Default::default() };
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata { name: name.into(), attempt: 0 }),
        image: Some(cri::ImageSpec { image: image.into(), ..Default::default() }),
        command: command.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}.log"),
        linux: Some(cri::LinuxContainerConfig { resources: None, security_context: Some(security_context) }),
        ..Default::default()
    }
}

/// The restricted context the workload runs under: a user, all capabilities dropped but
/// one, no_new_privs, a read-only rootfs, the runtime's default seccomp profile, and the
/// kubelet's masked and read-only paths.
pub fn restricted() -> cri::LinuxContainerSecurityContext {
    cri::LinuxContainerSecurityContext {
        capabilities: Some(cri::Capability {
            add_capabilities: vec!["NET_BIND_SERVICE".into()],
            drop_capabilities: vec!["ALL".into()],
            ..Default::default()
        }),
        namespace_options: Some(namespaces(cri::NamespaceMode::Container)),
        run_as_user: Some(cri::Int64Value { value: RUN_AS }),
        run_as_group: Some(cri::Int64Value { value: RUN_AS }),
        supplemental_groups: vec![SUPPLEMENTAL_GROUP],
        readonly_rootfs: true,
        no_new_privs: true,
        seccomp: Some(cri::SecurityProfile {
            profile_type: cri::security_profile::ProfileType::RuntimeDefault as i32,
            ..Default::default()
        }),
        masked_paths: MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
        readonly_paths: READONLY_PATHS.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// The workload: resources, env, a rw volume at /data, a ro volume at /config.
pub fn workload(image: &str, rw: &Path, ro: &Path, resources: cri::LinuxContainerResources) -> cri::ContainerConfig {
    cri::ContainerConfig {
        args: vec![WORKLOAD_SCRIPT.into()],
        working_dir: "/data".into(),
        envs: vec![cri::KeyValue { key: GREETING.0.into(), value: GREETING.1.into() }],
        mounts: vec![bind("/data", rw, false), bind("/config", ro, true)],
        linux: Some(cri::LinuxContainerConfig { resources: Some(resources), security_context: Some(restricted()) }),
        ..container("workload", image, &["/bin/sh", "-c"])
    }
}

/// A container whose command does not exist in the image.
pub const MISSING_COMMAND: &str = "/bin/does-not-exist";
pub fn missing_command(image: &str) -> cri::ContainerConfig {
    container("missing-command", image, &[MISSING_COMMAND])
}

/// A bind mount whose destination lies under a regular file of the image.
pub const BAD_MOUNT_DEST: &str = "/bin/busybox/data";
pub fn bad_mount(image: &str, host_dir: &Path) -> cri::ContainerConfig {
    cri::ContainerConfig { mounts: vec![bind(BAD_MOUNT_DEST, host_dir, false)], ..container("bad-mount", image, &["/bin/sleep", "3600"]) }
}

/// A container in the pod's shared pid namespace (`shareProcessNamespace: true`) whose
/// main process leaves a child behind when it exits on SIGTERM: only the runtime's
/// `kill --all`, which the shim sends once the main process is gone, can end that child.
pub const ORPHAN_SCRIPT: &str = "sleep 3600 & trap 'exit 0' TERM; wait";
pub fn shared_pid(image: &str) -> cri::ContainerConfig {
    let mut c = container("shared-pid", image, &["/bin/sh", "-c", ORPHAN_SCRIPT]);
    if let Some(sc) = c.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        sc.namespace_options = Some(namespaces(cri::NamespaceMode::Pod));
    }
    c
}

/// A plain long-running container (the bench's).
pub fn sleeper(image: &str) -> cri::ContainerConfig {
    container("sleeper", image, &["/bin/sleep", "3600"])
}

/// The size of the id range a user-namespaced pod gets (the kubelet's: 65536).
pub const USERNS_SIZE: u32 = 65536;

/// The kubelet's mappings for a `hostUsers: false` pod: container ids 0..65536 on host ids
/// from HOST_BASE.
pub fn userns_mapping(host_base: u32) -> Vec<cri::IdMapping> {
    vec![cri::IdMapping { host_id: host_base, container_id: 0, length: USERNS_SIZE }]
}

/// The pod's own user namespace (mode POD) with MAP for uids and gids, as the kubelet puts it
/// on the sandbox and on every container of the pod.
fn with_userns(ns: &mut Option<cri::NamespaceOption>, map: &[cri::IdMapping]) {
    if let Some(ns) = ns {
        ns.userns_options = Some(cri::UserNamespace { mode: cri::NamespaceMode::Pod as i32, uids: map.to_vec(), gids: map.to_vec() });
    }
}

/// The sandbox of a user-namespaced pod.
pub fn userns_sandbox(p: &Pod, map: &[cri::IdMapping]) -> cri::PodSandboxConfig {
    let mut s = sandbox(p);
    if let Some(sc) = s.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        with_userns(&mut sc.namespace_options, map);
    }
    s
}

/// A sleeper in a user-namespaced pod, as root of its namespace; with VOLUME, a host
/// directory at /vol whose mount carries the pod's mappings (an idmapped mount: on-disk
/// ids seen through the pod's mapping).
pub const USERNS_VOLUME: &str = "/vol";
pub fn userns_container(name: &str, image: &str, map: &[cri::IdMapping], volume: Option<&Path>) -> cri::ContainerConfig {
    let mut c = container(name, image, &["/bin/sleep", "3600"]);
    if let Some(sc) = c.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        with_userns(&mut sc.namespace_options, map);
        sc.run_as_user = Some(cri::Int64Value { value: 0 });
    }
    if let Some(host) = volume {
        c.mounts = vec![cri::Mount { uid_mappings: map.to_vec(), gid_mappings: map.to_vec(), ..bind(USERNS_VOLUME, host, false) }];
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        Pod {
            name: "p".into(),
            uid: "u".into(),
            namespace: "ns".into(),
            cgroup_parent: "/youki-e2e/pod-u".into(),
            log_dir: "/logs".into(),
            annotations: HashMap::from([("io.youki.traceparent".into(), "00-1-2-01".into())]),
        }
    }

    #[test]
    fn sandbox_carries_cgroup_parent_annotations_and_namespaces() {
        let s = sandbox(&pod());
        let linux = s.linux.unwrap();
        assert_eq!(linux.cgroup_parent, "/youki-e2e/pod-u");
        let ns = linux.security_context.unwrap().namespace_options.unwrap();
        assert_eq!(ns.pid, cri::NamespaceMode::Container as i32);
        assert_eq!(ns.network, cri::NamespaceMode::Pod as i32);
        assert_eq!(s.annotations["io.youki.traceparent"], "00-1-2-01");
        assert_eq!(s.metadata.unwrap().uid, "u");
    }

    #[test]
    fn workload_has_resources_env_mounts_and_security_context() {
        let c = workload("img", Path::new("/rw"), Path::new("/ro"), limits(64 << 20, 50_000, 512));
        assert_eq!(c.command, ["/bin/sh", "-c"]);
        assert_eq!(c.args, [WORKLOAD_SCRIPT]);
        assert_eq!(c.envs[0].key, "E2E_GREETING");
        assert_eq!((c.mounts[0].container_path.as_str(), c.mounts[0].readonly), ("/data", false));
        assert_eq!((c.mounts[1].host_path.as_str(), c.mounts[1].readonly), ("/ro", true));
        let linux = c.linux.unwrap();
        let r = linux.resources.unwrap();
        assert_eq!((r.memory_limit_in_bytes, r.cpu_quota, r.cpu_period, r.cpu_shares), (64 << 20, 50_000, 100_000, 512));
        let sc = linux.security_context.unwrap();
        assert_eq!(sc.run_as_user.unwrap().value, 1000);
        assert!(sc.readonly_rootfs && sc.no_new_privs);
        assert_eq!(sc.capabilities.unwrap().drop_capabilities, ["ALL"]);
        assert!(sc.masked_paths.iter().any(|p| p == "/proc/kcore"));
    }

    #[test]
    fn containers_get_their_own_pid_namespace_unless_shared() {
        let pid =
            |c: &cri::ContainerConfig| c.linux.as_ref().unwrap().security_context.as_ref().unwrap().namespace_options.as_ref().unwrap().pid;
        assert_eq!(pid(&sleeper("img")), cri::NamespaceMode::Container as i32);
        assert_eq!(pid(&workload("img", Path::new("/rw"), Path::new("/ro"), limits(1, 1, 1))), cri::NamespaceMode::Container as i32);
        assert_eq!(pid(&shared_pid("img")), cri::NamespaceMode::Pod as i32);
    }

    #[test]
    fn userns_pod_asks_for_the_pod_mode_and_the_mappings_everywhere() {
        let map = userns_mapping(65536 * 3);
        let userns = |ns: &Option<cri::NamespaceOption>| ns.as_ref().unwrap().userns_options.clone().unwrap();
        let s = userns_sandbox(&pod(), &map);
        let u = userns(&s.linux.unwrap().security_context.unwrap().namespace_options);
        assert_eq!(u.mode, cri::NamespaceMode::Pod as i32);
        assert_eq!((u.uids[0].container_id, u.uids[0].host_id, u.uids[0].length), (0, 196608, 65536));
        assert_eq!(u.gids, u.uids);
        let c = userns_container("v", "img", &map, Some(Path::new("/h")));
        assert_eq!(userns(&c.linux.as_ref().unwrap().security_context.as_ref().unwrap().namespace_options), u);
        assert_eq!((c.mounts[0].container_path.as_str(), c.mounts[0].host_path.as_str()), (USERNS_VOLUME, "/h"));
        assert_eq!((c.mounts[0].uid_mappings.clone(), c.mounts[0].gid_mappings.clone()), (map.clone(), map));
        assert!(userns_container("n", "img", &[], None).mounts.is_empty());
    }

    #[test]
    fn broken_containers_are_broken_the_intended_way() {
        assert_eq!(missing_command("img").command, [MISSING_COMMAND]);
        let m = bad_mount("img", Path::new("/h"));
        assert_eq!(m.mounts[0].container_path, BAD_MOUNT_DEST);
        assert_eq!(m.log_path, "bad-mount.log");
    }
}
