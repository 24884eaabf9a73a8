//! `info`: the host as youki sees it: kernel, cgroups, namespaces and security features.

use std::path::Path;

use anyhow::Result;

pub fn info() -> Result<i32> {
    let uts = nix::sys::utsname::uname()?;
    println!("youki {} (commit {}), runtime-spec {}", crate::VERSION, crate::COMMIT, libcontainer::create::state::OCI_VERSION);
    println!("kernel: {} {} {}", uts.sysname().to_string_lossy(), uts.release().to_string_lossy(), uts.machine().to_string_lossy());
    if let Ok(os) = std::fs::read_to_string("/etc/os-release") {
        if let Some(name) = os.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")) {
            println!("os: {}", name.trim_matches('"'));
        }
    }
    match libcgroups::detect() {
        Ok(host) => {
            println!("cgroups: {:?}", host.layout);
            for h in &host.hierarchies {
                let kind = if h.unified { "cgroup2" } else { "cgroup v1" };
                println!("  {kind} at {}: {}", h.mountpoint.display(), h.controllers.join(","));
            }
        }
        Err(e) => println!("cgroups: unreadable ({e})"),
    }
    let ns: Vec<&str> = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"]
        .into_iter()
        .filter(|n| Path::new("/proc/self/ns").join(n).exists())
        .collect();
    println!("namespaces: {}", ns.join(" "));
    let userns_max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    println!("user namespaces: max {}", userns_max.trim());
    let actions = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
    println!("seccomp (kernel): {}", if actions.is_empty() { "unavailable".into() } else { actions.trim().to_string() });
    println!("seccomp (youki): enabled (libseccomp, linked statically; SCMP_ACT_NOTIFY supported)");
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").map(|s| s.trim() == "Y").unwrap_or(false);
    println!("apparmor: {}", if apparmor { "enabled" } else { "disabled" });
    let selinux = std::fs::read_to_string("/sys/fs/selinux/enforce").map(|s| s.trim().to_string());
    println!(
        "selinux: {}",
        match selinux {
            Ok(s) if s == "1" => "enforcing",
            Ok(_) => "permissive",
            Err(_) => "disabled",
        }
    );
    let caps_last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap_or_default();
    println!("capabilities: last cap {}", caps_last.trim());
    println!("executors: {}", super::executors::all().names().join(", "));
    println!("pidfd: {}", if Path::new("/proc/self/fdinfo").exists() { "yes" } else { "unknown" });
    Ok(0)
}
