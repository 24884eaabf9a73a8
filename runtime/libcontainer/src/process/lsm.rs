//! Linux security modules: the AppArmor profile and the SELinux label a container's program
//! gets at its execve (written to /proc/self/attr/.../exec), and the SELinux mount label as a
//! `context=` mount option. The checks and the option string are pure; `apply` writes.

use crate::rootfs::procfs::ProcRoot;
use crate::syserror::SysError;

/// What the next execve of this process changes to, decided by the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecLabels {
    /// `process.apparmorProfile` (or `exec --apparmor`).
    pub apparmor: Option<String>,
    /// `process.selinuxLabel` (or `exec --process-label`).
    pub selinux: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("invalid {field} {label:?}: expected user:role:type[:level]")]
    Shape { field: &'static str, label: String },
    #[error("invalid {field} {label:?}: must not contain quotes, spaces or control characters")]
    Character { field: &'static str, label: String },
    #[error("invalid process.apparmorProfile {0:?}: must not contain spaces or control characters")]
    Profile(String),
    #[error("{field} is set, but SELinux is not enabled on this host")]
    NoSelinux { field: &'static str },
}

/// Whether SELinux is enabled here: its filesystem is mounted at /sys/fs/selinux.
pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Whether AppArmor is enabled here.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").map(|s| s.trim() == "Y").unwrap_or(false)
}

/// Checks an SELinux context: user, role and type (and an optional level, which may hold
/// `:` and `,`), with nothing that could end the quoted `context="..."` mount option.
pub fn check_selinux_label(field: &'static str, label: &str) -> Result<(), LabelError> {
    if label.chars().any(|c| c == '"' || c.is_whitespace() || c.is_control()) {
        return Err(LabelError::Character { field, label: label.to_string() });
    }
    let parts: Vec<&str> = label.splitn(4, ':').collect();
    if parts.len() < 3 || parts[..3].iter().any(|p| p.is_empty()) || parts.get(3).is_some_and(|l| l.is_empty()) {
        return Err(LabelError::Shape { field, label: label.to_string() });
    }
    Ok(())
}

/// Checks an AppArmor profile name: the kernel takes the rest of the written line as the name.
pub fn check_apparmor_profile(profile: &str) -> Result<(), LabelError> {
    if profile.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(LabelError::Profile(profile.to_string()));
    }
    Ok(())
}

/// Plans the labels of one process. An SELinux label on a host without SELinux is refused
/// here, before anything is made, as runc 1.1.5 refuses it ("selinux label is specified in
/// config, but selinux is disabled or not supported"). An AppArmor profile on a host without
/// AppArmor is not refused here: runc 1.1.5 still writes it and fails with the kernel's
/// EINVAL, and so does `apply` (see there).
pub fn plan_labels(apparmor: Option<&str>, selinux: Option<&str>, selinux_on: bool) -> Result<ExecLabels, LabelError> {
    let apparmor = apparmor.filter(|a| !a.is_empty());
    let selinux = selinux.filter(|s| !s.is_empty());
    if let Some(a) = apparmor {
        check_apparmor_profile(a)?;
    }
    if let Some(s) = selinux {
        check_selinux_label("process.selinuxLabel", s)?;
        if !selinux_on {
            return Err(LabelError::NoSelinux { field: "process.selinuxLabel" });
        }
    }
    Ok(ExecLabels { apparmor: apparmor.map(str::to_string), selinux: selinux.map(str::to_string) })
}

/// Whether a mount of this filesystem type gets `context=`: every filesystem mounted by type
/// except proc, sysfs, mqueue and cgroup, which label themselves (the set runc uses). Bind
/// mounts take no filesystem data at all.
pub fn takes_mount_label(fstype: &str) -> bool {
    !matches!(fstype, "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2" | "bind")
}

/// The filesystem data of a mount with the mount label added: `context="LABEL"` appended,
/// quoted because a level such as `s0:c1,c2` holds a comma.
pub fn with_mount_label(data: &str, label: &str) -> String {
    if data.is_empty() {
        format!("context=\"{label}\"")
    } else {
        format!("{data},context=\"{label}\"")
    }
}

/// Sets the labels the next execve of this process takes. Called as the last set-up step of
/// the container's process (create) and of an exec'd one, after seccomp, so nothing else
/// runs under them before the workload.
///
/// AppArmor: `exec PROFILE` goes to /proc/self/attr/apparmor/exec, or to /proc/self/attr/exec
/// on kernels without the per-LSM directory. On a host without AppArmor this is still
/// written and fails, exactly as runc 1.1.5 does (it checks nothing first; its error is
/// "write /proc/self/attr/exec: invalid argument"), so create and exec fail with EINVAL.
pub fn apply(labels: &ExecLabels) -> Result<(), SysError> {
    if labels.apparmor.is_none() && labels.selinux.is_none() {
        return Ok(());
    }
    // One checked procfs for every write, so that a /proc the container controls cannot
    // swallow the label.
    let proc = ProcRoot::open()?;
    if let Some(profile) = &labels.apparmor {
        set_apparmor_exec(&proc, profile)?;
    }
    if let Some(label) = &labels.selinux {
        write_attr(&proc, "self/attr/exec", label.as_bytes())?;
    }
    Ok(())
}

fn set_apparmor_exec(proc: &ProcRoot, profile: &str) -> Result<(), SysError> {
    let line = format!("exec {profile}");
    match write_attr(proc, "self/attr/apparmor/exec", line.as_bytes()) {
        Err(e) if e.errno == nix::Error::ENOENT => write_attr(proc, "self/attr/exec", line.as_bytes()),
        other => other,
    }
}

/// One write(2) of the whole value, as the attr files want; PATH is relative to /proc.
fn write_attr(proc: &ProcRoot, path: &str, value: &[u8]) -> Result<(), SysError> {
    proc.write(std::path::Path::new(path), value)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selinux_labels_are_checked() {
        for good in ["system_u:system_r:container_t:s0", "u:r:t", "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811"] {
            check_selinux_label("linux.mountLabel", good).unwrap();
        }
        for bad in ["", "u:r", "u::t", ":r:t", "u:r:t:"] {
            assert_eq!(
                check_selinux_label("linux.mountLabel", bad).unwrap_err().to_string(),
                format!("invalid linux.mountLabel {bad:?}: expected user:role:type[:level]")
            );
        }
        for bad in ["u:r:t\"", "u:r:t x", "u:r:\nt"] {
            assert!(matches!(check_selinux_label("process.selinuxLabel", bad), Err(LabelError::Character { .. })));
        }
    }

    #[test]
    fn a_selinux_label_needs_selinux_but_a_profile_does_not_need_apparmor() {
        let err = plan_labels(None, Some("u:r:t:s0"), false).unwrap_err();
        assert_eq!(err.to_string(), "process.selinuxLabel is set, but SELinux is not enabled on this host");
        let l = plan_labels(Some("youki-test"), Some("u:r:t:s0"), true).unwrap();
        assert_eq!(l, ExecLabels { apparmor: Some("youki-test".into()), selinux: Some("u:r:t:s0".into()) });
        // runc 1.1.5 behaviour: a profile is kept without AppArmor, and fails when written.
        assert_eq!(plan_labels(Some("p"), None, false).unwrap().apparmor.as_deref(), Some("p"));
        assert_eq!(plan_labels(Some(""), Some(""), false).unwrap(), ExecLabels::default());
        assert_eq!(
            plan_labels(Some("a b"), None, false).unwrap_err().to_string(),
            r#"invalid process.apparmorProfile "a b": must not contain spaces or control characters"#
        );
    }

    #[test]
    fn mount_label_option_string() {
        assert_eq!(with_mount_label("", "u:r:t:s0"), r#"context="u:r:t:s0""#);
        assert_eq!(with_mount_label("mode=755,size=65536k", "u:o:t:s0:c1,c2"), r#"mode=755,size=65536k,context="u:o:t:s0:c1,c2""#);
    }

    #[test]
    fn which_filesystems_take_the_mount_label() {
        for yes in ["tmpfs", "devpts", "shm", "overlay", "ramfs"] {
            assert!(takes_mount_label(yes), "{yes}");
        }
        for no in ["proc", "sysfs", "mqueue", "cgroup", "cgroup2", "bind"] {
            assert!(!takes_mount_label(no), "{no}");
        }
    }

    #[test]
    fn writing_an_attr_that_does_not_exist_names_the_path() {
        let e = write_attr(&ProcRoot::open().unwrap(), "self/attr/no-such-attr", b"x").unwrap_err();
        assert_eq!(e.op, "open /proc/self/attr/no-such-attr");
    }
}
