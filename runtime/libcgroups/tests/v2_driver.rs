//! The cgroup v2 driver on the real kernel. On a pure v2 host it uses the host's hierarchy;
//! on this hybrid host it uses the cgroup2 mount beside the v1 ones (which has no
//! controllers but has everything else: directories, cgroup.procs, cgroup.freeze,
//! cgroup.kill and device programs). The device tests check the BPF program against the v1
//! devices controller, rule list by rule list, where v1 exists, and always against the
//! pure model (`DeviceAccess::allows`).

use std::{
    fs,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
};

use libcgroups::{
    detect, manager, CgroupManager, DeviceAccess, DeviceKind, DeviceRequest, FreezerState, Hierarchy, HostCgroups, Layout, V2Manager,
};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

const BUSYBOX: &str = "/bin/busybox";

fn v2_host() -> Option<HostCgroups> {
    if !nix::unistd::geteuid().is_root() || !Path::new(BUSYBOX).exists() {
        eprintln!("skipped: needs root and {BUSYBOX}");
        return None;
    }
    let host = detect().ok()?;
    match host.layout {
        Layout::V2 => Some(host),
        _ => {
            let unified = host.unified()?;
            Some(HostCgroups { layout: Layout::V2, hierarchies: vec![Hierarchy { unified: true, ..unified.clone() }] })
        }
    }
}

fn v2_manager(host: &HostCgroups, name: &str) -> Box<dyn CgroupManager> {
    let path = format!("/youki-v2-test-{}/{name}", std::process::id());
    manager(host, Some(Path::new(&path)), name, false).unwrap()
}

/// A busybox shell that waits for one line on stdin before running `script`.
struct Waiting {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Waiting {
    fn spawn(script: &str) -> Self {
        let mut child = Command::new(BUSYBOX)
            .args(["sh", "-c", &format!("read go; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Waiting { child, stdin, stdout }
    }
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    fn go(&mut self) {
        writeln!(self.stdin, "go").unwrap();
    }
    fn lines(mut self) -> Vec<String> {
        self.go();
        let out: Vec<String> = (&mut self.stdout).lines().map(|l| l.unwrap()).collect();
        self.child.wait().unwrap();
        out
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn remove_test_root(host: &HostCgroups) {
    let root = host.hierarchies[0].mountpoint.join(format!("youki-v2-test-{}", std::process::id()));
    let _ = fs::remove_dir(root);
}

#[test]
fn prepare_place_freeze_kill_remove() {
    let Some(host) = v2_host() else { return };
    let cg = v2_manager(&host, "life");
    let dir = cg.state().dirs[0].dir.clone();
    assert!(cg.prepare().unwrap().is_some(), "a v2 driver hands back its directory");
    assert!(dir.is_dir());
    let mut sleeper = Waiting::spawn("sleep 30");
    cg.add_task(sleeper.pid()).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![sleeper.pid()]);
    cg.freeze(FreezerState::Frozen).unwrap();
    assert!(fs::read_to_string(dir.join("cgroup.events")).unwrap().contains("frozen 1"));
    cg.freeze(FreezerState::Thawed).unwrap();
    assert!(fs::read_to_string(dir.join("cgroup.events")).unwrap().contains("frozen 0"));
    sleeper.go();
    assert!(cg.kill_all().unwrap(), "cgroup.kill exists on this kernel");
    let status = sleeper.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    cg.remove().unwrap();
    assert!(!dir.exists());
    remove_test_root(&host);
}

#[test]
fn state_round_trip_rebuilds_the_driver() {
    let Some(host) = v2_host() else { return };
    let cg = v2_manager(&host, "state");
    let back = V2Manager::from_state(&cg.state()).unwrap();
    assert_eq!(back.state(), cg.state());
    let mut bad = cg.state();
    bad.dirs[0].dir = PathBuf::from("/etc");
    assert!(V2Manager::from_state(&bad).is_err());
}

/// Device nodes the probes use, made in a temp dir: (name, kind, major, minor).
const NODES: &[(&str, char, u32, u32)] =
    &[("null", 'c', 1, 3), ("zero", 'c', 1, 5), ("full", 'c', 1, 7), ("urandom", 'c', 1, 9), ("loop0", 'b', 7, 0)];

/// One line per node and access: "name r y|n", "name w y|n", "name m y|n".
fn probe_script(dir: &Path) -> String {
    let d = dir.display();
    let mut s = String::new();
    for (name, kind, major, minor) in NODES {
        s.push_str(&format!(
            "( exec 3<{d}/{name} ) 2>&- && echo '{name} r y' || echo '{name} r n'; \
             ( exec 3>{d}/{name} ) 2>&- && echo '{name} w y' || echo '{name} w n'; \
             mknod {d}/m-{name} {kind} {major} {minor} 2>&- && echo '{name} m y' || echo '{name} m n'; \
             rm -f {d}/m-{name}; "
        ));
    }
    s
}

fn expected(access: &DeviceAccess) -> Vec<String> {
    let mut out = Vec::new();
    for (name, kind, major, minor) in NODES {
        let kind = if *kind == 'b' { DeviceKind::Block } else { DeviceKind::Char };
        for (letter, bits) in [("r", 2u8), ("w", 4), ("m", 1)] {
            let ok = access.allows(DeviceRequest { kind, major: *major, minor: *minor, access: bits });
            out.push(format!("{name} {letter} {}", if ok { "y" } else { "n" }));
        }
    }
    out
}

fn run_probes(cg: &dyn CgroupManager, rules: &[LinuxDeviceCgroup], nodes: &Path) -> Vec<String> {
    let probes = Waiting::spawn(&probe_script(nodes));
    cg.apply(probes.pid()).unwrap();
    let mut r = LinuxResources::default();
    r.set_devices(Some(rules.to_vec()));
    cg.set_resources(&r).unwrap();
    probes.lines()
}

#[test]
fn device_program_matches_v1_rule_list_by_rule_list() {
    let Some(host) = v2_host() else { return };
    let real = detect().unwrap();
    let nodes = tempfile::tempdir().unwrap();
    for (name, kind, major, minor) in NODES {
        let k = if *kind == 'b' { nix::sys::stat::SFlag::S_IFBLK } else { nix::sys::stat::SFlag::S_IFCHR };
        nix::sys::stat::mknod(
            &nodes.path().join(name),
            k,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(*major as u64, *minor as u64),
        )
        .unwrap();
    }
    let lists = [
        r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":9,"access":"r"}]"#,
        r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":1,"access":"w"},{"allow":false,"type":"b","access":"m"}]"#,
        r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","access":"rwm"},{"allow":false,"type":"c","major":1,"minor":5,"access":"rw"}]"#,
        r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":7,"access":"r"},{"allow":true,"type":"c","major":1,"minor":7,"access":"w"}]"#,
        r#"[{"allow":false,"type":"c","major":1,"access":"w"},{"allow":true,"type":"c","major":1,"minor":3,"access":"w"}]"#,
    ];
    for (i, json) in lists.iter().enumerate() {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
        let model = expected(&DeviceAccess::from_rules(&rules).unwrap());
        let v2 = v2_manager(&host, &format!("dev{i}"));
        let got_v2 = run_probes(v2.as_ref(), &rules, nodes.path());
        v2.remove().unwrap();
        assert_eq!(got_v2, model, "BPF program vs model for {json}");
        if real.layout != Layout::V2 {
            let path = format!("/youki-v1-devtest-{}-{i}", std::process::id());
            let v1 = manager(&real, Some(Path::new(&path)), "dev", false).unwrap();
            let got_v1 = run_probes(v1.as_ref(), &rules, nodes.path());
            v1.remove().unwrap();
            assert_eq!(got_v1, got_v2, "v1 devices controller vs BPF program for {json}");
        }
    }
    remove_test_root(&host);
}

#[test]
fn an_update_replaces_the_device_program() {
    let Some(host) = v2_host() else { return };
    let cg = v2_manager(&host, "replace");
    cg.prepare().unwrap();
    let dir = fs::File::open(&cg.state().dirs[0].dir).unwrap();
    let deny: Vec<LinuxDeviceCgroup> = serde_json::from_str(r#"[{"allow":false,"access":"rwm"}]"#).unwrap();
    for _ in 0..3 {
        let mut r = LinuxResources::default();
        r.set_devices(Some(deny.clone()));
        cg.set_resources(&r).unwrap();
        use std::os::fd::AsFd;
        let ids = libcgroups::v2::bpf::attached(dir.as_fd(), Path::new("test")).unwrap();
        assert_eq!(ids.len(), 1, "exactly one program after each update");
    }
    drop(dir);
    cg.remove().unwrap();
    remove_test_root(&host);
}
