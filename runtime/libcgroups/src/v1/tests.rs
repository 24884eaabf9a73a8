//! The v1/hybrid driver against a fake host whose hierarchies are temp dirs.

use std::{
    fs,
    path::{Path, PathBuf},
};

use tempfile::TempDir;

use super::*;
use crate::{path::resolve, resources::fake::res, Hierarchy, HostCgroups, Layout};

/// Control files created in the container's directory of each hierarchy.
const FILES: &[(&str, &[(&str, &str)])] = &[
    ("cpu,cpuacct", &[("cpu.shares", "1024"), ("cpu.cfs_quota_us", "-1"), ("cpu.cfs_period_us", "100000")]),
    ("cpuset", &[("cpuset.cpus", ""), ("cpuset.mems", "")]),
    (
        "memory",
        &[
            ("memory.limit_in_bytes", "9223372036854771712"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712"),
            ("memory.soft_limit_in_bytes", "9223372036854771712"),
            ("memory.swappiness", "60"),
        ],
    ),
    ("devices", &[("devices.allow", ""), ("devices.deny", "")]),
    ("freezer", &[("freezer.state", "THAWED")]),
    ("blkio", &[("blkio.throttle.read_bps_device", "")]),
    ("pids", &[("pids.max", "max")]),
    ("name=systemd", &[]),
    ("net_cls,net_prio", &[("net_cls.classid", "0"), ("net_prio.ifpriomap", "")]),
    ("unified", &[("hugetlb.2MB.max", "max"), ("hugetlb.2MB.rsvd.max", "max"), ("cgroup.max.depth", "max")]),
];

struct Fake {
    _tmp: TempDir,
    root: PathBuf,
    host: HostCgroups,
}

impl Fake {
    /// A hybrid host: co-mounted cpu,cpuacct, net_cls,net_prio, a named hierarchy and a
    /// cgroup2 mount with hugetlb. The container's directories exist with their files when
    /// `precreate` is true.
    fn new(precreate: bool) -> Fake {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let mut hierarchies = Vec::new();
        for (name, files) in FILES {
            let dir_name = name.strip_prefix("name=").unwrap_or(name);
            let mountpoint = root.join(dir_name);
            fs::create_dir_all(&mountpoint).unwrap();
            let unified = *name == "unified";
            let controllers: Vec<&str> = if unified { vec!["hugetlb"] } else { name.split(',').collect() };
            hierarchies.push(Hierarchy::new(&mountpoint, &controllers, unified));
            for (file, _) in *files {
                fs::write(mountpoint.join(file), "").unwrap();
            }
            if precreate {
                let dir = mountpoint.join("youki/abc");
                fs::create_dir_all(&dir).unwrap();
                fs::write(dir.join("cgroup.procs"), "").unwrap();
                for (file, value) in *files {
                    fs::write(dir.join(file), value).unwrap();
                }
            }
        }
        fs::write(root.join("cpuset/cpuset.cpus"), "0-1\n").unwrap();
        fs::write(root.join("cpuset/cpuset.mems"), "0\n").unwrap();
        fs::write(root.join("unified/cgroup.subtree_control"), "").unwrap();
        fs::write(root.join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
        if precreate {
            fs::write(root.join("unified/youki/cgroup.subtree_control"), "").unwrap();
            for f in ["cpuset.cpus", "cpuset.mems"] {
                fs::write(root.join("cpuset/youki").join(f), "").unwrap();
            }
        }
        let host = HostCgroups { layout: Layout::Hybrid, hierarchies };
        Fake { _tmp: tmp, root, host }
    }

    fn without(mut self, controller: &str) -> Fake {
        self.host.hierarchies.retain(|h| !h.controllers.iter().any(|c| c == controller));
        self
    }

    fn manager(&self) -> V1Manager {
        let r = resolve(&self.host, &[], Some(Path::new("/youki/abc")), "abc").unwrap();
        V1Manager::new(r.path, r.dirs)
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap()
    }
}

#[test]
fn set_resources_writes_every_controller() {
    let fake = Fake::new(true);
    let r = res(r#"{
        "memory": {"limit": 67108864, "swap": 134217728, "swappiness": 10},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "1", "mems": "0"},
        "pids": {"limit": 20},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
        "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}]},
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "unified": {"cgroup.max.depth": "3"}
    }"#);
    fake.manager().set_resources(&r).unwrap();
    assert_eq!(fake.read("memory/youki/abc/memory.limit_in_bytes"), "67108864");
    assert_eq!(fake.read("memory/youki/abc/memory.memsw.limit_in_bytes"), "134217728");
    assert_eq!(fake.read("memory/youki/abc/memory.swappiness"), "10");
    assert_eq!(fake.read("cpu,cpuacct/youki/abc/cpu.shares"), "512");
    assert_eq!(fake.read("cpu,cpuacct/youki/abc/cpu.cfs_quota_us"), "50000");
    assert_eq!(fake.read("cpu,cpuacct/youki/abc/cpu.cfs_period_us"), "100000");
    assert_eq!(fake.read("cpuset/youki/abc/cpuset.cpus"), "1");
    assert_eq!(fake.read("cpuset/youki/abc/cpuset.mems"), "0");
    assert_eq!(fake.read("pids/youki/abc/pids.max"), "20");
    assert_eq!(fake.read("devices/youki/abc/devices.deny"), "a");
    assert_eq!(fake.read("devices/youki/abc/devices.allow"), "c 1:3 rwm");
    assert_eq!(fake.read("blkio/youki/abc/blkio.throttle.read_bps_device"), "8:0 600");
    assert_eq!(fake.read("net_cls,net_prio/youki/abc/net_cls.classid"), "1048577");
    assert_eq!(fake.read("net_cls,net_prio/youki/abc/net_prio.ifpriomap"), "eth0 5");
    assert_eq!(fake.read("unified/youki/abc/hugetlb.2MB.max"), "4194304");
    assert_eq!(fake.read("unified/youki/abc/hugetlb.2MB.rsvd.max"), "4194304");
    assert_eq!(fake.read("unified/youki/abc/cgroup.max.depth"), "3");
    // hugetlb enabled from the cgroup2 root down to the container's parent.
    assert_eq!(fake.read("unified/cgroup.subtree_control"), "+hugetlb");
    assert_eq!(fake.read("unified/youki/cgroup.subtree_control"), "+hugetlb");
}

#[test]
fn optional_controllers_are_skipped_when_absent() {
    let fake = Fake::new(true).without("net_cls").without("hugetlb");
    let r = res(r#"{"network": {"classID": 7}, "hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}"#);
    fake.manager().set_resources(&r).unwrap();
    assert_eq!(fake.read("net_cls,net_prio/youki/abc/net_cls.classid"), "0");
    assert_eq!(fake.read("unified/youki/abc/hugetlb.2MB.max"), "max");
}

#[test]
fn a_missing_controller_is_named() {
    let fake = Fake::new(true).without("pids");
    let err = fake.manager().set_resources(&res(r#"{"pids": {"limit": 5}}"#)).unwrap_err();
    assert_eq!(err.to_string(), "cgroup controller \"pids\" is not mounted");
}

#[test]
fn a_failed_write_names_the_file_and_value() {
    let fake = Fake::new(true);
    let r = res(r#"{"cpu": {"realtimePeriod": 1000000}}"#);
    let err = fake.manager().set_resources(&r).unwrap_err();
    let file = fake.root.join("cpu,cpuacct/youki/abc/cpu.rt_period_us");
    assert_eq!(err.to_string(), format!("write \"1000000\" to {file:?}"));
}

#[test]
fn apply_adds_the_pid_everywhere_and_fills_cpuset() {
    let fake = Fake::new(true);
    fake.manager().apply(4242).unwrap();
    for (name, _) in FILES {
        let dir = name.strip_prefix("name=").unwrap_or(name);
        assert_eq!(fake.read(&format!("{dir}/youki/abc/cgroup.procs")), "4242", "{name}");
    }
    assert_eq!(fake.read("cpuset/youki/cpuset.cpus"), "0-1");
    assert_eq!(fake.read("cpuset/youki/abc/cpuset.mems"), "0");
}

#[test]
fn apply_creates_missing_directories() {
    // On a temp dir nothing creates cgroup.procs, so adding the task fails; the directories
    // must exist by then. (cpuset needs its files: see the test above.)
    let fake = Fake::new(false).without("cpuset");
    let err = fake.manager().apply(1).unwrap_err();
    assert!(err.to_string().ends_with("/youki/abc/cgroup.procs\""), "{err}");
    assert!(fake.root.join("memory/youki/abc").is_dir());
    assert!(fake.root.join("systemd/youki/abc").is_dir());
    assert!(fake.root.join("unified/youki/abc").is_dir());
}

#[test]
fn freeze_and_thaw_write_freezer_state() {
    let fake = Fake::new(true);
    let m = fake.manager();
    m.freeze(FreezerState::Frozen).unwrap();
    assert_eq!(fake.read("freezer/youki/abc/freezer.state"), "FROZEN");
    m.freeze(FreezerState::Thawed).unwrap();
    assert_eq!(fake.read("freezer/youki/abc/freezer.state"), "THAWED");
    let err = Fake::new(true).without("freezer").manager().freeze(FreezerState::Frozen).unwrap_err();
    assert_eq!(err.to_string(), "cgroup controller \"freezer\" is not mounted");
}

#[test]
fn pids_come_from_the_pids_hierarchy_recursively() {
    let fake = Fake::new(true);
    fs::write(fake.root.join("pids/youki/abc/cgroup.procs"), "10\n11\n").unwrap();
    fs::create_dir_all(fake.root.join("pids/youki/abc/sub")).unwrap();
    fs::write(fake.root.join("pids/youki/abc/sub/cgroup.procs"), "12\n").unwrap();
    fs::write(fake.root.join("memory/youki/abc/cgroup.procs"), "99\n").unwrap();
    assert_eq!(fake.manager().pids().unwrap(), [10, 11, 12]);
}

#[test]
fn remove_deletes_every_directory_and_is_idempotent() {
    let fake = Fake::new(false);
    let m = fake.manager();
    for d in &m.state().dirs {
        fs::create_dir_all(d.dir.join("nested")).unwrap();
    }
    m.remove().unwrap();
    for d in &m.state().dirs {
        assert!(!d.dir.exists(), "{:?}", d.dir);
        assert!(d.dir.parent().unwrap().exists());
    }
    m.remove().unwrap();
}

#[test]
fn views_name_each_hierarchy() {
    let fake = Fake::new(false);
    let views = fake.manager().views();
    let names: Vec<(&str, Vec<&str>)> = views.iter().map(|v| (v.name.as_str(), v.aliases.iter().map(String::as_str).collect())).collect();
    assert_eq!(
        names,
        [
            ("cpu,cpuacct", vec!["cpu", "cpuacct"]),
            ("cpuset", vec![]),
            ("memory", vec![]),
            ("devices", vec![]),
            ("freezer", vec![]),
            ("blkio", vec![]),
            ("pids", vec![]),
            ("systemd", vec![]),
            ("net_cls,net_prio", vec!["net_cls", "net_prio"]),
            ("unified", vec![]),
        ]
    );
    assert_eq!(views[2].host_dir, fake.root.join("memory/youki/abc"));
}

#[test]
fn from_state_refreshes_cgroup2_controllers() {
    let fake = Fake::new(true);
    let mut s = fake.manager().state();
    for d in &mut s.dirs {
        if d.hierarchy.unified {
            d.hierarchy.controllers.clear();
        }
    }
    let m = V1Manager::from_state(&s).unwrap();
    assert_eq!(m.placement(Controller::Hugetlb), Placement::V2);
}

#[test]
fn from_state_rejects_directories_outside_their_hierarchy() {
    let fake = Fake::new(false);
    for bad in ["/etc", "", "youki/../../etc"] {
        let mut s = fake.manager().state();
        let mountpoint = s.dirs[0].hierarchy.mountpoint.clone();
        s.dirs[0].dir = if bad.starts_with('/') { PathBuf::from(bad) } else { mountpoint.join(bad) };
        let err = V1Manager::from_state(&s).unwrap_err();
        assert_eq!(err.to_string(), format!("invalid cgroup state: {:?} is not a cgroup below {:?}", s.dirs[0].dir, mountpoint));
    }
}

#[test]
fn unified_keys_need_a_cgroup2_mount() {
    let fake = Fake::new(true).without("hugetlb");
    let v1_only: Vec<CgroupDir> = fake.manager().state().dirs.into_iter().filter(|d| !d.hierarchy.unified).collect();
    let m = V1Manager::new("/youki/abc".into(), v1_only);
    let err = m.set_resources(&res(r#"{"unified": {"pids.max": "5"}}"#)).unwrap_err();
    assert_eq!(err.to_string(), "linux.resources.unified requires cgroup v2");
}

#[test]
fn apply_refuses_a_frozen_cgroup_before_adding_the_pid() {
    for (file, value) in [
        ("freezer/youki/abc/freezer.state", "FROZEN\n"),
        ("freezer/youki/abc/freezer.state", "FREEZING"),
        ("unified/youki/abc/cgroup.freeze", "1\n"),
    ] {
        let fake = Fake::new(true);
        fs::write(fake.root.join(file), value).unwrap();
        let m = fake.manager();
        assert!(m.is_frozen().unwrap(), "{file}");
        let err = m.apply(4242).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("container's cgroup unexpectedly frozen: {:?}; thaw it or choose another cgroupsPath", fake.root.join(file))
        );
        assert_eq!(fake.read("memory/youki/abc/cgroup.procs"), "", "{file}: no pid added anywhere");
    }
    let fake = Fake::new(true);
    fs::write(fake.root.join("freezer/youki/abc/freezer.state"), "THAWED\n").unwrap();
    assert!(!fake.manager().is_frozen().unwrap());
    fake.manager().apply(4242).unwrap();
}

#[test]
fn self_join_names_each_v1_tasks_file_and_leaves_the_unified_part_to_clone3() {
    let fake = Fake::new(true);
    let join = fake.manager().prepare_self_join(true).unwrap().unwrap();
    let mut want: Vec<PathBuf> = FILES
        .iter()
        .filter(|(name, _)| *name != "unified")
        .map(|(name, _)| fake.root.join(name.strip_prefix("name=").unwrap_or(name)).join("youki/abc/tasks"))
        .collect();
    want.sort();
    let mut got = join.tasks.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(join.v2_procs, Some(fake.root.join("unified/youki/abc/cgroup.procs")));
    assert!(join.v2_dir.is_some());
    // The fallback when clone3 could not place the child writes its pid there.
    join.place_v2(4242).unwrap();
    assert_eq!(fake.read("unified/youki/abc/cgroup.procs"), "4242");
    // Nothing was written into a v1 hierarchy by the parent.
    assert_eq!(fake.read("memory/youki/abc/cgroup.procs"), "");
}

#[test]
fn self_join_at_create_makes_the_directories_and_refuses_a_frozen_cgroup() {
    let fake = Fake::new(false).without("cpuset");
    fake.manager().prepare_self_join(true).unwrap().unwrap();
    assert!(fake.root.join("memory/youki/abc").is_dir());
    assert!(fake.root.join("unified/youki/abc").is_dir());
    let fake = Fake::new(true);
    fs::write(fake.root.join("freezer/youki/abc/freezer.state"), "FROZEN\n").unwrap();
    assert!(matches!(fake.manager().prepare_self_join(true), Err(CgroupError::Frozen(_))));
    // For exec the cgroup exists and is not checked here (exec refuses a paused container).
    assert!(fake.manager().prepare_self_join(false).unwrap().is_some());
}
