//! The privilege split of the chart (`installer.splitInit`): `run --once` is the privileged
//! init container's one-shot part (install, the feature labels, no ready label, exit), and
//! `run --no-features` the long-running container's, which keeps its hands off the feature
//! labels. The long-running part is run here with no capability at all (setpriv, as uid 0):
//! it labels the node ready and repairs a rewritten config, so file writes on a root-owned
//! host need no capability, and neither does the signal restart of a same-uid process. A
//! control shows that the setpriv really drops them.

#[allow(dead_code)]
mod support;

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::apiserver::FakeApiServer;

/// `setpriv` that leaves uid 0 with no capability in any set, so nothing is regained on exec.
const NO_CAPS: [&str; 5] = ["--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"];

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Node {
    dir: tempfile::TempDir,
    api: FakeApiServer,
    original: String,
}

impl Node {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["host/etc/containerd", "host/opt", "host/run", "src"] {
            fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let original =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containerd-v2.toml")).expect("fixture");
        fs::write(dir.path().join("host/etc/containerd/config.toml"), &original).expect("config");
        let youki = dir.path().join("src/youki");
        fs::write(&youki, "#!/bin/sh\n").expect("youki");
        fs::set_permissions(&youki, fs::Permissions::from_mode(0o755)).expect("chmod");
        Node { dir, api: FakeApiServer::start(&["node-a"]), original }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn config(&self) -> String {
        fs::read_to_string(self.path("host/etc/containerd/config.toml")).unwrap_or_default()
    }

    /// The installer with the node's flags; `wrap` (setpriv and its flags) runs it.
    fn command(&self, wrap: &[&str], args: &[&str]) -> Command {
        let installer = env!("CARGO_BIN_EXE_youki-installer");
        let mut c = match wrap.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(installer);
                c
            }
            None => Command::new(installer),
        };
        c.env("KUBECONFIG", self.api.kubeconfig(self.dir.path()))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("NODE_NAME", "node-a")
            .arg("--host-root")
            .arg(self.path("host"))
            .arg("--source-dir")
            .arg(self.path("src"))
            .args(["--restart", "none"])
            .args(args);
        c
    }

    fn feature_patches(&self) -> Vec<String> {
        self.api.log().into_iter().filter(|l| l.starts_with("PATCH") && l.contains("youki.dev/feature.")).collect()
    }
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run_to_end(mut c: Command) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped()).output().expect("run the installer")
}

/// Whether this test can drop capabilities: root and setpriv.
fn can_drop_caps() -> bool {
    if !nix::unistd::geteuid().is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and setpriv");
        return false;
    }
    true
}

#[test]
fn run_once_installs_and_labels_the_features_then_exits_without_the_ready_label() {
    let node = Node::new();
    let out = run_to_end(node.command(&[], &["run", "--once"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(node.config().contains(r#"BinaryName = "/opt/youki/bin/youki""#), "{}", node.config());
    assert!(node.path("host/opt/youki/bin/youki").is_file());
    assert_eq!(node.feature_patches().len(), 1, "{:#?}", node.api.log());
    assert_eq!(node.api.label("node-a", "youki.dev/runtime"), None, "the ready label is the long-running installer's");
}

#[test]
fn run_without_features_labels_ready_and_leaves_the_feature_labels_alone() {
    let node = Node::new();
    let mut c = node.command(&[], &["run", "--no-features", "--poll", "1", "--listen", "127.0.0.1:18821"]);
    let _run = Running(c.stdout(Stdio::null()).spawn().expect("start run"));
    wait_until("the ready label", 20, || node.api.label("node-a", "youki.dev/runtime").as_deref() == Some("ready"));
    assert!(node.feature_patches().is_empty(), "{:#?}", node.api.log());
}

#[test]
fn the_long_running_part_repairs_drift_with_no_capability() {
    if !can_drop_caps() {
        return;
    }
    let node = Node::new();
    let mut wrap = vec!["setpriv"];
    wrap.extend(NO_CAPS);
    let mut c = node.command(&wrap, &["run", "--no-features", "--poll", "1", "--listen", "127.0.0.1:18822"]);
    let _run = Running(c.stdout(Stdio::null()).spawn().expect("start run without capabilities"));
    wait_until("the ready label", 20, || node.api.label("node-a", "youki.dev/runtime").as_deref() == Some("ready"));
    assert!(node.config().contains("runtimes.youki]"), "{}", node.config());
    // A node upgrade rewrites the config: the unprivileged installer puts the handler back.
    fs::write(node.path("host/etc/containerd/config.toml"), &node.original).expect("rewrite");
    wait_until("the repair", 20, || node.config().contains("runtimes.youki]"));
    wait_until("the repair event", 20, || node.api.events().iter().any(|e| e["reason"] == "YoukiRepaired"));
}

#[test]
fn without_capabilities_a_file_root_does_not_own_is_out_of_reach() {
    // The control: the same setpriv really takes CAP_DAC_OVERRIDE away, so the test above
    // would fail if the installer needed it.
    if !can_drop_caps() {
        return;
    }
    let node = Node::new();
    let config = node.path("host/etc/containerd/config.toml");
    chown(&config, Some(1000), Some(1000)).expect("chown");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut wrap = vec!["setpriv"];
    wrap.extend(NO_CAPS);
    let out = run_to_end(node.command(&wrap, &["install"]));
    assert!(!out.status.success(), "read a 0600 file of uid 1000 without CAP_DAC_OVERRIDE");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Permission denied"), "{err}");
    // With its capabilities, root reads it (and installs).
    let out = run_to_end(node.command(&[], &["install"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_signal_restart_needs_no_capability_either() {
    // The reduced container with `restart: signal`: uid 0 without capabilities stops the
    // process serving the socket (root, with every capability, as the host's containerd),
    // found through SO_PEERCRED/SO_PEERPIDFD and signalled through a pidfd.
    if !can_drop_caps() || Command::new("python3").arg("-c").arg("pass").status().is_err() {
        eprintln!("skipped: needs root, setpriv and python3");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("host");
    for d in ["etc/containerd", "opt", "run/containerd", "src"] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    fs::write(root.join("etc/containerd/config.toml"), "version = 2\n").expect("config");
    fs::write(root.join("src/youki"), "#!/bin/sh\n").expect("youki");
    let socket = root.join("run/containerd/containerd.sock");
    let mut server = Command::new("python3")
        .arg("-c")
        .arg("import socket,sys,time\ns=socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.listen(8)\ntime.sleep(60)\n")
        .arg(&socket)
        .spawn()
        .expect("fake server");
    wait_until("the fake server's socket", 10, || socket.exists());
    let mut c = Command::new("setpriv");
    c.args(NO_CAPS)
        .arg(env!("CARGO_BIN_EXE_youki-installer"))
        .arg("--host-root")
        .arg(&root)
        .arg("--source-dir")
        .arg(root.join("src"))
        .args(["--containerd-config", "/etc/containerd/config.toml"])
        .args(["--restart", "signal", "--timeout", "3", "--proc-dir", "/nonexistent", "install"]);
    let out = run_to_end(c);
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let status = server.try_wait().expect("try_wait");
    let _ = server.kill();
    let _ = server.wait();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGTERM), "the server was not stopped by SIGTERM:\n{log}");
    // No supervisor starts it again here, so the wait for the socket fails after that.
    assert!(log.contains("did not answer") || log.contains("restarted containerd (Signal)"), "{log}");
}
