//! Finds the host's cgroup hierarchies in /proc/self/mountinfo and decides the layout
//! (v1, hybrid or pure v2). Parsing is pure; [`detect`] does the two reads.

use std::path::{Path, PathBuf};

use crate::{CgroupError, Hierarchy, HostCgroups, Layout};

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Super options of a v1 cgroup mount that are not controllers.
const NOT_CONTROLLERS: &[&str] = &["rw", "ro", "none", "noprefix", "clone_children", "xattr", "cpuset_v2_mode", "favordynmods"];

/// Reads the host's cgroup layout: /proc/self/mountinfo once, plus cgroup.controllers of
/// the cgroup2 mount when there is one.
pub fn detect() -> Result<HostCgroups, CgroupError> {
    let text = crate::files::read_text(MOUNTINFO).map_err(|e| CgroupError::io("read", MOUNTINFO, e))?;
    let mut host = parse_mountinfo(&text)?;
    for h in host.hierarchies.iter_mut().filter(|h| h.unified) {
        h.controllers = read_controllers(&h.mountpoint)?;
    }
    Ok(host)
}

/// The controllers of the cgroup2 hierarchy mounted at `mountpoint`, from its
/// cgroup.controllers.
pub(crate) fn read_controllers(mountpoint: &Path) -> Result<Vec<String>, CgroupError> {
    let file = mountpoint.join("cgroup.controllers");
    let text = crate::files::read_text(&file).map_err(|e| CgroupError::io("read", &file, e))?;
    Ok(parse_controllers(&text))
}

/// The controllers named in a cgroup2 `cgroup.controllers` (or `cgroup.subtree_control`).
pub fn parse_controllers(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// The cgroup hierarchies mounted according to `text` (the contents of a mountinfo file),
/// in mount order. A hierarchy mounted twice is listed once. The cgroup2 hierarchy gets no
/// controllers here: they are in its cgroup.controllers, which [`detect`] reads.
pub fn parse_mountinfo(text: &str) -> Result<HostCgroups, CgroupError> {
    let mut hierarchies: Vec<Hierarchy> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some(h) = parse_line(line)? else { continue };
        let seen = hierarchies.iter().any(|o| o.unified == h.unified && (h.unified || same_set(&o.controllers, &h.controllers)));
        if !seen {
            hierarchies.push(h);
        }
    }
    let has_v2 = hierarchies.iter().any(|h| h.unified);
    let has_v1_controllers = hierarchies.iter().filter(|h| !h.unified).flat_map(|h| &h.controllers).any(|c| !c.starts_with("name="));
    let layout = match (has_v2, has_v1_controllers) {
        (true, true) => Layout::Hybrid,
        // Named v1 hierarchies beside a cgroup2 root carry no resources: still a v2 host.
        (true, false) => Layout::V2,
        (false, _) if !hierarchies.is_empty() => Layout::V1,
        (false, _) => return Err(CgroupError::NoHierarchy),
    };
    Ok(HostCgroups { layout, hierarchies })
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// One mountinfo line: `id parent maj:min root mountpoint opts [optional...] - fstype source superopts`.
fn parse_line(line: &str) -> Result<Option<Hierarchy>, CgroupError> {
    let bad = |reason| CgroupError::Parse { file: MOUNTINFO.to_string(), line: line.to_string(), reason };
    let (left, right) = line.split_once(" - ").ok_or_else(|| bad("no \" - \" separator"))?;
    let left: Vec<&str> = left.split(' ').collect();
    if left.len() < 6 {
        return Err(bad("fewer than 6 fields before the separator"));
    }
    let mut right = right.split(' ');
    let fstype = right.next().unwrap_or_default();
    let _source = right.next();
    let superopts = right.next().unwrap_or_default();
    let unified = match fstype {
        "cgroup" => false,
        "cgroup2" => true,
        _ => return Ok(None),
    };
    let controllers = if unified {
        Vec::new()
    } else {
        superopts
            .split(',')
            .filter(|o| !o.is_empty())
            .filter(|o| !NOT_CONTROLLERS.contains(o) && !o.starts_with("release_agent="))
            .map(str::to_string)
            .collect()
    };
    Ok(Some(Hierarchy { mountpoint: PathBuf::from(unescape(left[4])), controllers, unified, root: PathBuf::from(unescape(left[3])) }))
}

/// Undoes the kernel's octal escapes in mountinfo paths (`\040` for a space, `\134` for `\`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(v as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(mountpoint: &str, controllers: &[&str]) -> Hierarchy {
        Hierarchy::new(mountpoint, controllers, false)
    }

    const HYBRID: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_lists_v1_named_and_unified_in_mount_order() {
        let host = parse_mountinfo(HYBRID).unwrap();
        assert_eq!(host.layout, Layout::Hybrid);
        assert_eq!(
            host.hierarchies,
            vec![
                h("/sys/fs/cgroup/cpu", &["cpu"]),
                h("/sys/fs/cgroup/cpuacct", &["cpuacct"]),
                h("/sys/fs/cgroup/memory", &["memory"]),
                h("/sys/fs/cgroup/systemd", &["name=systemd"]),
                Hierarchy::new("/sys/fs/cgroup/unified", &[], true),
            ]
        );
    }

    #[test]
    fn v1_only_with_comounted_cpu_cpuacct() {
        let text = "\
25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/net_cls,net_prio rw shared:10 - cgroup cgroup rw,net_cls,net_prio
27 24 0:24 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset,clone_children
28 24 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
";
        let host = parse_mountinfo(text).unwrap();
        assert_eq!(host.layout, Layout::V1);
        assert_eq!(
            host.hierarchies,
            vec![
                h("/sys/fs/cgroup/cpu,cpuacct", &["cpu", "cpuacct"]),
                h("/sys/fs/cgroup/net_cls,net_prio", &["net_cls", "net_prio"]),
                h("/sys/fs/cgroup/cpuset", &["cpuset"]),
                h("/sys/fs/cgroup/systemd", &["name=systemd"]),
            ]
        );
    }

    #[test]
    fn pure_v2() {
        let text = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        let host = parse_mountinfo(text).unwrap();
        assert_eq!(host.layout, Layout::V2);
        assert_eq!(host.hierarchies, vec![Hierarchy::new("/sys/fs/cgroup", &[], true)]);
    }

    #[test]
    fn named_hierarchy_beside_cgroup2_root_is_still_v2() {
        let text = "\
30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
";
        let host = parse_mountinfo(text).unwrap();
        assert_eq!(host.layout, Layout::V2);
        assert_eq!(host.hierarchies.len(), 2);
    }

    #[test]
    fn named_hierarchies_without_controllers_keep_their_name() {
        let text = "40 31 0:37 / /run/mycg rw - cgroup mycg rw,none,name=mine\n";
        let host = parse_mountinfo(text).unwrap();
        assert_eq!(host.layout, Layout::V1);
        assert_eq!(host.hierarchies, vec![h("/run/mycg", &["name=mine"])]);
    }

    #[test]
    fn a_hierarchy_mounted_twice_is_listed_once() {
        let text = "\
32 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
90 80 0:29 / /var/lib/x/memory rw - cgroup cgroup rw,memory
";
        assert_eq!(parse_mountinfo(text).unwrap().hierarchies.len(), 1);
    }

    #[test]
    fn keeps_the_mount_root_and_unescapes_paths() {
        let text = "32 31 0:29 /docker/abc /sys/fs/cgroup/my\\040mem rw - cgroup cgroup rw,memory\n";
        let host = parse_mountinfo(text).unwrap();
        assert_eq!(host.hierarchies[0].mountpoint, PathBuf::from("/sys/fs/cgroup/my mem"));
        assert_eq!(host.hierarchies[0].root, PathBuf::from("/docker/abc"));
    }

    #[test]
    fn optional_fields_before_the_separator_are_skipped() {
        let text = "32 31 0:29 / /cg rw shared:1 master:2 - cgroup cgroup rw,pids\n";
        assert_eq!(parse_mountinfo(text).unwrap().hierarchies, vec![h("/cg", &["pids"])]);
    }

    #[test]
    fn no_cgroup_mount_is_an_error() {
        let text = "23 1 0:21 / /sys rw - sysfs sysfs rw\n";
        assert_eq!(parse_mountinfo(text).unwrap_err().to_string(), "no cgroup hierarchy is mounted");
    }

    #[test]
    fn malformed_line_is_an_error_naming_it() {
        assert_eq!(
            parse_mountinfo("32 31 0:29 / /cg rw cgroup cgroup rw,pids\n").unwrap_err().to_string(),
            "parse /proc/self/mountinfo: no \" - \" separator in line \"32 31 0:29 / /cg rw cgroup cgroup rw,pids\""
        );
    }

    #[test]
    fn cgroup_controllers_are_whitespace_separated() {
        assert_eq!(parse_controllers("cpuset cpu io hugetlb\n"), ["cpuset", "cpu", "io", "hugetlb"]);
        assert!(parse_controllers("\n").is_empty());
    }
}
