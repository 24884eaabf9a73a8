//! A new process moving itself into its cgroup v1 hierarchies (see libcgroups::SelfJoin):
//! when it may, and the child's side of it.

use std::path::PathBuf;

use crate::create::channel::ChildError;
use crate::create::stage::Stage;
use crate::syserror::Context;

/// Whether a child may move itself: it must write the host's cgroupfs as root of our user
/// namespace, so it is born in that namespace (no new or joined user namespace) and we are
/// root there, not a rootless caller. Pure.
pub fn allowed(new_or_joined_user_ns: bool, euid_is_root: bool, rootless: bool) -> bool {
    !new_or_joined_user_ns && euid_is_root && !rootless
}

/// The child's side: "0" into each `tasks` file moves this (single-threaded) process alone,
/// without the kernel's global threadgroup lock. Done right after Proceed, before the child
/// changes namespaces or credentials.
pub fn join(tasks: &[PathBuf]) -> Result<(), ChildError> {
    for file in tasks {
        std::fs::write(file, "0").ctx(|| format!("join the cgroup: write 0 to {file:?}")).stage("cgroup")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_of_our_own_user_namespace_moves_itself() {
        assert!(allowed(false, true, false));
        assert!(!allowed(true, true, false), "a child in a new or joined user namespace is not root of the cgroupfs");
        assert!(!allowed(false, false, false), "an unprivileged caller");
        assert!(!allowed(false, true, true), "rootless");
    }

    #[test]
    fn join_names_the_file_it_could_not_write() {
        let missing = PathBuf::from("/nonexistent-youki-test/tasks");
        let err = join(std::slice::from_ref(&missing)).unwrap_err();
        assert_eq!(err.stage, "cgroup");
        assert!(err.to_string().contains("/nonexistent-youki-test/tasks"), "{err}");
        let d = tempfile::tempdir().unwrap();
        let tasks = d.path().join("tasks");
        join(std::slice::from_ref(&tasks)).unwrap();
        assert_eq!(std::fs::read_to_string(&tasks).unwrap(), "0");
    }
}
