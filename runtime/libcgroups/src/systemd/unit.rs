//! Naming for the systemd driver: the `slice:prefix:name` cgroupsPath, the transient scope's
//! unit name, and where systemd puts a slice in the cgroup tree.
//!
//! As with runc: an empty slice means system.slice (user.slice for an unprivileged caller),
//! the unit is `<prefix>-<name>.scope`, and slice names nest by their dashes: a-b.slice lives
//! in a.slice, so its cgroup is /a.slice/a-b.slice. An empty cgroupsPath becomes
//! `<default slice>:youki:<container id>`.

use std::path::{Path, PathBuf};

use crate::CgroupError;

/// Where a container's scope goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    pub slice: String,
    pub unit: String,
}

impl UnitPath {
    /// Parses `cgroups_path` (None or empty: the default), for a root (`rootless` false) or
    /// unprivileged caller.
    pub fn parse(cgroups_path: Option<&Path>, container_id: &str, rootless: bool) -> Result<Self, CgroupError> {
        let default_slice = if rootless { "user.slice" } else { "system.slice" };
        let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        if raw.is_empty() {
            return Ok(UnitPath { slice: default_slice.to_string(), unit: format!("youki-{container_id}.scope") });
        }
        let invalid = |reason| CgroupError::InvalidPath { path: PathBuf::from(&raw), reason };
        let parts: Vec<&str> = raw.split(':').collect();
        let [slice, prefix, name] = parts.as_slice() else {
            return Err(invalid("the systemd driver expects \"slice:prefix:name\""));
        };
        if name.is_empty() {
            return Err(invalid("the name part is empty"));
        }
        let slice = if slice.is_empty() { default_slice.to_string() } else { slice.to_string() };
        slice_dir(&slice).map_err(|_| invalid("the slice must be a valid systemd slice name, like system.slice"))?;
        let unit = if name.ends_with(".slice") {
            return Err(invalid("a slice as the unit name is not supported; name a scope"));
        } else if name.ends_with(".scope") {
            name.to_string()
        } else if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        if unit.contains('/') || unit.starts_with('.') {
            return Err(invalid("the unit name may not contain \"/\""));
        }
        Ok(UnitPath { slice, unit })
    }

    /// The scope's cgroup, relative to the cgroup2 root: /a.slice/a-b.slice/p-n.scope.
    pub fn cgroup(&self) -> Result<PathBuf, CgroupError> {
        Ok(slice_dir(&self.slice)?.join(&self.unit))
    }
}

/// The cgroup of a slice, relative to the root: "-.slice" is the root itself.
pub fn slice_dir(slice: &str) -> Result<PathBuf, CgroupError> {
    let bad = || CgroupError::InvalidPath { path: PathBuf::from(slice), reason: "not a valid systemd slice name" };
    let Some(stem) = slice.strip_suffix(".slice") else { return Err(bad()) };
    let mut out = PathBuf::from("/");
    if stem == "-" {
        return Ok(out);
    }
    if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") || stem.contains('/') {
        return Err(bad());
    }
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push(format!("{prefix}.slice"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &str) -> Result<UnitPath, CgroupError> {
        UnitPath::parse(Some(Path::new(p)), "abc", false)
    }

    #[test]
    fn slice_prefix_name() {
        let u = parse("system.slice:cri-containerd:abc123").unwrap();
        assert_eq!(u, UnitPath { slice: "system.slice".into(), unit: "cri-containerd-abc123.scope".into() });
        assert_eq!(u.cgroup().unwrap(), Path::new("/system.slice/cri-containerd-abc123.scope"));
    }

    #[test]
    fn defaults() {
        assert_eq!(UnitPath::parse(None, "abc", false).unwrap().unit, "youki-abc.scope");
        assert_eq!(UnitPath::parse(None, "abc", true).unwrap().slice, "user.slice");
        assert_eq!(parse(":youki:x").unwrap().slice, "system.slice");
        assert_eq!(parse("machine.slice::x").unwrap().unit, "x.scope");
        assert_eq!(parse("machine.slice:p:x.scope").unwrap().unit, "x.scope");
    }

    #[test]
    fn nested_slices_follow_their_dashes() {
        assert_eq!(
            slice_dir("kubepods-besteffort-pod1.slice").unwrap(),
            Path::new("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice")
        );
        assert_eq!(slice_dir("-.slice").unwrap(), Path::new("/"));
    }

    #[test]
    fn bad_paths_are_named() {
        for (p, why) in [
            ("/youki/abc", "the systemd driver expects \"slice:prefix:name\""),
            ("a:b", "the systemd driver expects \"slice:prefix:name\""),
            ("system.slice:youki:", "the name part is empty"),
            ("system:youki:x", "the slice must be a valid systemd slice name, like system.slice"),
            ("a--b.slice:youki:x", "the slice must be a valid systemd slice name, like system.slice"),
            ("system.slice:youki:x.slice", "a slice as the unit name is not supported; name a scope"),
        ] {
            assert_eq!(parse(p).unwrap_err().to_string(), format!("invalid cgroups path {p:?}: {why}"), "{p}");
        }
    }
}
