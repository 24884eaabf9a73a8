//! Where each distribution keeps its containerd (or CRI-O) config, and which file the
//! installer edits there. Paths are as the host sees them; the caller resolves them under
//! `--host-root`.
//!
//! | distribution | file edited | how |
//! |---|---|---|
//! | containerd | /etc/containerd/config.toml | in place |
//! | k3s | /var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl (config-v3.toml.tmpl for containerd 2) | template block |
//! | rke2 | /var/lib/rancher/rke2/agent/etc/containerd/config.toml.tmpl (config-v3.toml.tmpl) | template block |
//! | k0s | /etc/k0s/containerd.d/youki.toml | drop-in, merged by k0s |
//! | CRI-O | /etc/crio/crio.conf.d/99-youki.conf | drop-in |

use std::path::{Path, PathBuf};

use crate::config::Layout;
use crate::error::HostError;
use crate::hostfs::HostRoot;

/// Which container manager setup a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Containerd,
    K3s,
    Rke2,
    K0s,
    Crio,
}

/// The file to edit and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub flavor: Flavor,
    pub layout: Layout,
    /// The edited file, as the host sees it.
    pub path: PathBuf,
    /// The full config the edited file extends (rendered k3s config, k0s main config), read
    /// for the schema and the runc options.
    pub context: Option<PathBuf>,
    /// The systemd unit to restart for `--restart systemd`.
    pub unit: String,
    /// The name of the process to stop for `--restart signal`.
    pub process: &'static str,
    /// The manager's API socket, as the host sees it; answering means it is back.
    pub socket: PathBuf,
}

const K3S_DIR: &str = "/var/lib/rancher/k3s/agent/etc/containerd";
const RKE2_DIR: &str = "/var/lib/rancher/rke2/agent/etc/containerd";
const CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";
const VANILLA: &str = "/etc/containerd/config.toml";

/// Whether `host_path` exists, links resolved inside the host root.
fn exists(host_root: &Path, host_path: &str) -> bool {
    HostRoot::open(host_root).is_ok_and(|h| h.exists(Path::new(host_path)))
}

/// The first of `units` with a unit file on the host, else the first.
fn unit(host_root: &Path, units: &[&str]) -> String {
    for u in units {
        for dir in ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"] {
            if exists(host_root, &format!("{dir}/{u}.service")) {
                return u.to_string();
            }
        }
    }
    units.first().map(|u| u.to_string()).unwrap_or_default()
}

/// k3s and rke2 keep a rendered config.toml and read a template beside it; containerd 2
/// (config version 3) reads `config-v3.toml.tmpl` instead.
fn rancher(host_root: &Path, flavor: Flavor, dir: &str, units: &[&str]) -> Target {
    let rendered = PathBuf::from(dir).join("config.toml");
    let v3 = HostRoot::open(host_root)
        .ok()
        .and_then(|h| h.read_optional(&rendered).ok().flatten())
        .map(|t| String::from_utf8_lossy(&t).lines().any(|l| l.trim().replace(' ', "") == "version=3"))
        .unwrap_or(false);
    let template = if v3 { "config-v3.toml.tmpl" } else { "config.toml.tmpl" };
    Target {
        flavor,
        layout: Layout::Template,
        path: PathBuf::from(dir).join(template),
        context: Some(rendered),
        unit: unit(host_root, units),
        process: "containerd",
        socket: PathBuf::from("/run/k3s/containerd/containerd.sock"),
    }
}

/// Target for an explicit `--containerd-config` path: a k3s/rke2 template when it ends in
/// `.tmpl`, a CRI-O drop-in under /etc/crio, else a containerd config edited in place (never
/// overwritten whole, whatever directory it is in).
pub fn explicit(host_root: &Path, path: &Path) -> Target {
    let name = path.to_string_lossy();
    let (flavor, layout, process, socket) = if name.ends_with(".tmpl") {
        (Flavor::K3s, Layout::Template, "containerd", "/run/k3s/containerd/containerd.sock")
    } else if name.starts_with("/etc/crio/") {
        (Flavor::Crio, Layout::Crio, "crio", "/var/run/crio/crio.sock")
    } else {
        (Flavor::Containerd, Layout::InPlace, "containerd", CONTAINERD_SOCKET)
    };
    let context = match layout {
        Layout::Template => path.parent().map(|d| d.join("config.toml")),
        _ => None,
    };
    let unit = match flavor {
        Flavor::K3s => unit(host_root, &["k3s", "k3s-agent", "rke2-server", "rke2-agent"]),
        Flavor::Crio => unit(host_root, &["crio"]),
        _ => unit(host_root, &["containerd"]),
    };
    Target { flavor, layout, path: path.to_path_buf(), context, unit, process, socket: PathBuf::from(socket) }
}

/// Finds the setup of the node mounted at `host_root`.
pub fn detect(host_root: &Path) -> Result<Target, HostError> {
    if exists(host_root, K3S_DIR) {
        return Ok(rancher(host_root, Flavor::K3s, K3S_DIR, &["k3s", "k3s-agent"]));
    }
    if exists(host_root, RKE2_DIR) {
        return Ok(rancher(host_root, Flavor::Rke2, RKE2_DIR, &["rke2-server", "rke2-agent"]));
    }
    if exists(host_root, "/etc/k0s") {
        return Ok(Target {
            flavor: Flavor::K0s,
            layout: Layout::DropIn,
            path: PathBuf::from("/etc/k0s/containerd.d/youki.toml"),
            context: Some(PathBuf::from("/etc/k0s/containerd.toml")),
            unit: unit(host_root, &["k0sworker", "k0scontroller"]),
            process: "containerd",
            socket: PathBuf::from("/run/k0s/containerd.sock"),
        });
    }
    if exists(host_root, "/etc/containerd") {
        return Ok(Target {
            flavor: Flavor::Containerd,
            layout: Layout::InPlace,
            path: PathBuf::from(VANILLA),
            context: None,
            unit: unit(host_root, &["containerd"]),
            process: "containerd",
            socket: PathBuf::from(CONTAINERD_SOCKET),
        });
    }
    if exists(host_root, "/etc/crio") {
        return Ok(Target {
            flavor: Flavor::Crio,
            layout: Layout::Crio,
            path: PathBuf::from("/etc/crio/crio.conf.d/99-youki.conf"),
            context: None,
            unit: unit(host_root, &["crio"]),
            process: "crio",
            socket: PathBuf::from("/var/run/crio/crio.sock"),
        });
    }
    Err(HostError::NoConfig {
        host_root: host_root.to_path_buf(),
        tried: [K3S_DIR, RKE2_DIR, "/etc/k0s", "/etc/containerd", "/etc/crio"].join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::under;

    fn host(paths: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (p, content) in paths {
            let full = under(dir.path(), Path::new(p));
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, content).expect("write");
        }
        dir
    }

    #[test]
    fn vanilla_containerd() {
        let h = host(&[("/etc/containerd/config.toml", ""), ("/lib/systemd/system/containerd.service", "")]);
        let t = detect(h.path()).expect("detect");
        assert_eq!((t.flavor, t.layout, t.unit.as_str()), (Flavor::Containerd, Layout::InPlace, "containerd"));
    }

    #[test]
    fn k3s_agent_with_containerd_2_uses_the_v3_template() {
        let h = host(&[
            ("/var/lib/rancher/k3s/agent/etc/containerd/config.toml", "version = 3\n"),
            ("/etc/systemd/system/k3s-agent.service", ""),
        ]);
        let t = detect(h.path()).expect("detect");
        assert_eq!(t.path, PathBuf::from(K3S_DIR).join("config-v3.toml.tmpl"));
        assert_eq!(t.unit, "k3s-agent");
    }

    #[test]
    fn k0s_uses_a_drop_in() {
        let h = host(&[("/etc/k0s/containerd.toml", "version = 2\n")]);
        let t = detect(h.path()).expect("detect");
        assert_eq!((t.flavor, t.layout), (Flavor::K0s, Layout::DropIn));
    }

    #[test]
    fn nothing_found_lists_what_was_tried() {
        let h = host(&[]);
        assert!(detect(h.path()).unwrap_err().to_string().contains("/etc/containerd"));
    }
}
