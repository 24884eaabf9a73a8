//! Preparing cgroup directories before tasks join them: a new v1 cpuset cgroup starts with
//! empty cpuset.cpus/cpuset.mems and refuses tasks until they are filled (from the parent),
//! and a cgroup2 controller must be enabled in cgroup.subtree_control of every ancestor
//! before its files appear in the container's directory.

use std::path::Path;

use crate::{files, CgroupError};

/// Creates `dir` below `mountpoint`, level by level, copying cpuset.cpus and cpuset.mems
/// from the parent into any level where they are empty.
pub(crate) fn create_cpuset_dir(mountpoint: &Path, dir: &Path) -> Result<(), CgroupError> {
    let rel = dir.strip_prefix(mountpoint).map_err(|_| CgroupError::InvalidState(format!("{dir:?} is not below {mountpoint:?}")))?;
    let mut parent = mountpoint.to_path_buf();
    for part in rel.components() {
        let child = parent.join(part);
        files::create_dir(&child)?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mine = child.join(file);
            if files::read(&mine)?.trim().is_empty() {
                let theirs = files::read(&parent.join(file))?;
                files::write(&mine, theirs.trim())?;
            }
        }
        parent = child;
    }
    Ok(())
}

/// Enables `controller` ("hugetlb") in cgroup.subtree_control of every cgroup from the
/// cgroup2 `mountpoint` down to the parent of `dir`, skipping those where it already is.
pub(crate) fn enable_in_ancestors(mountpoint: &Path, dir: &Path, controller: &str) -> Result<(), CgroupError> {
    let rel = dir.strip_prefix(mountpoint).map_err(|_| CgroupError::InvalidState(format!("{dir:?} is not below {mountpoint:?}")))?;
    // The ancestors are the root and every level of `rel` but the last.
    let mut ancestor = mountpoint.to_path_buf();
    let mut levels = rel.components().peekable();
    loop {
        let file = ancestor.join("cgroup.subtree_control");
        let enabled = files::read(&file)?;
        if !enabled.split_whitespace().any(|c| c == controller) {
            files::write(&file, &format!("+{controller}"))?;
        }
        match levels.next() {
            Some(level) if levels.peek().is_some() => ancestor.push(level),
            _ => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn cpuset_levels_inherit_from_their_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("cpuset.cpus"), "0-3\n").unwrap();
        fs::write(root.join("cpuset.mems"), "0\n").unwrap();
        // An existing middle level that already has its own cpus.
        fs::create_dir_all(root.join("youki")).unwrap();
        fs::write(root.join("youki/cpuset.cpus"), "1-2\n").unwrap();
        fs::write(root.join("youki/cpuset.mems"), "\n").unwrap();
        fs::create_dir_all(root.join("youki/abc")).unwrap();
        fs::write(root.join("youki/abc/cpuset.cpus"), "").unwrap();
        fs::write(root.join("youki/abc/cpuset.mems"), "").unwrap();

        create_cpuset_dir(root, &root.join("youki/abc")).unwrap();

        let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("youki/cpuset.cpus"), "1-2\n");
        assert_eq!(read("youki/cpuset.mems"), "0");
        assert_eq!(read("youki/abc/cpuset.cpus"), "1-2");
        assert_eq!(read("youki/abc/cpuset.mems"), "0");
    }

    #[test]
    fn controller_is_enabled_from_the_root_down_to_the_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        fs::write(root.join("a/cgroup.subtree_control"), "cpu hugetlb\n").unwrap();
        fs::write(root.join("a/b/cgroup.subtree_control"), "cpu\n").unwrap();

        enable_in_ancestors(root, &root.join("a/b/c"), "hugetlb").unwrap();

        let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("cgroup.subtree_control"), "+hugetlb");
        assert_eq!(read("a/cgroup.subtree_control"), "cpu hugetlb\n");
        assert_eq!(read("a/b/cgroup.subtree_control"), "+hugetlb");
        assert!(!root.join("a/b/c/cgroup.subtree_control").exists());
    }

    #[test]
    fn a_container_directly_below_the_root_enables_only_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        enable_in_ancestors(root, &root.join("abc"), "hugetlb").unwrap();
        assert_eq!(fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(), "+hugetlb");
    }
}
