//! Facts about the host that planning depends on, read once per command.

use libcgroups::HostCgroups;

#[derive(Debug, Clone)]
pub struct HostFacts {
    pub cgroups: HostCgroups,
    /// /proc/self/ns/time exists.
    pub time_ns: bool,
    /// AppArmor is enabled (so a profile in the spec must be applied, not ignored).
    pub apparmor: bool,
}

impl HostFacts {
    pub fn read() -> Result<Self, libcgroups::CgroupError> {
        Ok(HostFacts {
            cgroups: libcgroups::detect()?,
            time_ns: std::path::Path::new("/proc/self/ns/time").exists(),
            apparmor: std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .map(|s| s.trim() == "Y")
                .unwrap_or(false),
        })
    }
}
