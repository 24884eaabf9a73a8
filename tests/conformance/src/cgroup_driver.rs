//! How the runtime under test names cgroups: a plain path (the cgroupfs driver), or systemd's
//! `slice:prefix:name` when the suite passes `--systemd-cgroup`, and where each form lands in
//! the hierarchy as /proc/<pid>/cgroup shows it.

/// The global flag that switches a runc-compatible runtime to the systemd driver.
pub const SYSTEMD_FLAG: &str = "--systemd-cgroup";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupDriver {
    /// cgroupsPath is a path; the suite's absolute paths go under `parent`.
    Fs { parent: String },
    /// cgroupsPath is `slice:prefix:name`; the container gets `<prefix>-<name>.scope` in the
    /// slice (runc's convention, which containerd and kubelet rely on).
    Systemd { slice: String, prefix: String },
}

/// What a case writes into cgroupsPath, and the cgroup the process must then be in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub spec_value: String,
    pub cgroup: String,
}

impl CgroupDriver {
    /// The systemd driver when the runtime gets `--systemd-cgroup`, the cgroupfs one otherwise.
    pub fn for_runtime_args(args: &[String]) -> CgroupDriver {
        if args.iter().any(|a| a == SYSTEMD_FLAG) {
            CgroupDriver::Systemd { slice: "system.slice".to_string(), prefix: "conformance".to_string() }
        } else {
            CgroupDriver::Fs { parent: "/conformance".to_string() }
        }
    }

    /// The suite's usual placement of a container: an absolute path under the parent, or a
    /// scope in the suite's slice.
    pub fn placement(&self, id: &str) -> Placement {
        match self {
            CgroupDriver::Fs { parent } => Placement { spec_value: format!("{parent}/{id}"), cgroup: format!("{parent}/{id}") },
            CgroupDriver::Systemd { slice, prefix } => {
                Placement { spec_value: format!("{slice}:{prefix}:{id}"), cgroup: format!("{}/{prefix}-{id}.scope", expand_slice(slice)) }
            }
        }
    }

    /// A placement the runtime completes itself: a relative path (under the runtime's own
    /// cgroup), or a systemd triple with an empty slice (the default, system.slice).
    /// Returns the cgroupsPath and the suffix the resulting cgroup path must end with.
    pub fn relative(&self, id: &str) -> (String, String) {
        match self {
            CgroupDriver::Fs { .. } => (id.to_string(), format!("/{id}")),
            CgroupDriver::Systemd { prefix, .. } => (format!(":{prefix}:{id}"), format!("/system.slice/{prefix}-{id}.scope")),
        }
    }

    /// Cgroup paths below which a container of the suite may leave a directory behind.
    pub fn parents(&self) -> Vec<String> {
        match self {
            CgroupDriver::Fs { parent } => vec![parent.clone()],
            CgroupDriver::Systemd { slice, .. } => {
                let mut parents = vec![expand_slice(slice), "/system.slice".to_string()];
                parents.dedup();
                parents
            }
        }
    }
}

/// The cgroup path of a systemd slice: each `-` opens a level, so `a-b.slice` lives in
/// `a.slice` (systemd.slice(5)); `-.slice` is the root.
pub fn expand_slice(slice: &str) -> String {
    let name = slice.strip_suffix(".slice").unwrap_or(slice);
    if name.is_empty() || name == "-" {
        return "/".to_string();
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in name.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push_str(&format!("/{prefix}.slice"));
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_systemd_flag_selects_the_slice_form() {
        let fs = CgroupDriver::for_runtime_args(&["--debug".to_string()]);
        assert_eq!(fs.placement("c1"), Placement { spec_value: "/conformance/c1".into(), cgroup: "/conformance/c1".into() });
        assert_eq!(fs.relative("c1"), ("c1".into(), "/c1".into()));
        let sd = CgroupDriver::for_runtime_args(&[SYSTEMD_FLAG.to_string()]);
        assert_ne!(sd, fs);
        assert_eq!(
            sd.placement("c1"),
            Placement { spec_value: "system.slice:conformance:c1".into(), cgroup: "/system.slice/conformance-c1.scope".into() }
        );
        assert_eq!(sd.relative("c1"), (":conformance:c1".into(), "/system.slice/conformance-c1.scope".into()));
    }

    #[test]
    fn slices_nest_at_each_dash() {
        assert_eq!(expand_slice("system.slice"), "/system.slice");
        assert_eq!(
            expand_slice("kubepods-besteffort-pod12.slice"),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice"
        );
        assert_eq!(expand_slice("-.slice"), "/");
    }
}
