//! Facts about the host that planning depends on, read once per command.

use libcgroups::HostCgroups;

#[derive(Debug, Clone)]
pub struct HostFacts {
    pub cgroups: HostCgroups,
    /// /proc/self/ns/time exists.
    pub time_ns: bool,
    /// AppArmor is enabled (so a profile in the spec must be applied, not ignored).
    pub apparmor: bool,
    /// SELinux is enabled (a label in the spec is refused without it, as runc does).
    pub selinux: bool,
    /// The host's network devices (for linux.netDevices).
    pub net_devices: Vec<String>,
    /// resctrl is mounted at /sys/fs/resctrl (for linux.intelRdt).
    pub resctrl: bool,
    /// The runtime runs as root of the host's user namespace (euid 0, not rootless), so it can
    /// open mount sources as detached trees on behalf of a container in a user namespace.
    pub real_root: bool,
}

impl HostFacts {
    /// The facts `spec` is planned against. The network devices are listed only when it
    /// moves some (linux.netDevices): on a node /sys/class/net holds a veth per pod.
    pub fn read(spec: &oci_spec::runtime::Spec) -> Result<Self, libcgroups::CgroupError> {
        Self::gather(spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()).is_some_and(|d| !d.is_empty()))
    }

    /// Every fact, the network devices included, for a caller that plans many specs against
    /// one reading (the fuzzer).
    pub fn read_all() -> Result<Self, libcgroups::CgroupError> {
        Self::gather(true)
    }

    fn gather(net_devices: bool) -> Result<Self, libcgroups::CgroupError> {
        Ok(HostFacts {
            cgroups: libcgroups::detect()?,
            time_ns: std::path::Path::new("/proc/self/ns/time").exists(),
            apparmor: crate::process::lsm::apparmor_enabled(),
            selinux: crate::process::lsm::selinux_enabled(),
            net_devices: if net_devices { crate::net::net_devices::host_devices() } else { Vec::new() },
            resctrl: std::path::Path::new("/sys/fs/resctrl/schemata").exists(),
            real_root: nix::unistd::geteuid().is_root() && in_initial_userns(),
        })
    }

    /// Facts of a plain v1 host for unit tests: time namespaces, no LSM, no resctrl, one
    /// host network device (`veth-test0`), running as real root.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        HostFacts {
            cgroups: libcgroups::HostCgroups { layout: libcgroups::Layout::V1, hierarchies: vec![] },
            time_ns: true,
            apparmor: false,
            selinux: false,
            net_devices: vec!["veth-test0".into()],
            resctrl: false,
            real_root: true,
        }
    }
}

/// Whether this process is in the host's (initial) user namespace: its uid_map is the
/// identity over all 2^32 - 1 ids.
fn in_initial_userns() -> bool {
    libcgroups::read_text("/proc/self/uid_map").is_ok_and(|m| {
        let fields: Vec<&str> = m.split_whitespace().collect();
        fields == ["0", "0", "4294967295"]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_devices_are_listed_only_for_a_spec_that_moves_some() {
        let spec = |linux: serde_json::Value| -> oci_spec::runtime::Spec {
            serde_json::from_value(serde_json::json!({"ociVersion": "1.3.0", "root": {"path": "rootfs"}, "linux": linux})).unwrap()
        };
        // Every host has "lo" in /sys/class/net.
        let moving = HostFacts::read(&spec(serde_json::json!({"netDevices": {"lo": {}}}))).unwrap();
        assert!(moving.net_devices.iter().any(|d| d == "lo"), "{:?}", moving.net_devices);
        let plain = HostFacts::read(&spec(serde_json::json!({}))).unwrap();
        assert!(plain.net_devices.is_empty());
        assert!(HostFacts::read_all().unwrap().net_devices.iter().any(|d| d == "lo"));
    }
}
