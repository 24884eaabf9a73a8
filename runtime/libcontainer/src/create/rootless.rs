//! Containers made by an unprivileged user: id maps through the kernel's one-id rule or
//! newuidmap/newgidmap, and cgroups only where the user may write them.

use std::process::Command;

use nix::unistd::Pid;

use crate::error::ContainerError;
use crate::plan::{IdMap, IdMaps};

/// The id maps of a new user namespace. As root they are written directly. A user may write
/// only a map of its own ids (after `setgroups` is denied); anything wider goes through the
/// setuid helpers newuidmap and newgidmap (package uidmap), which check /etc/subuid.
pub fn write_id_maps(pid: Pid, maps: &IdMaps, rootless: bool) -> Result<(), ContainerError> {
    if !rootless {
        write(pid, "uid_map", &maps.uid)?;
        return write(pid, "gid_map", &maps.gid);
    }
    let euid = nix::unistd::geteuid().as_raw();
    let egid = nix::unistd::getegid().as_raw();
    if own_id_only(&maps.uid, euid) && own_id_only(&maps.gid, egid) {
        proc_write(pid, "setgroups", "deny")?;
        write(pid, "uid_map", &maps.uid)?;
        return write(pid, "gid_map", &maps.gid);
    }
    helper("newuidmap", pid, &maps.uid)?;
    helper("newgidmap", pid, &maps.gid)
}

/// Whether this user may make the container's cgroup directories: each one's parent must
/// exist and be writable.
pub fn cgroup_writable(state: &libcgroups::CgroupState) -> bool {
    state.dirs.iter().all(|d| {
        let parent = d.dir.ancestors().skip(1).find(|p| p.exists());
        parent.is_some_and(|p| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok())
    })
}

/// A single mapping of exactly one id, the caller's own.
pub fn own_id_only(maps: &[IdMap], own: u32) -> bool {
    maps.len() == 1 && maps[0].host == own && maps[0].size == 1
}

fn write(pid: Pid, file: &str, maps: &[IdMap]) -> Result<(), ContainerError> {
    let text: String = maps.iter().map(|m| format!("{} {} {}\n", m.container, m.host, m.size)).collect();
    proc_write(pid, file, &text)
}

/// Writes /proc/PID/FILE through a checked procfs root (`procfs`).
fn proc_write(pid: Pid, file: &str, text: &str) -> Result<(), ContainerError> {
    let proc = crate::rootfs::procfs::ProcRoot::host().map_err(|e| ContainerError::sys(e.to_string(), e.source))?;
    let path = std::path::PathBuf::from(format!("{pid}/{file}"));
    proc.write(&path, text.as_bytes()).map_err(|e| ContainerError::sys(e.to_string(), e.source))
}

fn helper(tool: &str, pid: Pid, maps: &[IdMap]) -> Result<(), ContainerError> {
    let mut cmd = Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container.to_string(), m.host.to_string(), m.size.to_string()]);
    }
    let out = cmd.output().map_err(|e| ContainerError::IdMapHelper { tool: tool.to_string(), detail: e.to_string() })?;
    if !out.status.success() {
        let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(ContainerError::IdMapHelper { tool: tool.to_string(), detail });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_id_rule() {
        let one = vec![IdMap { container: 0, host: 1000, size: 1 }];
        assert!(own_id_only(&one, 1000));
        assert!(!own_id_only(&one, 1001));
        assert!(!own_id_only(&[IdMap { container: 0, host: 1000, size: 65536 }], 1000));
    }
}
