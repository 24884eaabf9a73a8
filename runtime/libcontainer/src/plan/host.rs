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
}

impl HostFacts {
    pub fn read() -> Result<Self, libcgroups::CgroupError> {
        Ok(HostFacts {
            cgroups: libcgroups::detect()?,
            time_ns: std::path::Path::new("/proc/self/ns/time").exists(),
            apparmor: crate::process::lsm::apparmor_enabled(),
            selinux: crate::process::lsm::selinux_enabled(),
            net_devices: crate::net::net_devices::host_devices(),
            resctrl: std::path::Path::new("/sys/fs/resctrl/schemata").exists(),
        })
    }
}
