//! The host's view of a container's cgroups (v1 hierarchies, as this host and the private
//! containerd's view have them): where a pid lives, what its limit files hold, and what a
//! pod left behind under its parent cgroup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

const ROOT: &str = "/sys/fs/cgroup";

/// controller -> path, from /proc/PID/cgroup (v1 lines; "cpu,cpuacct" names both).
pub fn parse(proc_cgroup: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        for c in ctrls.split(',').filter(|c| !c.is_empty()) {
            out.insert(c.trim_start_matches("name=").to_string(), path.to_string());
        }
    }
    out
}

/// The directory of PID's cgroup in the CONTROLLER hierarchy.
pub fn dir_of(pid: u32, controller: &str) -> Result<PathBuf> {
    let map = parse(&std::fs::read_to_string(format!("/proc/{pid}/cgroup")).with_context(|| format!("read /proc/{pid}/cgroup"))?);
    let rel = map.get(controller).with_context(|| format!("pid {pid} has no {controller} cgroup"))?;
    Ok(Path::new(ROOT).join(controller).join(rel.trim_start_matches('/')))
}

/// The contents of FILE in the CONTROLLER hierarchy's cgroup of PID, trimmed.
pub fn read(pid: u32, controller: &str, file: &str) -> Result<String> {
    let path = dir_of(pid, controller)?.join(file);
    Ok(std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?.trim().to_string())
}

/// The pids in the cgroup DIR (none when it is gone).
pub fn procs(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// The v1 hierarchies mounted here.
fn hierarchies() -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(ROOT) else { return Vec::new() };
    let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.is_dir() && !p.join("cgroup.controllers").exists()).collect();
    v.sort();
    v
}

/// Directories below PARENT in any hierarchy: after a pod is gone, there must be none.
pub fn children_of(parent: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for h in hierarchies() {
        let dir = h.join(parent.trim_start_matches('/'));
        if let Ok(rd) = std::fs::read_dir(&dir) {
            out.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    out
}

/// Removes PARENT from every hierarchy, as the kubelet removes a pod's cgroup.
pub fn remove(parent: &str) -> Result<()> {
    for h in hierarchies() {
        let dir = h.join(parent.trim_start_matches('/'));
        if dir.exists() {
            std::fs::remove_dir(&dir).with_context(|| format!("rmdir {}", dir.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_lines_and_combined_controllers() {
        let m = parse("9:name=systemd:/\n4:memory:/pod/c1\n2:cpu,cpuacct:/pod/c1\n0::/\n");
        assert_eq!(m["memory"], "/pod/c1");
        assert_eq!(m["cpu"], "/pod/c1");
        assert_eq!(m["cpuacct"], "/pod/c1");
        assert_eq!(m["systemd"], "/");
        assert!(!m.contains_key(""));
    }
}
