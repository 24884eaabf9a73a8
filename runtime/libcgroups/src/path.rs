//! Where the container's cgroup lives in each hierarchy: the OCI cgroupsPath rules, as runc
//! applies them with the cgroupfs driver.
//!
//! - absent (or empty): the container id, taken as a relative path;
//! - relative: below the calling process's own cgroup in each hierarchy (/proc/self/cgroup);
//! - absolute: below each hierarchy's mountpoint, whatever the caller's cgroup.
//!
//! ".." components are rejected, so no path can leave the hierarchy.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{CgroupError, Hierarchy, HostCgroups};

const PROC_CGROUP: &str = "/proc/self/cgroup";

/// One line of `/proc/<pid>/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnCgroup {
    pub hierarchy_id: u32,
    /// v1 controllers, e.g. ["cpu", "cpuacct"] or ["name=systemd"]; empty for cgroup2.
    pub controllers: Vec<String>,
    /// The cgroup, relative to the hierarchy's root, e.g. /user.slice.
    pub path: PathBuf,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupDir {
    pub hierarchy: Hierarchy,
    /// Absolute host path, below `hierarchy.mountpoint`.
    pub dir: PathBuf,
}

/// The container's cgroup, resolved in every hierarchy of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The cgroup path inside the hierarchies, e.g. "/youki/abc", for state and telemetry.
    /// When the caller sat in different cgroups per hierarchy (relative cgroupsPath), this
    /// is the path in the first hierarchy.
    pub path: String,
    /// One entry per hierarchy, in the host's order.
    pub dirs: Vec<CgroupDir>,
}

/// Checks a directory read back from a state file: it must lie strictly below its
/// hierarchy's mountpoint, with no "..", so a tampered state cannot aim elsewhere.
pub(crate) fn check_stored(d: &CgroupDir) -> Result<(), CgroupError> {
    let below = d.dir.strip_prefix(&d.hierarchy.mountpoint).ok();
    let clean = below.is_some_and(|rel| rel.components().next().is_some() && rel.components().all(|c| matches!(c, Component::Normal(_))));
    if clean {
        Ok(())
    } else {
        Err(CgroupError::InvalidState(format!("{:?} is not a cgroup below {:?}", d.dir, d.hierarchy.mountpoint)))
    }
}

/// Parses the contents of `/proc/<pid>/cgroup`.
pub fn parse_proc_cgroup(text: &str) -> Result<Vec<OwnCgroup>, CgroupError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = |reason| CgroupError::Parse { file: PROC_CGROUP.to_string(), line: line.to_string(), reason };
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected id:controllers:path"));
        };
        let hierarchy_id = id.parse().map_err(|_| bad("hierarchy id is not a number"))?;
        out.push(OwnCgroup {
            hierarchy_id,
            controllers: controllers.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect(),
            path: PathBuf::from(path),
        });
    }
    Ok(out)
}

/// Resolves `cgroups_path` (from the spec) in every hierarchy of `host`. `own` is the
/// caller's /proc/self/cgroup; it is only consulted for a relative (or absent) path.
pub fn resolve(host: &HostCgroups, own: &[OwnCgroup], cgroups_path: Option<&Path>, container_id: &str) -> Result<Resolved, CgroupError> {
    let given = cgroups_path.filter(|p| !p.as_os_str().is_empty());
    let raw = given.unwrap_or_else(|| Path::new(container_id));
    let rel = clean(raw)?;
    let absolute = raw.is_absolute();
    if absolute && rel.as_os_str().is_empty() {
        return Err(CgroupError::InvalidPath { path: raw.to_path_buf(), reason: "it names the root cgroup" });
    }
    if rel.as_os_str().is_empty() {
        return Err(CgroupError::InvalidPath { path: raw.to_path_buf(), reason: "it is empty" });
    }
    let mut dirs = Vec::with_capacity(host.hierarchies.len());
    let mut shown = None;
    for h in &host.hierarchies {
        let (dir, inside) = if absolute {
            (h.mountpoint.join(&rel), Path::new("/").join(&rel))
        } else {
            let mine = own_cgroup(h, own)?;
            let below_root = mine
                .path
                .strip_prefix(&h.root)
                .map_err(|_| CgroupError::OwnCgroup { hierarchy: name_of(h), reason: "it lies outside the mounted subtree" })?;
            (h.mountpoint.join(below_root).join(&rel), mine.path.join(&rel))
        };
        shown.get_or_insert(inside);
        dirs.push(CgroupDir { hierarchy: h.clone(), dir });
    }
    let path = shown.unwrap_or_else(|| Path::new("/").join(&rel));
    Ok(Resolved { path: path.to_string_lossy().into_owned(), dirs })
}

/// The normal components of `path`, without "." and the leading "/"; ".." is an error.
fn clean(path: &Path) -> Result<PathBuf, CgroupError> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(CgroupError::InvalidPath { path: path.to_path_buf(), reason: "\"..\" components are not allowed" })
            }
        }
    }
    Ok(out)
}

fn own_cgroup<'a>(h: &Hierarchy, own: &'a [OwnCgroup]) -> Result<&'a OwnCgroup, CgroupError> {
    own.iter()
        .find(|o| {
            if h.unified {
                o.hierarchy_id == 0 && o.controllers.is_empty()
            } else {
                o.hierarchy_id != 0 && o.controllers.len() == h.controllers.len() && o.controllers.iter().all(|c| h.controllers.contains(c))
            }
        })
        .ok_or_else(|| CgroupError::OwnCgroup { hierarchy: name_of(h), reason: "no entry in /proc/self/cgroup" })
}

fn name_of(h: &Hierarchy) -> String {
    if h.unified {
        "cgroup2".to_string()
    } else {
        h.controllers.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layout;

    fn host() -> HostCgroups {
        HostCgroups {
            layout: Layout::Hybrid,
            hierarchies: vec![
                Hierarchy::new("/sys/fs/cgroup/cpu,cpuacct", &["cpu", "cpuacct"], false),
                Hierarchy::new("/sys/fs/cgroup/memory", &["memory"], false),
                Hierarchy::new("/sys/fs/cgroup/systemd", &["name=systemd"], false),
                Hierarchy::new("/sys/fs/cgroup/unified", &["hugetlb"], true),
            ],
        }
    }

    fn own() -> Vec<OwnCgroup> {
        parse_proc_cgroup(
            "12:name=systemd:/user.slice/session-1.scope\n\
             4:memory:/user.slice\n\
             2:cpu,cpuacct:/\n\
             0::/user.slice/session-1.scope\n",
        )
        .unwrap()
    }

    fn dirs(r: &Resolved) -> Vec<&str> {
        r.dirs.iter().map(|d| d.dir.to_str().unwrap()).collect()
    }

    #[test]
    fn parses_proc_self_cgroup() {
        let own = own();
        assert_eq!(
            own[0],
            OwnCgroup { hierarchy_id: 12, controllers: vec!["name=systemd".into()], path: "/user.slice/session-1.scope".into() }
        );
        assert_eq!(own[2].controllers, ["cpu", "cpuacct"]);
        assert_eq!(own[3].hierarchy_id, 0);
        assert!(own[3].controllers.is_empty());
    }

    #[test]
    fn proc_cgroup_paths_may_contain_colons() {
        let own = parse_proc_cgroup("0::/a:b\n").unwrap();
        assert_eq!(own[0].path, PathBuf::from("/a:b"));
    }

    #[test]
    fn malformed_proc_cgroup_is_an_error() {
        assert_eq!(
            parse_proc_cgroup("x:cpu:/\n").unwrap_err().to_string(),
            "parse /proc/self/cgroup: hierarchy id is not a number in line \"x:cpu:/\""
        );
        assert!(parse_proc_cgroup("4:memory\n").is_err());
    }

    #[test]
    fn absolute_path_goes_under_every_mountpoint() {
        let r = resolve(&host(), &[], Some(Path::new("/youki/abc")), "abc").unwrap();
        assert_eq!(r.path, "/youki/abc");
        assert_eq!(
            dirs(&r),
            [
                "/sys/fs/cgroup/cpu,cpuacct/youki/abc",
                "/sys/fs/cgroup/memory/youki/abc",
                "/sys/fs/cgroup/systemd/youki/abc",
                "/sys/fs/cgroup/unified/youki/abc",
            ]
        );
    }

    #[test]
    fn relative_path_goes_below_own_cgroup_in_each_hierarchy() {
        let r = resolve(&host(), &own(), Some(Path::new("pods/abc")), "abc").unwrap();
        assert_eq!(r.path, "/pods/abc");
        assert_eq!(
            dirs(&r),
            [
                "/sys/fs/cgroup/cpu,cpuacct/pods/abc",
                "/sys/fs/cgroup/memory/user.slice/pods/abc",
                "/sys/fs/cgroup/systemd/user.slice/session-1.scope/pods/abc",
                "/sys/fs/cgroup/unified/user.slice/session-1.scope/pods/abc",
            ]
        );
    }

    #[test]
    fn absent_path_is_the_container_id_relative() {
        let r = resolve(&host(), &own(), None, "abc").unwrap();
        assert_eq!(dirs(&r)[1], "/sys/fs/cgroup/memory/user.slice/abc");
        let empty = resolve(&host(), &own(), Some(Path::new("")), "abc").unwrap();
        assert_eq!(empty, r);
    }

    #[test]
    fn dot_components_are_dropped() {
        let r = resolve(&host(), &[], Some(Path::new("/./youki//abc/.")), "abc").unwrap();
        assert_eq!(r.path, "/youki/abc");
    }

    #[test]
    fn mount_root_is_stripped_from_own_cgroup() {
        let mut host = host();
        host.hierarchies[1].root = "/user.slice".into();
        let r = resolve(&host, &own(), Some(Path::new("abc")), "abc").unwrap();
        assert_eq!(dirs(&r)[1], "/sys/fs/cgroup/memory/abc");
    }

    #[test]
    fn rejects_parent_components() {
        for p in ["/youki/../etc", "../abc", "a/.."] {
            assert_eq!(
                resolve(&host(), &own(), Some(Path::new(p)), "abc").unwrap_err().to_string(),
                format!("invalid cgroups path {p:?}: \"..\" components are not allowed")
            );
        }
        assert!(resolve(&host(), &own(), None, "..").is_err());
    }

    #[test]
    fn rejects_the_root_cgroup() {
        assert_eq!(
            resolve(&host(), &[], Some(Path::new("/")), "abc").unwrap_err().to_string(),
            "invalid cgroups path \"/\": it names the root cgroup"
        );
        assert_eq!(
            resolve(&host(), &own(), Some(Path::new(".")), "abc").unwrap_err().to_string(),
            "invalid cgroups path \".\": it is empty"
        );
    }

    #[test]
    fn relative_path_needs_an_own_cgroup_for_every_hierarchy() {
        let own = parse_proc_cgroup("4:memory:/\n").unwrap();
        assert_eq!(
            resolve(&host(), &own, None, "abc").unwrap_err().to_string(),
            "own cgroup in hierarchy \"cpu,cpuacct\": no entry in /proc/self/cgroup"
        );
    }

    #[test]
    fn own_cgroup_outside_the_mount_root_is_an_error() {
        let mut host = host();
        host.hierarchies[1].root = "/other".into();
        assert_eq!(
            resolve(&host, &own(), None, "abc").unwrap_err().to_string(),
            "own cgroup in hierarchy \"memory\": it lies outside the mounted subtree"
        );
    }
}
