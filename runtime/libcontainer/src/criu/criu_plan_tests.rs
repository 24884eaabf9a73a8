//! Unit tests of `criu_plan`: which mounts and namespaces are external, the refused flags,
//! and the exact criu arguments of a dump, a pre-dump and a restore.

use super::*;
use crate::plan::host::HostFacts;
use oci_spec::runtime::Spec;
use serde_json::json;

fn plan_of(patch: serde_json::Value) -> Plan {
    let mut base = crate::plan::spec_default::default_spec();
    base["process"]["terminal"] = json!(false);
    base.as_object_mut().unwrap().remove("hostname");
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            b.insert(k.clone(), v.clone());
        }
    }
    let spec: Spec = serde_json::from_value(base).unwrap();
    let host = HostFacts::for_tests();
    crate::plan::plan(&spec, Path::new("/bundle"), &host).unwrap()
}

fn keys(m: &[ExternalMount]) -> Vec<String> {
    m.iter().map(|m| format!("{}={}", m.key.display(), m.host.display())).collect()
}

fn v2_view() -> Vec<CgroupView> {
    vec![CgroupView { name: String::new(), aliases: vec![], host_dir: "/sys/fs/cgroup/conformance/c1".into() }]
}

fn opts(images: &str) -> DumpOptions {
    DumpOptions { criu: CriuOptions { image_path: images.into(), ..Default::default() }, ..Default::default() }
}

fn live(mounts: Vec<ExternalMount>) -> Live<'static> {
    Live { pid: 42, rootfs: Path::new("/bundle/rootfs"), terminal: false, mounts, namespaces: vec![] }
}

#[test]
fn bind_mounts_cgroup_views_and_masked_files_are_external() {
    let mut mounts = crate::plan::spec_default::default_spec()["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind"]}));
    let p = plan_of(json!({ "mounts": mounts }));
    let m = external_mounts(&p, &v2_view(), &["/proc/kcore".into()], false);
    assert_eq!(keys(&m), vec!["/sys/fs/cgroup=/sys/fs/cgroup/conformance/c1", "/data=/srv/data", "/proc/kcore=/dev/null"]);
    // No device binds without a user namespace: the nodes are made inside with mknod.
    let in_userns = external_mounts(&p, &[], &[], true);
    assert!(keys(&in_userns).contains(&"/dev/null=/dev/null".to_string()), "{in_userns:?}");
}

#[test]
fn cgroup_v1_views_are_one_mount_each() {
    let p = plan_of(json!({}));
    let views = vec![
        CgroupView { name: "memory".into(), aliases: vec![], host_dir: "/sys/fs/cgroup/memory/x".into() },
        CgroupView { name: "cpu,cpuacct".into(), aliases: vec![], host_dir: "/sys/fs/cgroup/cpu,cpuacct/x".into() },
    ];
    let m = external_mounts(&p, &views, &[], false);
    assert_eq!(keys(&m), vec!["/sys/fs/cgroup/memory=/sys/fs/cgroup/memory/x", "/sys/fs/cgroup/cpu,cpuacct=/sys/fs/cgroup/cpu,cpuacct/x"]);
}

#[test]
fn joined_net_is_external_and_joined_ipc_is_refused() {
    let ns = |extra: serde_json::Value| {
        let mut list = vec![json!({"type": "pid"}), json!({"type": "mount"})];
        list.push(extra);
        plan_of(json!({"linux": {"namespaces": list}}))
    };
    let p = ns(json!({"type": "network", "path": "/var/run/netns/a"}));
    assert_eq!(external_namespace_kinds(&p).unwrap(), vec![(NsKind::Net, PathBuf::from("/var/run/netns/a"))]);
    let p = ns(json!({"type": "ipc", "path": "/proc/1/ns/ipc"}));
    assert_eq!(
        external_namespace_kinds(&p).unwrap_err().to_string(),
        "checkpoint of a container that joins an existing ipc namespace is not supported"
    );
}

#[test]
fn only_pipes_and_sockets_of_stdio_are_inherited() {
    let got = inherited_stdio(&[(0, "/dev/null".into()), (1, "pipe:[77]".into()), (2, "socket:[78]".into()), (3, "pipe:[79]".into())]);
    assert_eq!(got, vec![InheritedStdio { fd: 1, target: "pipe:[77]".into() }, InheritedStdio { fd: 2, target: "socket:[78]".into() }]);
}

#[test]
fn unsupported_flags_are_named() {
    let mut o = opts("/img");
    o.criu.lazy_pages = true;
    assert_eq!(
        dump_plan(&o, live(vec![])).unwrap_err().to_string(),
        "--lazy-pages is not supported by youki (lazy migration and page servers are not implemented)"
    );
    let mut o = opts("/img");
    o.page_server = Some("10.0.0.1:27".into());
    assert_eq!(dump_plan(&o, live(vec![])).unwrap_err(), PlanError::Unsupported { flag: "--page-server" });
    let mut o = opts("/img");
    o.status_fd = Some(5);
    assert_eq!(dump_plan(&o, live(vec![])).unwrap_err(), PlanError::Unsupported { flag: "--status-fd" });
    let mut o = opts("/img");
    o.criu.empty_ns = vec!["ipc".into()];
    assert_eq!(dump_plan(&o, live(vec![])).unwrap_err().to_string(), "invalid --empty-ns \"ipc\": only \"network\" can be created empty");
    let mut l = live(vec![]);
    l.terminal = true;
    assert_eq!(dump_plan(&opts("/img"), l).unwrap_err(), PlanError::Terminal);
}

#[test]
fn dump_arguments() {
    let mut o = opts("/img");
    o.criu.work_path = Some("/work".into());
    o.criu.tcp_established = true;
    o.criu.file_locks = true;
    o.criu.cgroup_mode = CgroupMode::Ignore;
    o.leave_running = true;
    let mut l = live(vec![ExternalMount { key: "/data".into(), host: "/srv/data".into() }]);
    l.namespaces = vec![ExternalNs { kind: NsKind::Net, path: "/var/run/netns/a".into(), inode: 4026531840 }];
    let plan = dump_plan(&o, l).unwrap();
    assert_eq!(plan.program, PathBuf::from("criu"));
    let args = plan.args().join(" ");
    assert_eq!(
        args,
        "dump --manage-cgroups=ignore --images-dir /img --work-dir /work --log-file dump.log --root /bundle/rootfs \
         --tree 42 --external mnt[/data]:/data --external net[4026531840]:youki-external-net \
         --tcp-established --file-locks --leave-running -v4"
    );
}

#[test]
fn pre_dump_tracks_memory_and_the_final_dump_names_its_parent() {
    let mut o = opts("/img/pre");
    o.pre_dump = true;
    o.leave_running = true;
    let args = dump_plan(&o, live(vec![])).unwrap().args();
    assert_eq!(args[0], "pre-dump");
    assert!(args.contains(&"--track-mem".to_string()));
    assert!(!args.contains(&"--leave-running".to_string()), "{args:?}");
    assert!(args.contains(&"pre-dump.log".to_string()));

    let mut o = opts("/img/final");
    o.parent_path = Some("../pre".into());
    let args = dump_plan(&o, live(vec![])).unwrap().args().join(" ");
    assert!(args.starts_with("dump "), "{args}");
    assert!(args.contains("--prev-images-dir ../pre") && args.contains("--track-mem"), "{args}");
}

#[test]
fn restore_arguments() {
    let o = CriuOptions {
        program: "/opt/criu".into(),
        image_path: "/img".into(),
        shell_job: true,
        empty_ns: vec!["network".into()],
        ..Default::default()
    };
    let p = Prepared {
        root: "/run/youki/c1/criu-root".into(),
        pidfile: "/img/restore.pid".into(),
        mounts: vec![ExternalMount { key: "/sys/fs/cgroup".into(), host: "/sys/fs/cgroup/conformance/c1".into() }],
        namespaces: vec![ExternalNs { kind: NsKind::Net, path: "/var/run/netns/a".into(), inode: 0 }],
        namespace_fds: vec![7],
        stdio: vec![InheritedStdio { fd: 1, target: "pipe:[77]".into() }],
        cgroup_views: v2_view(),
        cgroup_path: Some("/conformance/c1".into()),
    };
    let plan = restore_plan(&o, p).unwrap();
    assert_eq!(plan.program, PathBuf::from("/opt/criu"));
    let args = plan.args().join(" ");
    assert_eq!(
        args,
        "restore --manage-cgroups=soft --images-dir /img --work-dir /img --log-file restore.log --root /run/youki/c1/criu-root \
         --pidfile /img/restore.pid \
         --external mnt[/sys/fs/cgroup]:/sys/fs/cgroup/conformance/c1 --inherit-fd fd[7]:youki-external-net \
         --inherit-fd fd[1]:pipe:[77] --cgroup-root /conformance/c1 --shell-job --empty-ns net --restore-detached -v4"
    );
}

#[test]
fn restore_on_cgroup_v1_names_each_controller() {
    let o = CriuOptions { image_path: "/img".into(), ..Default::default() };
    let views = vec![
        CgroupView { name: "memory".into(), aliases: vec![], host_dir: "/m".into() },
        CgroupView { name: "pids".into(), aliases: vec![], host_dir: "/p".into() },
    ];
    let p = Prepared {
        root: "/r".into(),
        pidfile: "/p".into(),
        mounts: vec![],
        namespaces: vec![],
        namespace_fds: vec![],
        stdio: vec![],
        cgroup_views: views,
        cgroup_path: Some("/x".into()),
    };
    assert_eq!(restore_plan(&o, p).unwrap().cgroup_roots, vec!["memory:/x", "pids:/x"]);
}
