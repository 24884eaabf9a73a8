//! Unit tests of `plan`: each rejection with its message, and the decisions it makes.

use super::*;
use serde_json::{json, Value};

fn host() -> HostFacts {
    HostFacts::for_tests()
}

/// The default spec as JSON, with `patch` merged in at the top level or below.
fn spec(patch: Value) -> Spec {
    let mut base = crate::plan::spec_default::default_spec();
    base["process"]["terminal"] = json!(false);
    // Tests that replace the namespace list must not trip over the default hostname.
    base.as_object_mut().unwrap().remove("hostname");
    merge(&mut base, patch);
    serde_json::from_value(base).unwrap()
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn err(patch: Value) -> String {
    plan(&spec(patch), Path::new("/bundle"), &host()).unwrap_err().to_string()
}

fn ok(patch: Value) -> Plan {
    plan(&spec(patch), Path::new("/bundle"), &host()).unwrap()
}

#[test]
fn default_spec_plans() {
    let p = ok(json!({}));
    assert_eq!(p.rootfs, PathBuf::from("/bundle/rootfs"));
    assert!(p.clone_flags.contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS));
    assert!(p.joins.is_empty() && p.pid_join.is_none() && p.time_offsets.is_none());
    assert!(p.mounts.iter().any(|m| m.destination == Path::new("/proc") && m.kind == MountKind::Fs("proc".into())));
    assert_eq!(p.rootfs_propagation, None);
    assert_eq!(p.devices.len(), DEFAULT_DEVICES.len());
}

#[test]
fn rejects_relative_mount_destination() {
    assert_eq!(
        err(json!({"mounts": [{"destination": "proc", "type": "proc", "source": "proc"}]})),
        r#"invalid mount destination "proc": must be absolute"#
    );
}

#[test]
fn rejects_bind_without_source() {
    assert_eq!(
        err(json!({"mounts": [{"destination": "/data", "type": "bind", "options": ["rbind"]}]})),
        r#"invalid mount "/data": a bind mount needs a source"#
    );
}

#[test]
fn rejects_bad_versions_and_missing_parts() {
    assert_eq!(err(json!({"ociVersion": "2.0.0"})), r#"unsupported ociVersion "2.0.0": this runtime implements 1.x (1.3.0)"#);
    assert_eq!(err(json!({"ociVersion": "0.9.0"})), r#"unsupported ociVersion "0.9.0": this runtime implements 1.x (1.3.0)"#);
    assert_eq!(err(json!({"ociVersion": "1.3"})), r#"invalid ociVersion "1.3": must be a semantic version such as 1.3.0"#);
    for v in ["1.0.0", "1.2.1", "1.3.0", "1.3.0-rc.1", "1.4.0"] {
        assert_eq!(ok(json!({"ociVersion": v})).rootfs, PathBuf::from("/bundle/rootfs"), "{v}");
    }
    assert_eq!(err(json!({"process": {"args": []}})), "process.args must not be empty");
    assert_eq!(err(json!({"process": {"cwd": "tmp"}})), r#"invalid process.cwd "tmp": must be absolute"#);
    assert_eq!(err(json!({"process": {"env": ["NOVALUE"]}})), r#"invalid process.env entry "NOVALUE": must be KEY=VALUE"#);
    let mut s = spec(json!({}));
    s.set_root(None);
    assert_eq!(plan(&s, Path::new("/b"), &host()).unwrap_err().to_string(), "root is required");
    let mut s = spec(json!({}));
    s.set_process(None);
    assert_eq!(plan(&s, Path::new("/b"), &host()).unwrap_err().to_string(), "process is required");
}

#[test]
fn namespace_rules() {
    assert_eq!(err(json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "pid"}]}})), "invalid linux.namespaces: pid is listed twice");
    assert_eq!(
        err(json!({"linux": {"namespaces": [{"type": "network", "path": "run/netns/x"}]}})),
        r#"invalid linux.namespaces: path "run/netns/x" of the network namespace must be absolute"#
    );
    assert_eq!(
        err(json!({"linux": {"namespaces": [{"type": "user"}]}})),
        "a new user namespace needs linux.uidMappings and linux.gidMappings"
    );
    assert_eq!(
        err(json!({"linux": {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}})),
        "linux.uidMappings and linux.gidMappings need a user namespace"
    );
    assert_eq!(err(json!({"hostname": "box", "linux": {"namespaces": [{"type": "mount"}]}})), "hostname needs a uts namespace");
}

#[test]
fn mappings_with_a_joined_user_namespace_are_kept_to_be_checked() {
    let m = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let p = ok(json!({"linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}], "uidMappings": m, "gidMappings": m}}));
    assert!(p.id_maps.is_none(), "a joined namespace's maps are not written");
    let want = vec![IdMap { container: 0, host: 100000, size: 65536 }];
    assert_eq!(p.joined_id_maps, Some(IdMaps { uid: want.clone(), gid: want }));
    let p = ok(json!({"linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}]}}));
    assert_eq!(p.joined_id_maps, None);
    let p = ok(json!({"linux": {"namespaces": [{"type": "user"}], "uidMappings": m, "gidMappings": m}}));
    assert_eq!(p.joined_id_maps, None);
}

#[test]
fn joins_are_ordered_and_pid_join_goes_to_parent() {
    let p = ok(json!({"linux": {"namespaces": [
        {"type": "mount", "path": "/proc/1/ns/mnt"},
        {"type": "network", "path": "/proc/1/ns/net"},
        {"type": "pid", "path": "/proc/1/ns/pid"},
        {"type": "uts"}
    ]}}));
    let kinds: Vec<NsKind> = p.joins.iter().map(|j| j.kind).collect();
    assert_eq!(kinds, vec![NsKind::Net, NsKind::Mount]);
    assert_eq!(p.pid_join, Some(PathBuf::from("/proc/1/ns/pid")));
    assert_eq!(p.clone_flags, CloneFlags::CLONE_NEWUTS);
    assert!(!p.new_mount_ns);
}

#[test]
fn user_namespace_maps() {
    let p = ok(json!({"linux": {
        "namespaces": [{"type": "user"}, {"type": "mount"}],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]
    }}));
    let maps = p.id_maps.unwrap();
    assert_eq!(maps.uid, vec![IdMap { container: 0, host: 100000, size: 65536 }]);
    assert!(p.clone_flags.contains(CloneFlags::CLONE_NEWUSER));
    assert_eq!(
        err(json!({"linux": {"namespaces": [{"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}],
            "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}})),
        "invalid linux.uidMappings: size must be greater than zero"
    );
}

#[test]
fn time_offsets_move_the_unshare_to_the_parent() {
    let p = ok(json!({"linux": {
        "namespaces": [{"type": "time"}],
        "timeOffsets": {"monotonic": {"secs": 10}, "boottime": {"secs": 20, "nanosecs": 5}}
    }}));
    assert!(!p.clone_flags.contains(NsKind::Time.flag()));
    let o = p.time_offsets.unwrap();
    assert_eq!(o[0], TimeOffset { clock: "boottime", secs: 20, nanos: 5 });
    assert_eq!(o[1], TimeOffset { clock: "monotonic", secs: 10, nanos: 0 });
    let p = ok(json!({"linux": {"namespaces": [{"type": "time"}]}}));
    assert!(p.clone_flags.contains(NsKind::Time.flag()));
    assert_eq!(err(json!({"linux": {"timeOffsets": {"monotonic": {"secs": 1}}}})), "linux.timeOffsets needs a new time namespace");
    assert_eq!(
        err(json!({"linux": {"namespaces": [{"type": "time"}], "timeOffsets": {"realtime": {"secs": 1}}}})),
        r#"invalid linux.timeOffsets: unknown clock "realtime" (expected monotonic or boottime)"#
    );
    let mut h = host();
    h.time_ns = false;
    let s = spec(json!({"linux": {"namespaces": [{"type": "time"}]}}));
    assert_eq!(plan(&s, Path::new("/b"), &h).unwrap_err().to_string(), "time namespaces are not supported by this kernel");
}

#[test]
fn sysctl_rules() {
    assert_eq!(
        err(json!({"linux": {"sysctl": {"vm.swappiness": "10"}}})),
        r#"invalid linux.sysctl "vm.swappiness": not namespaced: it would change the host"#
    );
    assert_eq!(
        err(json!({"linux": {"namespaces": [{"type": "mount"}], "sysctl": {"net.ipv4.ip_forward": "1"}}})),
        r#"invalid linux.sysctl "net.ipv4.ip_forward": needs a network namespace"#
    );
    let p = ok(json!({"linux": {"sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"}}}));
    assert_eq!(p.sysctl[0].0, "kernel.shmmax");
}

#[test]
fn user_sysctls_need_a_new_user_namespace() {
    assert_eq!(
        err(json!({"linux": {"sysctl": {"user.max_user_namespaces": "5"}}})),
        r#"invalid linux.sysctl "user.max_user_namespaces": needs a new user namespace"#
    );
    assert_eq!(
        err(
            json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}], "sysctl": {"user.max_user_namespaces": "5"}}})
        ),
        r#"invalid linux.sysctl "user.max_user_namespaces": needs a new user namespace"#
    );
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let p = ok(json!({"linux": {
        "namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "user"}],
        "uidMappings": map.clone(), "gidMappings": map,
        "sysctl": {"user.max_user_namespaces": "5"}
    }}));
    assert_eq!(p.sysctl, vec![("user.max_user_namespaces".to_string(), "5".to_string())]);
}

#[test]
fn rlimit_rules() {
    assert_eq!(
        err(json!({"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]}})),
        "invalid process.rlimits RLIMIT_NOFILE: soft limit 10 is above hard limit 5"
    );
    assert_eq!(
        err(json!({"process": {"rlimits": [
            {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 5},
            {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 5}]}})),
        "invalid process.rlimits: RLIMIT_NOFILE is listed twice"
    );
}

#[test]
fn devices_and_propagation() {
    assert_eq!(
        err(json!({"linux": {"devices": [{"path": "dev/x", "type": "c", "major": 1, "minor": 3}]}})),
        r#"invalid linux.devices entry "dev/x": path must be absolute"#
    );
    assert_eq!(err(json!({"linux": {"rootfsPropagation": "sideways"}})), r#"invalid linux.rootfsPropagation "sideways""#);
    assert_eq!(ok(json!({"linux": {"rootfsPropagation": "shared"}})).rootfs_propagation, Some(MsFlags::MS_SHARED));
    let p = ok(json!({"linux": {"devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 5}]}}));
    assert_eq!(p.devices.iter().filter(|d| d.path == Path::new("/dev/null")).count(), 1);
    assert!(p.devices.iter().any(|d| d.path == Path::new("/dev/null") && d.uid == 5));
}

#[test]
fn hooks_need_absolute_paths() {
    assert_eq!(err(json!({"hooks": {"poststop": [{"path": "hook.sh"}]}})), r#"invalid hooks.poststop path "hook.sh": must be absolute"#);
}

#[test]
fn capabilities_become_masks() {
    let p = ok(json!({"process": {"capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"]}}}));
    let c = p.process.caps.unwrap();
    assert_eq!(c.bounding, (1 << 0) | (1 << 5));
    assert_eq!(c.effective, 1 << 5);
}

#[test]
fn seccomp_is_validated_and_kept() {
    assert_eq!(
        err(json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_NOTIFY"}}})),
        "invalid linux.seccomp: defaultAction must not be SCMP_ACT_NOTIFY"
    );
    assert!(ok(json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}}})).seccomp.is_some());
}

#[test]
fn clean_stays_under_root() {
    assert_eq!(clean(Path::new("/a/../../b/./c")), PathBuf::from("/b/c"));
}

#[test]
fn mount_label_goes_to_the_mounts_that_take_it() {
    let label = "system_u:object_r:container_file_t:s0:c1,c2";
    let p = ok(json!({"linux": {"mountLabel": label}}));
    let data = |dest: &str| p.mounts.iter().find(|m| m.destination == Path::new(dest)).unwrap().options.data.clone();
    assert_eq!(data("/dev"), format!("mode=755,size=65536k,context=\"{label}\""));
    assert_eq!(data("/dev/pts"), format!("newinstance,ptmxmode=0666,mode=0620,gid=5,context=\"{label}\""));
    assert_eq!(data("/proc"), "");
    assert_eq!(data("/sys"), "");
    assert_eq!(data("/dev/mqueue"), "");
    assert!(!data("/sys/fs/cgroup").contains("context="));
    assert_eq!(
        err(json!({"linux": {"mountLabel": "bad label"}})),
        r#"invalid linux.mountLabel "bad label": must not contain quotes, spaces or control characters"#
    );
}

#[test]
fn lsm_and_scheduling_fields_are_planned() {
    let p = ok(json!({"process": {"apparmorProfile": "youki-test", "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 3},
        "execCPUAffinity": {"initial": "0"}}, "linux": {"personality": {"domain": "LINUX32"}}}));
    assert_eq!(p.process.extra.labels.apparmor.as_deref(), Some("youki-test"));
    assert_eq!(p.process.extra.personality, Some(process_extra::PER_LINUX32));
    assert!(p.process.extra.io_priority.is_some());
    assert_eq!(p.process.extra.affinity, Default::default(), "execCPUAffinity is not for the container's init");
    assert_eq!(
        err(json!({"process": {"selinuxLabel": "system_u:system_r:container_t:s0"}})),
        "process.selinuxLabel is set, but SELinux is not enabled on this host"
    );
    assert_eq!(
        err(json!({"process": {"scheduler": {"policy": "SCHED_RR"}}})),
        "invalid process.scheduler: priority 0 must be 1 to 99 for policy SCHED_RR"
    );
}

#[test]
fn net_devices_are_planned_against_the_host() {
    let p = ok(json!({"linux": {"netDevices": {"veth-test0": {"name": "eth1"}}}}));
    assert_eq!(p.net_devices, vec![crate::net::net_devices::NetDevice { host_name: "veth-test0".into(), name: "eth1".into() }]);
    assert_eq!(
        err(json!({"linux": {"netDevices": {"veth-gone": {}}}})),
        r#"invalid linux.netDevices "veth-gone": no such network device on the host"#
    );
}

#[test]
fn intel_rdt_is_refused_clearly() {
    assert_eq!(
        err(json!({"linux": {"intelRdt": {"closID": "x"}}})),
        "linux.intelRdt needs resctrl, which is not mounted at /sys/fs/resctrl"
    );
    let mut h = host();
    h.resctrl = true;
    assert!(plan(&spec(json!({"linux": {"intelRdt": {"closID": "x"}}})), Path::new("/bundle"), &h).unwrap().intel_rdt);
    assert!(!ok(json!({})).intel_rdt);
    // The object is checked before the host: the same error with or without resctrl.
    for h in [host(), h] {
        let e = plan(&spec(json!({"linux": {"intelRdt": {"closID": "../x"}}})), Path::new("/bundle"), &h).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid linux.intelRdt.closID "../x": must be a single path component (or "/" for the default group)"#
        );
        let e = plan(&spec(json!({"linux": {"intelRdt": {"memBwSchema": "MB:0=20\nL3:0=f"}}})), Path::new("/bundle"), &h).unwrap_err();
        assert_eq!(e.to_string(), r#"invalid linux.intelRdt.memBwSchema "MB:0=20\nL3:0=f": must not contain a newline"#);
    }
}

#[test]
fn idmapped_mounts_are_planned_and_their_errors_name_the_mount() {
    let userns = json!({"linux": {
        "namespaces": [{"type": "mount"}, {"type": "user"}],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}});
    let mut with_mount = userns.clone();
    with_mount["mounts"] = json!([{"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "ridmap"]}]);
    let p = ok(with_mount);
    let m = p.mounts.iter().find(|m| m.destination == Path::new("/data")).unwrap();
    assert_eq!(m.idmap, Some(crate::plan::idmap::Idmap { recursive: true, userns: crate::plan::idmap::Userns::Container }));
    assert!(m.options.data.is_empty(), "idmap must not reach mount(2)");
    // The mount's own mappings, read beside the typed spec, win.
    let maps = crate::plan::idmap::MountMappings {
        uid: Some(vec![IdMap { container: 0, host: 1, size: 1 }]),
        gid: Some(vec![IdMap { container: 0, host: 2, size: 1 }]),
    };
    let mut with_mount = userns.clone();
    with_mount["mounts"] = json!([{"destination": "/data", "type": "bind", "source": "/srv", "options": ["bind"]}]);
    let p = plan_with_mount_mappings(&spec(with_mount), &[maps], Path::new("/bundle"), &host()).unwrap();
    let own = IdMaps { uid: vec![IdMap { container: 0, host: 1, size: 1 }], gid: vec![IdMap { container: 0, host: 2, size: 1 }] };
    assert_eq!(p.mounts[0].idmap, Some(crate::plan::idmap::Idmap { recursive: false, userns: crate::plan::idmap::Userns::Own(own) }));
    assert_eq!(
        err(json!({"mounts": [{"destination": "/data", "type": "bind", "source": "/srv", "options": ["bind", "idmap"]}]})),
        r#"invalid mount "/data": idmap without uidMappings and gidMappings needs a user namespace in the container"#
    );
    let mut tmpfs = userns;
    tmpfs["mounts"] = json!([{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}]);
    assert_eq!(err(tmpfs), r#"invalid mount "/t": only bind mounts can be idmapped"#);
}

#[test]
fn binds_of_a_container_in_a_user_namespace_come_from_the_parent() {
    let mounts = json!([
        {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind"]},
        {"destination": "/t", "type": "tmpfs", "source": "tmpfs"}]);
    let from_parent = |linux: Value, host: &HostFacts| -> Vec<bool> {
        let p = plan(&spec(json!({"mounts": mounts.clone(), "linux": linux})), Path::new("/bundle"), host).unwrap();
        p.mounts.iter().filter(|m| m.destination == Path::new("/data") || m.destination == Path::new("/t")).map(|m| m.from_parent).collect()
    };
    let root = host();
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let new_userns = json!({"namespaces": [{"type": "mount"}, {"type": "user"}], "uidMappings": map.clone(), "gidMappings": map});
    let joined = json!({"namespaces": [{"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}]});
    // The bind, never the tmpfs: a filesystem is made by init in its own namespaces.
    assert_eq!(from_parent(new_userns.clone(), &root), [true, false]);
    assert_eq!(from_parent(joined.clone(), &root), [true, false]);
    // No user namespace: init is host root and binds itself.
    assert_eq!(from_parent(json!({"namespaces": [{"type": "mount"}]}), &root), [false, false]);
    // Rootless: the parent has no more rights than init.
    let rootless = HostFacts { real_root: false, ..HostFacts::for_tests() };
    assert_eq!(from_parent(new_userns, &rootless), [false, false]);
    assert_eq!(from_parent(joined, &rootless), [false, false]);
}

#[test]
fn device_rules_are_appended_once_after_the_specs() {
    let p = ok(json!({"linux": {
        "resources": {"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]},
        "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]}}));
    let rules = p.resources.as_ref().unwrap().devices().clone().unwrap();
    let lines: Vec<String> = rules.iter().map(|r| format!("{} {}", r.allow(), libcgroups::device_rule_line(r).unwrap().unwrap())).collect();
    assert_eq!(
        lines,
        [
            // The spec's rules as they are, a repeat of a default included.
            "false a",
            "true c 1:3 rwm",
            // The defaults (the default nodes' rules among them), then the spec's node.
            "true c 1:3 rwm",
            "true c 1:5 rwm",
            "true c 1:7 rwm",
            "true c 1:8 rwm",
            "true c 1:9 rwm",
            "true c 5:0 rwm",
            "true c 5:2 rwm",
            "true c 136:* rwm",
            "true c 10:229 rwm",
        ]
    );
}
