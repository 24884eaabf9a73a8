//! What the host sees, read from the harness's side: mounts, processes, cgroup directories,
//! namespaces and privileges. Used for the "nothing left behind" checks and host-side reads.

use crate::procfs::{self, MountInfo};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub fn mounts() -> Result<Vec<MountInfo>> {
    let text = fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    Ok(procfs::parse_mountinfo(&text))
}

/// Host mount points at or below `dir`.
pub fn mounts_under(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(mounts()?.into_iter().map(|m| PathBuf::from(m.mount_point)).filter(|p| p.starts_with(dir)).collect())
}

/// Live processes (not this one, not zombies) whose command line or cgroup membership contains
/// `needle`. A zombie holds no resources; reaping it is its new parent's business (here pid 1,
/// which may take a while).
pub fn processes_naming(needle: &str) -> Vec<String> {
    let own = std::process::id().to_string();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == own {
            continue;
        }
        if !name.parse().is_ok_and(pid_alive) {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
            .unwrap_or_default();
        let cgroup = fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        if cmdline.contains(needle) || cgroup.contains(needle) {
            found.push(format!("pid {name} `{cmdline}`"));
        }
    }
    found
}

/// One mounted cgroup hierarchy on the host.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// The cgroup path that the mount point shows (usually `/`).
    pub root: String,
    /// v1 controllers (`memory`, `name=systemd`); empty for cgroup2.
    pub controllers: Vec<String>,
}

impl Hierarchy {
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    /// The host directory of a cgroup path in this hierarchy.
    pub fn dir(&self, cgroup_path: &str) -> PathBuf {
        let rel = cgroup_path.strip_prefix(self.root.trim_end_matches('/')).unwrap_or(cgroup_path);
        self.mount_point.join(rel.trim_start_matches('/'))
    }

    /// The name /proc/<pid>/cgroup uses for this hierarchy (`cpu,cpuacct`, `` for v2).
    pub fn key(&self) -> String {
        self.controllers.join(",")
    }
}

const V1_CONTROLLERS: [&str; 13] =
    ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma"];

pub fn hierarchies() -> Result<Vec<Hierarchy>> {
    let mut out = Vec::new();
    for m in mounts()? {
        let controllers = match m.fstype.as_str() {
            "cgroup" => {
                m.super_options.split(',').filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name=")).map(str::to_string).collect()
            }
            "cgroup2" => Vec::new(),
            _ => continue,
        };
        out.push(Hierarchy { mount_point: PathBuf::from(m.mount_point), root: m.root, controllers });
    }
    Ok(out)
}

/// The hierarchy that holds a v1 controller (or v2 for `""`).
pub fn hierarchy(controller: &str) -> Result<Hierarchy> {
    hierarchies()?
        .into_iter()
        .find(|h| if controller.is_empty() { h.is_v2() } else { h.controllers.iter().any(|c| c == controller) })
        .with_context(|| format!("no cgroup hierarchy for {controller:?} is mounted on the host"))
}

/// Where the cgroup controllers live, as far as the cases care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// v1 controllers, alone or beside a cgroup2 mount (hybrid).
    V1,
    /// cgroup2 only: one hierarchy holds every controller.
    Unified,
}

pub fn layout() -> Result<Layout> {
    let all = hierarchies()?;
    if all.iter().any(|h| h.controllers.iter().any(|c| !c.starts_with("name="))) {
        return Ok(Layout::V1);
    }
    if all.iter().any(Hierarchy::is_v2) {
        return Ok(Layout::Unified);
    }
    anyhow::bail!("no cgroup hierarchy is mounted on this host")
}

/// The hierarchy holding a controller's files: its v1 hierarchy, or the unified one.
pub fn hierarchy_of(layout: Layout, v1_controller: &str) -> Result<Hierarchy> {
    match layout {
        Layout::V1 => hierarchy(v1_controller),
        Layout::Unified => hierarchy(""),
    }
}

/// A controller file of a cgroup, read from the host and trimmed.
pub fn read_cgroup_file(layout: Layout, v1_controller: &str, cgroup: &str, file: &str) -> Result<String> {
    let path = hierarchy_of(layout, v1_controller)?.dir(cgroup).join(file);
    Ok(fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?.trim().to_string())
}

/// Whether a controller file exists in a cgroup (or at the root for `/`).
pub fn cgroup_file_exists(layout: Layout, v1_controller: &str, cgroup: &str, file: &str) -> bool {
    hierarchy_of(layout, v1_controller).is_ok_and(|h| h.dir(cgroup).join(file).exists())
}

/// The major:minor of the first real disk in /sys/block (virtio, SCSI/SATA, NVMe, Xen), for
/// per-device block IO rules.
pub fn first_disk() -> Option<(u64, u64)> {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| ["vd", "sd", "nvme", "xvd", "hd"].iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    let dev = fs::read_to_string(format!("/sys/block/{}/dev", names.first()?)).ok()?;
    let (major, minor) = dev.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Parses /proc/<pid>/cgroup into hierarchy key -> path.
pub fn cgroup_paths(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((names.to_string(), path.to_string()))
        })
        .collect()
}

pub fn own_cgroups() -> Result<BTreeMap<String, String>> {
    let text = fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    Ok(cgroup_paths(&text))
}

/// Existing cgroup directories, in any hierarchy, for the given cgroup paths.
pub fn existing_cgroup_dirs(paths: &[String]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for h in hierarchies()? {
        for p in paths {
            let dir = h.dir(p);
            if dir != h.mount_point && dir.is_dir() {
                found.push(dir);
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// Whether this process holds a capability in its effective set.
pub fn has_capability(bit: u32) -> Result<bool> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let eff = procfs::status_field(&status, "CapEff").context("no CapEff in /proc/self/status")?;
    let mask = u64::from_str_radix(eff, 16).with_context(|| format!("CapEff {eff:?} is not hex"))?;
    Ok(mask & (1 << bit) != 0)
}

/// The namespace links of a process (`self` or a pid).
pub fn namespaces(pid: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for kind in ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] {
        if let Ok(link) = fs::read_link(format!("/proc/{pid}/ns/{kind}")) {
            out.insert(kind.to_string(), link.to_string_lossy().into_owned());
        }
    }
    out
}

pub fn pid_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; only count processes that have not exited.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_cgroup_paths_to_host_dirs() {
        let h = Hierarchy { mount_point: PathBuf::from("/sys/fs/cgroup/memory"), root: "/".into(), controllers: vec!["memory".into()] };
        assert_eq!(h.dir("/a/b"), PathBuf::from("/sys/fs/cgroup/memory/a/b"));
        let nested = Hierarchy { root: "/outer".into(), ..h };
        assert_eq!(nested.dir("/outer/x"), PathBuf::from("/sys/fs/cgroup/memory/x"));
    }

    #[test]
    fn parses_proc_cgroup() {
        let map = cgroup_paths("4:memory:/a/x\n1:cpu,cpuacct:/x\n0::/x\n");
        assert_eq!(map.get("memory").map(String::as_str), Some("/a/x"));
        assert_eq!(map.get("cpu,cpuacct").map(String::as_str), Some("/x"));
        assert_eq!(map.get("").map(String::as_str), Some("/x"));
    }

    #[test]
    fn this_process_is_alive_and_visible() {
        assert!(pid_alive(std::process::id()));
        assert!(namespaces("self").contains_key("mnt"));
    }
}
