//! `linux.netDevices` (config-linux.md "Network Devices"): host network devices moved into the
//! container's network namespace, optionally renamed, with their permanent global addresses
//! and set up. Planned purely (`plan`), moved by the parent right after clone (`move_all`).
//! Nothing moves them back: when the namespace dies the kernel returns physical devices to
//! the host and destroys virtual ones (veth, macvlan...), as the spec wants.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxNetDevice;

use crate::net::netlink::Route;
use crate::syserror::{Context, SysError};

/// One device to move: its name on the host and in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevice {
    pub host_name: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetDeviceError {
    #[error("linux.netDevices needs a network namespace of the container's")]
    NoNetNs,
    #[error("invalid linux.netDevices {0:?}: no such network device on the host")]
    Missing(String),
    #[error("invalid linux.netDevices {key:?}: name {name:?} {why}")]
    BadName { key: String, name: String, why: &'static str },
    #[error("invalid linux.netDevices: {key:?} and {other:?} both become {name:?}")]
    SameName { key: String, other: String, name: String },
}

/// Checks a device name as the kernel's dev_valid_name does; `%d` once is a template.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > 15 {
        return Err("is longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return Err("is not a device name");
    }
    if name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control()) {
        return Err("must not contain '/', ':' or spaces");
    }
    if let Some((_, rest)) = name.split_once('%') {
        if !rest.starts_with('d') || rest[1..].contains('%') {
            return Err("may only hold one %d template");
        }
    }
    Ok(())
}

/// Plans the moves: every key must name a device of the host (`host_devices`), every new
/// name must be valid and distinct, and the container must have a network namespace.
pub fn plan(
    devices: &HashMap<String, LinuxNetDevice>,
    host_devices: &[String],
    has_net_ns: bool,
) -> Result<Vec<NetDevice>, NetDeviceError> {
    if devices.is_empty() {
        return Ok(Vec::new());
    }
    if !has_net_ns {
        return Err(NetDeviceError::NoNetNs);
    }
    let mut keys: Vec<&String> = devices.keys().collect();
    keys.sort();
    let mut out: Vec<NetDevice> = Vec::new();
    for key in keys {
        check_name(key).map_err(|why| NetDeviceError::BadName { key: key.clone(), name: key.clone(), why })?;
        if !host_devices.contains(key) {
            return Err(NetDeviceError::Missing(key.clone()));
        }
        let name = devices[key].name().clone().filter(|n| !n.is_empty()).unwrap_or_else(|| key.clone());
        check_name(&name).map_err(|why| NetDeviceError::BadName { key: key.clone(), name: name.clone(), why })?;
        if let Some(other) = out.iter().find(|d| d.name == name && !name.contains('%')) {
            return Err(NetDeviceError::SameName { key: key.clone(), other: other.host_name.clone(), name });
        }
        out.push(NetDevice { host_name: key.clone(), name });
    }
    Ok(out)
}

/// The host's network devices, from /sys/class/net (empty when unreadable).
pub fn host_devices() -> Vec<String> {
    std::fs::read_dir("/sys/class/net").map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()).unwrap_or_default()
}

/// Moves every device into the network namespace at `netns`, re-adds its permanent global
/// addresses there (a move drops them) and sets it up.
pub fn move_all(devices: &[NetDevice], netns: &Path) -> Result<(), SysError> {
    if devices.is_empty() {
        return Ok(());
    }
    let target = open(netns, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).ctx(|| format!("open {netns:?}"))?;
    let mut host = Route::open()?;
    let mut inside = route_in(&target, netns)?;
    for d in devices {
        let index = index_of(&d.host_name)?;
        let addrs = host.addresses(index, &d.host_name)?;
        host.move_link(index, target.as_fd(), &d.host_name, &d.name)?;
        for a in &addrs {
            inside.add_address(index, a, &d.name)?;
        }
        inside.set_up(index, &d.name)?;
        tracing::debug!(host = %d.host_name, name = %d.name, addresses = addrs.len(), "moved network device");
    }
    Ok(())
}

/// The interface index of a host device.
fn index_of(name: &str) -> Result<i32, SysError> {
    let c = std::ffi::CString::new(name).map_err(|_| SysError::new(format!("find network device {name:?}"), nix::Error::EINVAL))?;
    // SAFETY: if_nametoindex reads a valid C string.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(SysError::new(format!("find network device {name:?}"), nix::Error::last()));
    }
    Ok(index as i32)
}

/// A route socket in the namespace `target`: this thread enters it for the socket call only.
fn route_in(target: &std::os::fd::OwnedFd, path: &Path) -> Result<Route, SysError> {
    let own =
        open("/proc/thread-self/ns/net", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).ctx(|| "open /proc/thread-self/ns/net")?;
    setns(target, CloneFlags::CLONE_NEWNET).ctx(|| format!("enter the network namespace {path:?}"))?;
    let route = Route::open();
    setns(&own, CloneFlags::CLONE_NEWNET).ctx(|| "return to the runtime's network namespace")?;
    route
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(v: serde_json::Value) -> HashMap<String, LinuxNetDevice> {
        serde_json::from_value(v).unwrap()
    }

    fn host() -> Vec<String> {
        vec!["lo".into(), "eth0".into(), "veth1".into()]
    }

    #[test]
    fn plans_moves_with_and_without_rename() {
        let p = plan(&devices(serde_json::json!({"veth1": {"name": "ctr0"}, "eth0": {}})), &host(), true).unwrap();
        assert_eq!(
            p,
            vec![NetDevice { host_name: "eth0".into(), name: "eth0".into() }, NetDevice { host_name: "veth1".into(), name: "ctr0".into() }]
        );
        assert!(plan(&HashMap::new(), &host(), false).unwrap().is_empty());
        let p = plan(&devices(serde_json::json!({"veth1": {"name": "net%d"}, "eth0": {"name": "net%d"}})), &host(), true).unwrap();
        assert_eq!(p.len(), 2, "templates may repeat: the kernel picks the number");
    }

    #[test]
    fn refusals_name_the_field() {
        let e = |v: serde_json::Value, ns: bool| plan(&devices(v), &host(), ns).unwrap_err().to_string();
        assert_eq!(e(serde_json::json!({"nope0": {}}), true), r#"invalid linux.netDevices "nope0": no such network device on the host"#);
        assert_eq!(e(serde_json::json!({"eth0": {}}), false), "linux.netDevices needs a network namespace of the container's");
        assert_eq!(
            e(serde_json::json!({"eth0": {"name": "a/b"}}), true),
            r#"invalid linux.netDevices "eth0": name "a/b" must not contain '/', ':' or spaces"#
        );
        assert_eq!(
            e(serde_json::json!({"eth0": {"name": "a-very-long-name0"}}), true),
            r#"invalid linux.netDevices "eth0": name "a-very-long-name0" is longer than 15 bytes"#
        );
        assert!(e(serde_json::json!({"eth0": {"name": "a%s"}}), true).contains("one %d template"));
        assert_eq!(
            e(serde_json::json!({"eth0": {"name": "x"}, "veth1": {"name": "x"}}), true),
            r#"invalid linux.netDevices: "veth1" and "eth0" both become "x""#
        );
    }
}
