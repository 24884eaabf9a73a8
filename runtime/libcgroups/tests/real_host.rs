//! The v1/hybrid driver on this host's real cgroups: create, limit, freeze, list, remove.
//! Runs only as root on a host with v1 or hybrid cgroups; skips with a message otherwise.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command},
};

use libcgroups::{default_device_rules, detect, manager, CgroupManager, FreezerState, HostCgroups, Layout};
use oci_spec::runtime::LinuxResources;

/// Kills the child and removes the cgroup even when an assertion fails halfway.
struct Cleanup {
    child: Child,
    cgroup: Box<dyn CgroupManager>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.cgroup.freeze(FreezerState::Thawed);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.cgroup.remove();
    }
}

fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    match detect() {
        Err(e) => Some(format!("no cgroups: {e}")),
        Ok(h) if h.layout == Layout::V2 => Some("pure cgroup v2 host (tests/v2_driver.rs covers it)".into()),
        Ok(_) => None,
    }
}

fn dir_of(cg: &dyn CgroupManager, controller: &str) -> PathBuf {
    cg.state()
        .dirs
        .into_iter()
        .find(|d| d.hierarchy.has_v1(controller))
        .map(|d| d.dir)
        .unwrap_or_else(|| panic!("no {controller} hierarchy"))
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap().trim().to_string()
}

/// The cgroup name of the first huge page size the kernel offers ("2MB" for 2048kB).
fn hugepage_size() -> Option<String> {
    let mut sizes: Vec<u64> = fs::read_dir("/sys/kernel/mm/hugepages")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok()
        })
        .collect();
    sizes.sort_unstable();
    let kb = *sizes.first()?;
    Some(match kb {
        kb if kb % (1024 * 1024) == 0 => format!("{}GB", kb / (1024 * 1024)),
        kb if kb % 1024 == 0 => format!("{}MB", kb / 1024),
        kb => format!("{kb}KB"),
    })
}

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

#[test]
fn create_limit_freeze_and_remove_on_the_real_host() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping real_host test: {why}");
        return;
    }
    let host: HostCgroups = detect().unwrap();
    let path = PathBuf::from(format!("/youki-cgtest-{}", std::process::id()));
    let cgroup = manager(&host, Some(&path), "cgtest", false).unwrap();
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let mut t = Cleanup { child, cgroup };
    let cg = t.cgroup.as_ref();

    cg.apply(pid).unwrap();
    for d in cg.state().dirs {
        assert!(d.dir.ends_with(path.strip_prefix("/").unwrap()), "{:?}", d.dir);
        let procs = read(&d.dir, "cgroup.procs");
        assert!(procs.lines().any(|l| l == pid.to_string()), "{:?}: {procs}", d.dir);
    }
    assert!(!read(&dir_of(cg, "cpuset"), "cpuset.cpus").is_empty());

    cg.set_resources(&resources(r#"{"memory":{"limit":67108864},"pids":{"limit":20},"cpu":{"shares":512}}"#)).unwrap();
    assert_eq!(read(&dir_of(cg, "memory"), "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&dir_of(cg, "pids"), "pids.max"), "20");
    assert_eq!(read(&dir_of(cg, "cpu"), "cpu.shares"), "512");

    let mut rules = resources(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#);
    let mut devices = rules.devices().clone().unwrap();
    devices.extend(default_device_rules());
    rules.set_devices(Some(devices));
    cg.set_resources(&rules).unwrap();
    let list = read(&dir_of(cg, "devices"), "devices.list");
    assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
    assert!(list.lines().any(|l| l == "c 136:* rwm"), "{list}");
    assert!(!list.lines().any(|l| l == "a *:* rwm"), "{list}");

    assert!(cg.pids().unwrap().contains(&pid));

    cg.freeze(FreezerState::Frozen).unwrap();
    assert_eq!(read(&dir_of(cg, "freezer"), "freezer.state"), "FROZEN");
    cg.freeze(FreezerState::Thawed).unwrap();
    assert_eq!(read(&dir_of(cg, "freezer"), "freezer.state"), "THAWED");

    let hugetlb_on_v2 = host.unified().is_some_and(|u| u.controllers.iter().any(|c| c == "hugetlb"));
    match hugepage_size() {
        Some(size) if hugetlb_on_v2 => {
            let json = format!(r#"{{"hugepageLimits":[{{"pageSize":"{size}","limit":4194304}}]}}"#);
            cg.set_resources(&resources(&json)).unwrap();
            let unified = cg.state().dirs.into_iter().find(|d| d.hierarchy.unified).unwrap().dir;
            assert_eq!(read(&unified, &format!("hugetlb.{size}.max")), "4194304");
        }
        _ => eprintln!("no hugetlb on the cgroup2 mount; hugetlb part skipped"),
    }

    t.child.kill().unwrap();
    t.child.wait().unwrap();
    cg.remove().unwrap();
    for d in cg.state().dirs.into_iter().map(|d| d.dir) {
        assert!(!d.exists(), "{d:?} still exists");
    }
}
